import Foundation
import Testing

@testable import RukoArchive

private let environment = ProcessInfo.processInfo.environment

/// Peak memory of a real pack, measured on a child process (this test bundle re-run with a filter
/// that selects only `packChild`), so the figure is the packer's and not the test runner's.
@Suite struct MemoryTests {
    /// The child side: packs $RUKO_PACK_CHILD_SOURCE into $RUKO_PACK_CHILD_OUTPUT.
    @Test(.enabled(if: environment["RUKO_PACK_CHILD_SOURCE"] != nil, "runs only as the memory test's child"))
    func packChild() throws {
        let source = try #require(environment["RUKO_PACK_CHILD_SOURCE"])
        let output = try #require(environment["RUKO_PACK_CHILD_OUTPUT"])
        let result = try SlugPacker.pack(directory: source, to: output, options: PackOptions())
        print("packed \(result.bytes) bytes, \(result.entries) entries")
    }

    @Test(.enabled(if: environment["RUKO_SLOW_TESTS"] == "1", "slow (1 GB tree): set RUKO_SLOW_TESTS=1"))
    func packingAGigabyteStaysUnder64MB() throws {
        let scratch = try Scratch()
        let base = scratch.sub("base")
        let generated = try run(["python3", repositoryRoot + "/bench/gen-tree.py", base, "--mb", "100", "--seed", "3"])
        #expect(generated.status == 0, "\(generated.output)")
        // Ten hard-linked copies: 1 GB of content to read and compress (hard links are packed as
        // regular files), without writing 1 GB to disk.
        let tree = scratch.sub("tree")
        try mkdirs(tree)
        for copy in 0..<10 {
            #expect(try run(["cp", "-al", base, tree + "/copy\(copy)"]).status == 0)
        }
        let output = scratch.sub("big.tgz")
        let arguments = [
            "/proc/self/exe", "--testing-library", "swift-testing", "--filter", "MemoryTests/packChild",
        ]
        var childEnvironment = environment
        childEnvironment["RUKO_PACK_CHILD_SOURCE"] = tree
        childEnvironment["RUKO_PACK_CHILD_OUTPUT"] = output
        childEnvironment["RUKO_SLOW_TESTS"] = nil
        let (status, usage) = try spawnAndWait(arguments, environment: childEnvironment)
        #expect(status == 0)
        let peakMiB = Double(usage.ru_maxrss) / 1024
        print("pack of a 1 GB tree: peak RSS \(peakMiB) MiB")
        #expect(peakMiB <= 64, "peak RSS \(peakMiB) MiB")
        var info = stat()
        #expect(stat(output, &info) == 0)
        #expect(info.st_size > 100_000_000)
        #expect(try run(["gzip", "-t", output]).status == 0)
    }
}

/// posix_spawn + wait4, for the child's own resource usage.
func spawnAndWait(_ arguments: [String], environment: [String: String]) throws -> (Int32, rusage) {
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
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exitCode, usage)
}
