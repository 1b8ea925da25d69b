import Foundation
import RukoBuild
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Helpers for the ruko-build integration tests: fixture buildpacks, temporary apps, running the
/// built `ruko-build`, reading slugs back.
enum BuildTestSupport {
    static let isRoot = geteuid() == 0

    /// `Tests/Fixtures/buildpacks`.
    static var fixtureBuildpacks: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/buildpacks").path
    }

    /// The repository's `buildpacks/` and `examples/`.
    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// `$RUKO_BIN_DIR`, else the directory of the running test bundle (`.build/debug`).
    static var binDirectory: String {
        if let explicit = ProcessInfo.processInfo.environment["RUKO_BIN_DIR"], !explicit.isEmpty { return explicit }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // Inside an .xctest bundle directory on some layouts.
        while directory.path != "/", !FileManager.default.fileExists(atPath: directory.path + "/ruko-build") {
            directory = directory.deletingLastPathComponent()
            if directory.lastPathComponent == ".build" { break }
        }
        return directory.path
    }

    /// A temporary directory, removed on deinit.
    final class Scratch {
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "ruko-build-it-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func write(_ relative: String, _ text: String, mode: Int = 0o644) throws {
            let url = URL(fileURLWithPath: path + "/" + relative)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
        }

        func read(_ relative: String) -> String? {
            try? String(contentsOfFile: path + "/" + relative, encoding: .utf8)
        }

        func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + relative) }
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program, capturing stdout and stderr.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs the built `ruko-build`.
    static func rukoBuild(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        try run(binDirectory + "/ruko-build", arguments, environment: environment)
    }

    /// Extracts a slug into `directory` with tar and returns the path of the app inside.
    static func unpack(_ slug: String, into directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let result = try run("/usr/bin/tar", ["-xzf", slug, "-C", directory])
        #expect(result.status == 0, "tar: \(result.stderr)")
        return directory + "/app"
    }

    /// `key=value` lines as a dictionary.
    static func keyValues(_ text: String?) -> [String: String] {
        var result: [String: String] = [:]
        for line in (text ?? "").split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            result[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return result
    }

    /// A build request for `app` with fixture buildpacks, collecting the output lines.
    static func request(app: String, output: String, buildpacks: [String]) -> BuildRequest {
        var request = BuildRequest(appDirectory: app, outputPath: output)
        request.buildpacks = buildpacks.map { $0.hasPrefix("/") ? $0 : fixtureBuildpacks + "/" + $0 }
        request.buildpackCacheDirectory = NSTemporaryDirectory() + "ruko-build-it-bpcache"
        request.allowMissingControllers = true
        request.timeout = .seconds(120)
        return request
    }

    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var storage: [(Date, BuildOutputLine)] = []
        func append(_ line: BuildOutputLine) {
            lock.lock()
            storage.append((Date(), line))
            lock.unlock()
        }
        var all: [(Date, BuildOutputLine)] {
            lock.lock()
            defer { lock.unlock() }
            return storage
        }
        var texts: [String] { all.map(\.1.text) }
    }
}
