import Foundation
import RukoBuild
import Testing

/// The buildpack API as ruko-build implements it, checked with the fixture buildpacks in
/// Tests/Fixtures/buildpacks, real sandbox runs (root).
@Suite("ruko-build conformance", .serialized, .enabled(if: BuildTestSupport.isRoot, "requires root"))
struct BuildConformanceTests {
    typealias Support = BuildTestSupport

    /// An app with a Procfile, a .slugignore, an ignored file and a .git directory.
    static func makeApp(_ scratch: Support.Scratch) throws -> String {
        try scratch.write("app/Procfile", "web: procfile-web --port $PORT # a comment-looking part\n")
        try scratch.write("app/.slugignore", "# comment\n/ignored.txt\n")
        try scratch.write("app/ignored.txt", "should not reach compile")
        try scratch.write("app/kept.txt", "kept")
        try scratch.write("app/.git/HEAD", "ref: refs/heads/main\n")
        return scratch.path + "/app"
    }

    @Test func compileReceivesTheBuildpackAPI() throws {
        let scratch = try Support.Scratch()
        let app = try Self.makeApp(scratch)
        var request = Support.request(app: app, output: scratch.path + "/slug.tgz", buildpacks: ["conformance"])
        request.environment = ["GREETING": "hello", "MULTI": "a\nb\n"]
        request.sourceVersion = "0123456789abcdef0123456789abcdef01234567"
        request.cacheDirectory = scratch.path + "/cache"
        let lines = Support.Lines()
        let result = try Builder(request: request).run { lines.append($0) }

        let unpacked = try Support.unpack(result.slugPath, into: scratch.path + "/out")
        let report = Support.keyValues(
            try String(contentsOfFile: unpacked + "/.conformance/compile.txt", encoding: .utf8))
        #expect(report["argc"] == "3")
        #expect(report["build_dir"] == "/app")
        #expect(report["cache_dir_is_dir"] == "yes")
        #expect(report["env_dir_is_dir"] == "yes")
        #expect(report["pwd"] == "/app")
        #expect(report["uid"] == "10001")
        #expect(report["home"] == "/app")
        #expect(report["stack"] == result.stack)
        #expect(report["source_version"] == "0123456789abcdef0123456789abcdef01234567")
        #expect(report["env_files"] == "GREETING MULTI ")
        #expect(report["greeting_bytes"] == "5")  // no trailing newline added
        #expect(report["multiline_bytes"] == "4")
        #expect(report["greeting_in_env"] == "unset")  // config vars reach compile through ENV_DIR only
        #expect(report["ignored_present"] == "no")  // .slugignore applied before compile
        #expect(report["kept_present"] == "yes")
        #expect(report["git_present"] == "no")
        #expect(report["bp_dir_writable"] == "yes")  // a private writable copy
        #expect(report["etc_writable"] == "no")
        #expect(report["cache_counter"] == "1")
        // The fixture itself was not written to.
        #expect(!FileManager.default.fileExists(atPath: Support.fixtureBuildpacks + "/conformance/written"))

        // Output: the detected framework name, the buildpack's lines as printed.
        #expect(lines.texts.contains("-----> Conformance app detected"))
        #expect(lines.texts.contains("-----> Conformance compile done"))
        #expect(lines.texts.contains("       detail line"))
        #expect(lines.texts.contains { $0.hasPrefix("-----> Compressing... done, ") })

        // Release: Procfile wins on web, buildpack defaults fill the rest.
        #expect(
            result.processTypes == [
                "web": "procfile-web --port $PORT # a comment-looking part", "clock": "conformance-clock",
            ])
        #expect(result.configVars == ["FROM_CONFORMANCE": "yes", "SHARED": "conformance"])
        #expect(result.buildpacks == [Support.fixtureBuildpacks + "/conformance"])
        #expect(result.commit == "0123456789abcdef0123456789abcdef01234567")
        #expect(FileManager.default.fileExists(atPath: unpacked + "/Procfile"))
        #expect(!FileManager.default.fileExists(atPath: unpacked + "/.git"))
        #expect(!FileManager.default.fileExists(atPath: unpacked + "/ignored.txt"))

        // CACHE_DIR persists between builds of the same app.
        let second = try Builder(request: request).run { _ in }
        let unpackedAgain = try Support.unpack(second.slugPath, into: scratch.path + "/out2")
        let secondReport = Support.keyValues(
            try String(contentsOfFile: unpackedAgain + "/.conformance/compile.txt", encoding: .utf8))
        #expect(secondReport["cache_counter"] == "2")
    }

    @Test func exportReachesTheNextBuildpackAndReleasesMerge() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: procfile-web\n")
        try scratch.write("app/GREETING-free", "")
        var request = Support.request(
            app: scratch.path + "/app", output: scratch.path + "/slug.tgz", buildpacks: ["exporter", "conformance"])
        request.environment = ["GREETING": "hi", "MULTI": ""]
        let lines = Support.Lines()
        let result = try Builder(request: request).run { lines.append($0) }
        let unpacked = try Support.unpack(result.slugPath, into: scratch.path + "/out")
        let report = Support.keyValues(
            try String(contentsOfFile: unpacked + "/.conformance/compile.txt", encoding: .utf8))
        #expect(report["from_exporter"] == "hello-from-exporter")
        #expect(
            try String(contentsOfFile: unpacked + "/.conformance/order.txt", encoding: .utf8)
                == "exporter\nconformance\n")
        #expect(!FileManager.default.fileExists(atPath: Support.fixtureBuildpacks + "/exporter/export"))
        // Later buildpack wins on a clash, types and vars merge, the Procfile wins over both.
        #expect(
            result.processTypes == ["web": "procfile-web", "worker": "exporter-worker", "clock": "conformance-clock"])
        #expect(result.configVars == ["FROM_EXPORTER": "1", "FROM_CONFORMANCE": "yes", "SHARED": "conformance"])
        #expect(result.buildpacks.count == 2)
        let texts = lines.texts
        let exporterIndex = texts.firstIndex(of: "-----> Exporter app detected")
        let conformanceIndex = texts.firstIndex(of: "-----> Conformance app detected")
        if let exporterIndex, let conformanceIndex {
            #expect(exporterIndex < conformanceIndex)
        } else {
            Issue.record("framework headers missing: \(texts)")
        }
        #expect(texts.contains("-----> Using buildpacks:"))
    }

    @Test func detectionFollowsTheDocumentedOrder() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: x\n")
        let buildpacks = scratch.path + "/bps"
        try FileManager.default.createDirectory(atPath: buildpacks, withIntermediateDirectories: true)
        for name in ["detect-never", "detect-bravo", "detect-charlie"] {
            try FileManager.default.copyItem(
                atPath: Support.fixtureBuildpacks + "/" + name, toPath: buildpacks + "/" + name)
        }
        func build(_ name: String) throws -> (BuildResult, [String], String?) {
            var request = Support.request(
                app: scratch.path + "/app", output: scratch.path + "/\(name).tgz", buildpacks: [])
            request.buildpacksDirectory = buildpacks
            let lines = Support.Lines()
            let result = try Builder(request: request).run { lines.append($0) }
            let unpacked = try Support.unpack(result.slugPath, into: scratch.path + "/\(name)")
            return (
                result, lines.texts,
                try? String(contentsOfFile: unpacked + "/.conformance/selected.txt", encoding: .utf8)
            )
        }
        // No order file: by name; detect-bravo is the first to exit 0.
        let (first, firstLines, firstSelected) = try build("by-name")
        #expect(first.buildpacks == ["detect-bravo"])
        #expect(firstSelected == "bravo\n")
        #expect(firstLines.contains("-----> Bravo app detected"))
        // An order file puts detect-charlie first.
        try scratch.write("bps/order", "detect-never\ndetect-charlie\n")
        let (second, secondLines, secondSelected) = try build("by-order")
        #expect(second.buildpacks == ["detect-charlie"])
        #expect(secondSelected == "charlie\n")
        #expect(secondLines.contains("-----> Charlie app detected"))
        // BUILDPACK_URL in the config vars skips detection.
        var request = Support.request(app: scratch.path + "/app", output: scratch.path + "/url.tgz", buildpacks: [])
        request.buildpacksDirectory = buildpacks
        request.environment = ["BUILDPACK_URL": buildpacks + "/detect-bravo"]
        #expect(try Builder(request: request).run { _ in }.buildpacks == [buildpacks + "/detect-bravo"])
        // .buildpacks in the app, one per line.
        try scratch.write("app/.buildpacks", "# chosen\n\(buildpacks)/detect-charlie\n")
        request.environment = [:]
        #expect(try Builder(request: request).run { _ in }.buildpacks == [buildpacks + "/detect-charlie"])
        // Nothing detects: a clear failure listing what was tried.
        try FileManager.default.removeItem(atPath: scratch.path + "/app/.buildpacks")
        try scratch.write("bps/order", "detect-never\n")
        try FileManager.default.removeItem(atPath: buildpacks + "/detect-bravo")
        try FileManager.default.removeItem(atPath: buildpacks + "/detect-charlie")
        #expect {
            _ = try Builder(request: request).run { _ in }
        } throws: { error in
            (error as? BuildError)?.messages.first == "No buildpack detected this app. Tried, in order: detect-never."
        }
    }

    @Test func failedCompileExitsNonZeroAndLeavesNoSlug() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: x\n")
        let slug = scratch.path + "/slug.tgz"
        let run = try Support.rukoBuild([
            scratch.path + "/app", "-o", slug, "--buildpack", Support.fixtureBuildpacks + "/failing",
            "--allow-missing-controllers",
        ])
        #expect(run.status != 0)
        #expect(run.stdout.contains("-----> About to fail"))
        #expect(run.stderr.contains("something broke"))
        #expect(run.stderr.contains(" !     Failed to compile app with buildpack"))
        #expect(run.stderr.contains("(bin/compile exited with 3)"))
        #expect(!FileManager.default.fileExists(atPath: slug))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["app"])
    }

    @Test func malformedReleaseYAMLIsAClearError() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: x\n")
        let slug = scratch.path + "/slug.tgz"
        let run = try Support.rukoBuild([
            scratch.path + "/app", "-o", slug, "--buildpack", Support.fixtureBuildpacks + "/badyaml",
            "--allow-missing-controllers",
        ])
        #expect(run.status != 0)
        #expect(run.stderr.contains("bin/release printed malformed YAML"))
        #expect(!FileManager.default.fileExists(atPath: slug))
    }

    @Test func oversizedReleaseOutputIsAClearError() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: x\n")
        try scratch.write("bp/bin/detect", "#!/bin/sh\necho Big\n", mode: 0o755)
        try scratch.write("bp/bin/compile", "#!/bin/sh\n", mode: 0o755)
        // 8 MiB of YAML-looking output: never read into memory, never taken as an empty release.
        try scratch.write(
            "bp/bin/release", "#!/bin/sh\necho '---'\nyes '# padding padding padding' | head -c 8388608\n", mode: 0o755)
        let slug = scratch.path + "/slug.tgz"
        let run = try Support.rukoBuild([
            scratch.path + "/app", "-o", slug, "--buildpack", scratch.path + "/bp", "--allow-missing-controllers",
        ])
        #expect(run.status == 1)
        #expect(
            run.stderr.contains(" !     The output of bin/release of \(scratch.path)/bp cannot be used:"),
            "\(run.stderr)")
        #expect(run.stderr.contains("is larger than 1048576 bytes"))
        #expect(!FileManager.default.fileExists(atPath: slug))
    }

    @Test func outputIsStreamedLineByLine() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: x\n")
        var request = Support.request(
            app: scratch.path + "/app", output: scratch.path + "/s.tgz", buildpacks: ["sleeper"])
        request.environment = ["SLEEP": "1.5"]
        let lines = Support.Lines()
        _ = try Builder(request: request).run { lines.append($0) }
        let all = lines.all
        guard let first = all.first(where: { $0.1.text == "-----> first line" }),
            let second = all.first(where: { $0.1.text == "-----> second line" })
        else {
            Issue.record("missing lines: \(lines.texts)")
            return
        }
        #expect(second.0.timeIntervalSince(first.0) > 1.0, "the first line arrived with the second: buffered")
    }

    @Test func timeoutStopsTheBuild() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: x\n")
        let slug = scratch.path + "/slug.tgz"
        let started = Date()
        let run = try Support.rukoBuild([
            scratch.path + "/app", "-o", slug, "--buildpack", Support.fixtureBuildpacks + "/sleeper", "--env",
            "SLEEP=60",
            "--timeout", "2s", "--allow-missing-controllers",
        ])
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(run.status != 0)
        #expect(run.stderr.contains(" !     The build timed out after 2s"))
        #expect(!FileManager.default.fileExists(atPath: slug))
    }

    @Test func hostileBuildCannotSmuggleHostData() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: x\n")
        let request = Support.request(
            app: scratch.path + "/app", output: scratch.path + "/s.tgz", buildpacks: ["hostile"])
        let result = try Builder(request: request).run { _ in }
        let listing = try Support.run("/usr/bin/tar", ["-tvzf", result.slugPath]).stdout
        #expect(listing.contains("./app/leak-shadow -> /etc/shadow"))
        #expect(listing.contains("./app/leak-root -> /"))
        let unpacked = try Support.unpack(result.slugPath, into: scratch.path + "/out")
        #expect(try String(contentsOfFile: unpacked + "/copied-shadow", encoding: .utf8) == "cannot read /etc/shadow\n")
        let shadow = (try? String(contentsOfFile: "/etc/shadow", encoding: .utf8)) ?? "root:"
        let raw = try Support.run("/bin/bash", ["-c", "gzip -dc \"$1\" | strings", "x", result.slugPath]).stdout
        let firstLine = String(shadow.split(separator: "\n").first ?? "root:")
        #expect(!raw.contains(firstLine))
        // A fifo left by compile is refused by name, and no slug is written.
        let fifoRequest = Support.request(
            app: scratch.path + "/app", output: scratch.path + "/f.tgz", buildpacks: ["fifo"])
        #expect {
            _ = try Builder(request: fifoRequest).run { _ in }
        } throws: { error in
            (error as? BuildError)?.description.contains("a-fifo") == true
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/f.tgz"))
    }

    @Test func hostileAppTreeNeverBringsHostDataIntoTheSlug() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: x\n")
        try scratch.write("app/secret.txt", "the app's own unreadable file", mode: 0)
        let app = scratch.path + "/app"
        let links = ["shadow": "/etc/shadow", "etc": "/etc", "up": "../../../../../../etc/passwd", "self": "."]
        for (name, target) in links {
            try FileManager.default.createSymbolicLink(atPath: app + "/" + name, withDestinationPath: target)
        }
        let request = Support.request(
            app: app, output: scratch.path + "/s.tgz", buildpacks: [Support.repositoryRoot + "/buildpacks/procfile"])
        let result = try Builder(request: request).run { _ in }
        let listing = try Support.run("/usr/bin/tar", ["-tvzf", result.slugPath]).stdout
        for (name, target) in links {
            #expect(listing.contains("./app/\(name) -> \(target)"), "\(name) is not stored as a link")
        }
        #expect(!listing.contains("./app/etc/"))
        let raw = try Support.run("/bin/bash", ["-c", "gzip -dc \"$1\" | strings", "x", result.slugPath]).stdout
        for host in ["/etc/shadow", "/etc/passwd"] {
            let first = (try? String(contentsOfFile: host, encoding: .utf8))?.split(separator: "\n").first
            if let first { #expect(!raw.contains(String(first)), "\(host) content in the slug") }
        }
        // A fifo in the source is refused before anything runs, by name.
        #expect(mkfifo(app + "/pipe", 0o644) == 0)
        let run = try Support.rukoBuild([
            app, "-o", scratch.path + "/f.tgz", "--buildpack", "procfile", "--allow-missing-controllers",
        ])
        #expect(run.status != 0)
        #expect(run.stderr.contains("pipe (fifo)"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/f.tgz"))
    }

    @Test func sameInputTwiceGivesIdenticalSlugs() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: x\n")
        try scratch.write("app/lib/a.txt", "a")
        var request = Support.request(
            app: scratch.path + "/app", output: scratch.path + "/one.tgz", buildpacks: ["conformance"])
        request.environment = ["GREETING": "x", "MULTI": "y"]
        let one = try Builder(request: request).run { _ in }
        request.outputPath = scratch.path + "/two.tgz"
        let two = try Builder(request: request).run { _ in }
        #expect(one.sha256 == two.sha256)
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: one.slugPath))
                == Data(contentsOf: URL(fileURLWithPath: two.slugPath)))
    }

    @Test func slugOverTheHardLimitFailsWithHerokusMessages() throws {
        let scratch = try Support.Scratch()
        try scratch.write("app/Procfile", "web: x\n")
        // 2 MiB of random data does not compress.
        let random = try Support.run(
            "/bin/bash", ["-c", "head -c 2097152 /dev/urandom > \"$1\"", "x", scratch.path + "/app/blob"])
        #expect(random.status == 0)
        let slug = scratch.path + "/slug.tgz"
        let run = try Support.rukoBuild([
            scratch.path + "/app", "-o", slug, "--buildpack", "procfile", "--max-slug-size", "1M",
            "--allow-missing-controllers",
        ])
        #expect(run.status != 0)
        #expect(run.stderr.contains(" !     Compiled slug size: 2.0M is too large (max is 1M).\n"))
        #expect(
            run.stderr.contains(" !     See: https://devcenter.heroku.com/articles/slug-size\n !     Push failed\n"))
        #expect(!FileManager.default.fileExists(atPath: slug))
    }
}
