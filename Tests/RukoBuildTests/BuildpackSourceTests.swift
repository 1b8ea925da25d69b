import Foundation
import Testing

@testable import RukoBuild

@Suite("Buildpack sources")
struct BuildpackSourceTests {
    @Test func parsesEveryForm() throws {
        func location(_ text: String) throws -> BuildpackSource.Location {
            try BuildpackSource(parsing: text, bundledDirectory: nil).location
        }
        #expect(
            try location("https://example.com/bp/python.tgz")
                == .remoteTarball(url: "https://example.com/bp/python.tgz"))
        #expect(
            try location("https://example.com/bp.tar.gz?x=1")
                == .remoteTarball(url: "https://example.com/bp.tar.gz?x=1"))
        #expect(
            try location("https://github.com/heroku/heroku-buildpack-python.git#v250")
                == .git(url: "https://github.com/heroku/heroku-buildpack-python.git", ref: "v250"))
        #expect(
            try location("https://github.com/heroku/heroku-buildpack-ruby")
                == .git(url: "https://github.com/heroku/heroku-buildpack-ruby", ref: nil))
        #expect(try location("git@github.com:me/bp.git#main") == .git(url: "git@github.com:me/bp.git", ref: "main"))
        #expect(try location("ssh://git@host/bp.git") == .git(url: "ssh://git@host/bp.git", ref: nil))
        #expect(try location("file:///srv/bp.tgz") == .localTarball("/srv/bp.tgz"))
        #expect(try location("file:///srv/bp") == .directory("/srv/bp"))
        #expect(try location("file:///srv/repo.git#abc123") == .git(url: "file:///srv/repo.git", ref: "abc123"))
        #expect(try location("./buildpacks/custom") == .directory("./buildpacks/custom"))
        #expect(throws: BuildError.self) { try location("ftp://example.com/x.tgz") }
        #expect(throws: BuildError.self) { try location("no-such-bundled-name") }
    }

    @Test func bareNamesResolveToBundledBuildpacks() throws {
        let tree = try TestDirectory()
        try tree.write("bps/python/bin/detect", "#!/bin/sh\n", mode: 0o755)
        let source = try BuildpackSource(parsing: "python", bundledDirectory: tree.path + "/bps")
        #expect(source.location == .directory(tree.path + "/bps/python"))
    }

    @Test func detectionOrderFollowsTheOrderFileThenNames() throws {
        let tree = try TestDirectory()
        for name in ["zeta", "alpha", "mid", "beta"] { try tree.write("bps/\(name)/bin/detect", "") }
        #expect(try BundledBuildpacks.detectionOrder(in: tree.path + "/bps") == ["alpha", "beta", "mid", "zeta"])
        try tree.write("bps/order", "# first\nzeta\n\nmid\nmissing\n")
        #expect(try BundledBuildpacks.detectionOrder(in: tree.path + "/bps") == ["zeta", "mid", "alpha", "beta"])
    }

    @Test func fetchesTarballsAndGitRefsIntoTheCache() throws {
        let tree = try TestDirectory()
        // A buildpack in a git repository with two commits and a tag on the first.
        let repo = tree.path + "/repo"
        try tree.write("repo/bin/detect", "#!/bin/sh\necho v1\n", mode: 0o755)
        let git = { (arguments: [String]) in
            let result = HostCommand.run(
                ["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.output)")
        }
        git(["init", "-q", "-b", "main"])
        git(["add", "."])
        git(["commit", "-qm", "v1"])
        git(["tag", "v1"])
        let firstSha = HostCommand.run(["git", "-C", repo, "rev-parse", "HEAD"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try tree.write("repo/bin/detect", "#!/bin/sh\necho v2\n", mode: 0o755)
        git(["commit", "-qam", "v2"])

        let fetcher = BuildpackFetcher(cacheDirectory: tree.path + "/cache")
        func detectText(_ reference: String) throws -> String {
            let source = try BuildpackSource(parsing: reference, bundledDirectory: nil)
            let directory = try fetcher.resolve(source) { _ in }
            return try String(contentsOfFile: directory + "/bin/detect", encoding: .utf8)
        }
        #expect(try detectText("file://\(repo)/.git#v1").contains("v1"))
        #expect(try detectText("file://\(repo)/.git#\(firstSha)").contains("v1"))
        #expect(try detectText("file://\(repo)/.git#main").contains("v2"))
        // Cached by URL+ref: three entries, and a second resolve does not fetch again.
        #expect(try FileManager.default.contentsOfDirectory(atPath: tree.path + "/cache").count == 3)

        // A tarball with one top-level directory, from a file:// URL and over HTTP.
        let tarball = tree.path + "/bp.tgz"
        #expect(HostCommand.run(["tar", "-czf", tarball, "-C", tree.path, "--exclude=.git", "repo"]).status == 0)
        #expect(try detectText("file://" + tarball).contains("v2"))

        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        let port = Int.random(in: 20000...40000)
        server.arguments = ["-m", "http.server", "--bind", "127.0.0.1", "--directory", tree.path, "\(port)"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        var text: String?
        for _ in 0..<50 where text == nil {
            usleep(100_000)
            text = try? detectText("http://127.0.0.1:\(port)/bp.tgz")
        }
        #expect(text?.contains("v2") == true)
        // A failing fetch is a clear error.
        #expect {
            _ = try detectText("http://127.0.0.1:\(port)/missing.tgz")
        } throws: { error in
            (error as? BuildError)?.messages.first?.contains("downloading") == true
        }
    }
}
