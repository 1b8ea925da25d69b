import Foundation
import Testing

@testable import RukoArchive

/// A scratch directory removed when the value goes away.
final class Scratch {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "ruko-archive-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }

    deinit { removeTree(path) }

    func sub(_ name: String) -> String { path + "/" + name }
}

/// Runs a command; returns (status, stdout+stderr).
@discardableResult
func run(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

func write(_ path: String, _ text: String, mode: Int = 0o644) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    chmod(path, mode_t(mode))
}

func mkdirs(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
}

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A tree with the cases a slug must get right.
func makeSampleTree(at root: String) throws {
    try mkdirs(root + "/bin")
    try mkdirs(root + "/lib/deep/er")
    try mkdirs(root + "/empty-dir")
    try mkdirs(root + "/a")
    try write(root + "/Procfile", "web: bin/start\n")
    try write(root + "/bin/start", "#!/bin/sh\necho hi\n", mode: 0o755)
    try write(root + "/private.key", "secret\n", mode: 0o600)
    try write(root + "/empty", "")
    try write(root + "/a.txt", "a dot txt sorts before a/\n")
    try write(root + "/a/inside", "in a\n")
    try write(root + "/lib/deep/er/file.rb", String(repeating: "puts 'hello world'\n", count: 5000))
    try write(root + "/ünïcödé name.txt", "utf-8 name\n")
    let long = String(repeating: "long-directory-name-", count: 6)
    try mkdirs(root + "/" + long)
    try write(root + "/" + long + "/" + String(repeating: "f", count: 120) + ".txt", "long path\n")
    // Random bytes: an incompressible file bigger than one compression chunk.
    var generator = SystemRandomNumberGenerator()
    let random = (0..<(1_500_000)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    try Data(random).write(to: URL(fileURLWithPath: root + "/lib/blob.bin"))
    symlink("bin/start", root + "/start-link")
    symlink("/etc/passwd", root + "/outside-link")  // kept as text, never followed
    symlink("does/not/exist", root + "/dangling")
    link(root + "/Procfile", root + "/Procfile.hardlink")
    chmod(root + "/lib/deep", 0o750)
}

/// Describes a tree: "path type mode [size sha|target]" lines, sorted; for comparing trees.
func describeTree(_ root: String) throws -> [String] {
    var lines: [String] = []
    guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
    while let relative = enumerator.nextObject() as? String {
        let path = root + "/" + relative
        var info = stat()
        lstat(path, &info)
        let mode = String(info.st_mode & 0o7777, radix: 8)
        switch info.st_mode & S_IFMT {
        case S_IFDIR: lines.append("\(relative) dir \(mode)")
        case S_IFLNK:
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
            lines.append("\(relative) link -> \(target)")
        default:
            let data = FileManager.default.contents(atPath: path) ?? Data()
            lines.append("\(relative) file \(mode) \(data.count) \(data.hashValue)")
        }
    }
    return lines.sorted()
}
