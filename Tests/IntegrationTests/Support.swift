import Foundation
import RukoMountTable
import RukoSystem
import Testing

/// Whether the tests run as root (integration tests need it; CI runs as root).
let isRoot = geteuid() == 0

/// Where the built executables are: `RUKO_BIN_DIR`, else next to the test bundle.
let binDir: String = {
    if let dir = ProcessInfo.processInfo.environment["RUKO_BIN_DIR"], !dir.isEmpty { return dir }
    var url = Bundle.main.bundleURL
    for _ in 0..<4 {
        if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("ruko-run").path) { return url.path }
        url.deleteLastPathComponent()
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug").path
}()

/// The repository root (for templates, buildpacks, examples).
let repoRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The result of running a process.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `executable` with `arguments`, feeding `input`, and waits (bounded by `timeout`).
@discardableResult
func runProcess(
    _ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil,
    timeout: TimeInterval = 120
) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    let inp = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input == nil ? FileHandle.nullDevice : inp
    try process.run()
    if let input {
        inp.fileHandleForWriting.write(Data(input.utf8))
        try inp.fileHandleForWriting.close()
    }
    final class Box: @unchecked Sendable { var out = Data(); var err = Data() }
    let box = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        box.out = out.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    group.enter()
    DispatchQueue.global().async {
        box.err = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        process.terminate()
        throw TestFailure("\(executable) \(arguments) did not finish in \(timeout) s")
    }
    process.waitUntilExit()
    let status =
        process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    return ProcessResult(
        status: status, stdout: String(decoding: box.out, as: UTF8.self),
        stderr: String(decoding: box.err, as: UTF8.self))
}

/// Runs `ruko-run ARGS`.
@discardableResult
func rukoRun(_ arguments: [String], input: String? = nil, timeout: TimeInterval = 60) throws -> ProcessResult {
    try runProcess(binDir + "/ruko-run", arguments, input: input, timeout: timeout)
}

/// Runs a shell script in the default sandbox.
@discardableResult
func sandboxed(_ script: String, options: [String] = []) throws -> ProcessResult {
    try rukoRun(options + ["--", "/bin/sh", "-c", script])
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory(_ prefix: String = "ruko-test") throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The ruko cgroup root on this host.
let cgroupRoot: String = {
    if Syscall.filesystemMagic("/sys/fs/cgroup") == FilesystemMagic.cgroup2 { return "/sys/fs/cgroup/ruko" }
    return "/sys/fs/cgroup/unified/ruko"
}()

/// Leftovers a run could leave: ruko cgroups, mounts, processes, files under the rootfs mount point.
struct Leftovers: Equatable {
    var cgroups: [String]
    /// Every mount of the host's table, as "target fstype".
    var mounts: [String]
    var rootfsEntries: [String]

    /// Mounts present now that were not before: a leak (mounts that went away belong to others).
    func mountsAdded(since before: Leftovers) -> [String] {
        let old = Set(before.mounts)
        return mounts.filter { !old.contains($0) }
    }
}

func currentLeftovers() -> Leftovers {
    let cgroups = ((try? FileManager.default.contentsOfDirectory(atPath: cgroupRoot)) ?? [])
        .filter { name in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: cgroupRoot + "/" + name, isDirectory: &isDir)
                && isDir.boolValue
        }
    let mounts = ((try? MountTable.read()) ?? []).map { "\($0.target) \($0.fstype)" }
    let rootfs = (try? FileManager.default.contentsOfDirectory(atPath: "/run/ruko/rootfs")) ?? []
    return Leftovers(cgroups: cgroups.sorted(), mounts: mounts, rootfsEntries: rootfs)
}

/// pids of processes whose command line contains `marker`.
func processes(matching marker: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter { pid in
        guard pid != getpid(), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else {
            return false
        }
        let cmd = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        return cmd.contains(marker) && !cmd.contains("ruko-run") && !cmd.contains("/bin/sh -c")
    }
}
