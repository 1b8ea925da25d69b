import Foundation
import Testing

/// Faults from issue 6: each ends in a clear message with nothing lost or half-written.
@Suite(.serialized, .enabled(if: isRoot, "requires root: mounts a small tmpfs"))
struct FaultTests {
    /// ENOSPC while packing: a clear error, no partial slug, the previous slug untouched.
    @Test func diskFullWhilePackingLeavesThePreviousSlug() throws {
        let dir = try makeTemporaryDirectory("ruko-fault")
        let small = dir + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        #expect(mount("ruko-enospc", small, "tmpfs", 0, "size=2m") == 0)
        defer {
            umount2(small, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: dir)
        }
        // 8 MB of incompressible data cannot fit in 2 MB.
        let app = dir + "/app"
        try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(8 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try Data(bytes).write(to: URL(fileURLWithPath: app + "/blob.bin"))
        try "web: true\n".write(toFile: app + "/Procfile", atomically: true, encoding: .utf8)
        try "previous slug".write(toFile: small + "/slug.tgz", atomically: false, encoding: .utf8)

        let r = try runProcess(binDir + "/ruko-build", ["pack", app, "-o", small + "/slug.tgz"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("No space left") || r.stderr.contains("ENOSPC"), "\(r.stderr)")
        #expect(try String(contentsOfFile: small + "/slug.tgz", encoding: .utf8) == "previous slug")
        let left = try FileManager.default.contentsOfDirectory(atPath: small)
        #expect(left == ["slug.tgz"], "temporary files left: \(left)")
    }

    /// SIGKILL of ruko-build mid-build: nothing of it survives, and the next build works.
    @Test func killedBuildLeavesNothingAndTheNextBuildWorks() throws {
        let dir = try makeTemporaryDirectory("ruko-fault")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let app = dir + "/app"
        let buildpack = dir + "/slow-buildpack"
        for d in [app, buildpack + "/bin", dir + "/cache"] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        try "web: true\n".write(toFile: app + "/Procfile", atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho Slow\n".write(toFile: buildpack + "/bin/detect", atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho cached > \"$2/marker\"\nsleep 4545\n"
            .write(toFile: buildpack + "/bin/compile", atomically: true, encoding: .utf8)
        for f in ["detect", "compile"] { chmod(buildpack + "/bin/" + f, 0o755) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDir + "/ruko-build")
        process.arguments = [
            app, "-o", dir + "/slug.tgz", "--buildpack", buildpack, "--cache-dir", dir + "/cache",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var started = false
        for _ in 0..<200 where !started {
            Thread.sleep(forTimeInterval: 0.05)
            started = !processes(matching: "sleep 4545").isEmpty
        }
        #expect(started, "the compile never started")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        var gone = false
        for _ in 0..<100 where !gone {
            Thread.sleep(forTimeInterval: 0.02)
            gone = processes(matching: "sleep 4545").isEmpty
        }
        #expect(gone, "the build's processes outlived ruko-build")
        #expect(!FileManager.default.fileExists(atPath: dir + "/slug.tgz"))

        // The next build, with a fast compile, works with the same cache.
        try "#!/bin/sh\necho cached > \"$2/marker\"\n"
            .write(toFile: buildpack + "/bin/compile", atomically: true, encoding: .utf8)
        chmod(buildpack + "/bin/compile", 0o755)
        let r = try runProcess(
            binDir + "/ruko-build",
            [app, "-o", dir + "/slug.tgz", "--buildpack", buildpack, "--cache-dir", dir + "/cache"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/slug.tgz"))
    }

    @Test(
        "SIGINT, SIGTERM or SIGHUP of ruko-build mid-compile: 128+N, a message, nothing left behind",
        arguments: [SIGINT, SIGTERM, SIGHUP])
    func interruptedBuildCleansUp(signal: Int32) throws {
        let dir = try makeTemporaryDirectory("ruko-fault")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let app = dir + "/app"
        let buildpack = dir + "/slow-buildpack"
        let work = dir + "/tmp"
        for d in [app, buildpack + "/bin", work] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        let marker = "sleep \(4600 + signal)"
        try "web: true\n".write(toFile: app + "/Procfile", atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho Slow\n".write(toFile: buildpack + "/bin/detect", atomically: true, encoding: .utf8)
        try "#!/bin/sh\n(setsid /bin/\(marker) >/dev/null 2>&1 &)\nexec /bin/\(marker)\n"
            .write(toFile: buildpack + "/bin/compile", atomically: true, encoding: .utf8)
        for f in ["detect", "compile"] { chmod(buildpack + "/bin/" + f, 0o755) }
        let before = currentLeftovers()

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDir + "/ruko-build")
        process.arguments = [app, "-o", dir + "/slug.tgz", "--buildpack", buildpack]
        process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": work]) { $1 }
        let errors = dir + "/stderr"
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: errors)
        try process.run()
        var started = false
        for _ in 0..<400 where !started {
            Thread.sleep(forTimeInterval: 0.05)
            started = processes(matching: marker).count >= 2
        }
        try #require(started, "the compile never started")
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        let message = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
        #expect(process.terminationReason == .exit && process.terminationStatus == 128 + signal, "\(message)")
        #expect(message.contains("The build was cancelled (signal \(signal))"), "\(message)")
        #expect(processes(matching: marker).isEmpty, "the build's processes outlived the build")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? ["?"]).isEmpty, "work tree left")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        #expect(!files.contains { $0.hasPrefix("slug") }, "slug or temporary slug left: \(files)")
        #expect(currentLeftovers().cgroups == before.cgroups)
    }
}
