import Foundation
import Testing

@testable import RukoArchive

private let environment = ProcessInfo.processInfo.environment

/// Peak memory of a real pack, measured on a child process (this test bundle re-run with a filter
/// that selects only `packChild`), so the figure is the packer's and not the test runner's.
///
/// The child reports its own VmHWM from /proc/self/status. (`wait4`'s `ru_maxrss` is no good
/// here: posix_spawn's child shares the parent's address space until exec, and Linux folds that
/// address space's high-water mark — the whole test runner's — into the child's maxrss.)
@Suite struct MemoryTests {
    /// The child side: packs $RUKO_PACK_CHILD_SOURCE into $RUKO_PACK_CHILD_OUTPUT.
    @Test(.enabled(if: environment["RUKO_PACK_CHILD_SOURCE"] != nil, "runs only as the memory test's child"))
    func packChild() throws {
        let source = try #require(environment["RUKO_PACK_CHILD_SOURCE"])
        let output = try #require(environment["RUKO_PACK_CHILD_OUTPUT"])
        let before = try #require(statusKiB("VmRSS"))
        let result = try SlugPacker.pack(directory: source, to: output, options: PackOptions())
        let peak = try #require(statusKiB("VmHWM"))
        print("packed \(result.bytes) bytes, \(result.entries) entries; RSS \(before) KiB before, peak \(peak) KiB")
        if let report = environment["RUKO_PACK_CHILD_REPORT"] {
            try "\(before) \(peak)\n".write(toFile: report, atomically: true, encoding: .utf8)
        }
    }

    /// A 1 GB tree: a generated 100 MB tree and ten hard-linked copies of it (hard links are
    /// packed as regular files, so 1 GB is read and compressed without writing 1 GB to disk).
    func makeGigabyteTree(in scratch: Scratch) throws -> String {
        let base = scratch.sub("base")
        let generated = try run(["python3", repositoryRoot + "/bench/gen-tree.py", base, "--mb", "100", "--seed", "3"])
        #expect(generated.status == 0, "\(generated.output)")
        let tree = scratch.sub("tree")
        try mkdirs(tree)
        for copy in 0..<10 {
            #expect(try run(["cp", "-al", base, tree + "/copy\(copy)"]).status == 0)
        }
        return tree
    }

    /// The shipped command: `ruko-build pack` on a 1 GB tree, peak RSS from the kernel's
    /// accounting of a grandchild (python's own, small, address space is the only other one folded
    /// into the maximum).
    @Test(
        .enabled(if: environment["RUKO_SLOW_TESTS"] == "1", "slow (1 GB tree): set RUKO_SLOW_TESTS=1"),
        .enabled(if: FileManager.default.isExecutableFile(atPath: binDirectory + "/ruko-build"), "ruko-build not built")
    )
    func rukoBuildPackOfAGigabyteStaysUnder64MB() throws {
        let scratch = try Scratch()
        let tree = try makeGigabyteTree(in: scratch)
        let output = scratch.sub("big.tgz")
        let measured = try run([
            "python3", "-c",
            """
            import resource, subprocess, sys
            status = subprocess.run(sys.argv[1:]).returncode
            print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            """,
            binDirectory + "/ruko-build", "pack", "--quiet", tree, "-o", output, "--max-slug-size", "2G",
        ])
        let fields = measured.output.split(whereSeparator: \.isWhitespace)
        #expect(fields.count >= 2 && fields[fields.count - 2] == "0", "\(measured.output)")
        let peakMiB = Double(fields.last.flatMap { Int($0) } ?? Int.max) / 1024
        print("ruko-build pack of a 1 GB tree: peak RSS \(peakMiB) MiB")
        #expect(peakMiB <= 64, "peak RSS \(peakMiB) MiB")
        #expect(try run(["gzip", "-t", output]).status == 0)
    }

    @Test(.enabled(if: environment["RUKO_SLOW_TESTS"] == "1", "slow (1 GB tree): set RUKO_SLOW_TESTS=1"))
    func packingAGigabyteStaysUnder64MB() throws {
        let scratch = try Scratch()
        let tree = try makeGigabyteTree(in: scratch)
        let output = scratch.sub("big.tgz")
        let arguments = [
            "/proc/self/exe", "--testing-library", "swift-testing", "--filter", "MemoryTests/packChild",
        ]
        var childEnvironment = environment
        childEnvironment["RUKO_PACK_CHILD_SOURCE"] = tree
        childEnvironment["RUKO_PACK_CHILD_OUTPUT"] = output
        childEnvironment["RUKO_PACK_CHILD_REPORT"] = scratch.sub("report")
        childEnvironment["RUKO_SLOW_TESTS"] = nil
        let status = try spawnAndWait(arguments, environment: childEnvironment)
        #expect(status == 0)
        let report = try String(contentsOfFile: scratch.sub("report"), encoding: .utf8)
        let figures = report.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
        try #require(figures.count == 2)
        let (beforeMiB, peakMiB) = (figures[0] / 1024, figures[1] / 1024)
        print("pack of a 1 GB tree: peak RSS \(peakMiB) MiB (\(beforeMiB) MiB before packing: the test bundle itself)")
        #expect(peakMiB <= 64, "peak RSS \(peakMiB) MiB")
        // The packer's own share is bounded too (buffers, threads), whatever the tree size.
        #expect(peakMiB - beforeMiB <= 32, "the pack added \(peakMiB - beforeMiB) MiB")
        var info = stat()
        #expect(stat(output, &info) == 0)
        #expect(info.st_size > 100_000_000)
        #expect(try run(["gzip", "-t", output]).status == 0)
    }
}

/// Where the built executables are: `RUKO_BIN_DIR`, else next to the test bundle.
let binDirectory: String = {
    if let directory = environment["RUKO_BIN_DIR"], !directory.isEmpty { return directory }
    let bundle =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: bundle).deletingLastPathComponent().path
}()

/// A "Name:   123 kB" line of /proc/self/status, in KiB.
func statusKiB(_ field: String) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
    }
    return nil
}

/// posix_spawn + waitpid; returns the exit status.
func spawnAndWait(_ arguments: [String], environment: [String: String]) throws -> Int32 {
    let argv = arguments.map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, arguments[0], nil, nil, argv, envp)
    #expect(spawned == 0)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}
