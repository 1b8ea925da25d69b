import ArgumentParser
import Testing

@testable import ruko_build

/// The fast reader must read every build line it accepts exactly as the ArgumentParser definition
/// does, and hand everything else to ArgumentParser.
@Suite("ruko-build command line: fast path = ArgumentParser")
struct FastBuildArgumentsTests {
    @Test(
        "accepted build lines read the same",
        arguments: [
            ["app", "-o", "slug.tgz"],
            ["build", "app", "-o", "slug.tgz"],
            ["-o", "/tmp/s.tgz", "/srv/app"],
            ["app", "--output", "s.tgz", "--quiet", "--allow-missing-controllers"],
            ["app", "--output=s.tgz", "--json", "--release-json", "r.json", "--source-version", "abc123"],
            ["app", "-o", "s", "--buildpack", "procfile", "--buildpack=https://x/y.tgz", "--buildpacks-dir", "/b"],
            ["app", "-o", "s", "--buildpack-cache", "/c", "--cache-dir", "/cache", "--env-dir", "/e"],
            ["app", "-o", "s", "--env", "A=1", "--env=B=2", "--env-file", ".env", "--template", "minimal"],
            ["app", "-o", "s", "--timeout", "90s", "--memory", "1G", "--pids", "100", "--max-slug-size", "1M"],
            ["app", "-o", "s", "--layout", "flat", "--compression", "best", "--layout=app"],
        ])
    func same(arguments: [String]) throws {
        let fast = try #require(FastBuildArguments.parse(arguments), "the fast path should accept \(arguments)")
        let parsed = try RukoBuildCommand.parseAsRoot(arguments)
        let reference = try #require(parsed as? Build, "ArgumentParser chose \(type(of: parsed))")
        #expect(fast == reference.options)
    }

    @Test(
        "everything else goes to ArgumentParser",
        arguments: [
            [], ["app"], ["-o", "s"], ["--help"], ["-h"], ["help"], ["app", "-o", "s", "--help"],
            ["pack", "dir", "-o", "s"], ["unpack", "s.tgz", "dir"], ["build", "build", "-o", "s"],
            ["app", "other", "-o", "s"], ["app", "-o"], ["app", "-o", "--json"], ["app", "-os"], ["app", "-o=s"],
            ["app", "-o", "s", "--nope"], ["app", "-o", "s", "--json", "--json"], ["app", "-o", "s", "--json=1"],
            ["app", "-o", "s", "--pids", "many"], ["app", "-o", "s", "--pids", "0"],
            ["app", "-o", "s", "--timeout", "x"],
            ["app", "-o", "s", "--memory", "lots"], ["app", "-o", "s", "--layout", "tree"],
            ["app", "-o", "s", "--compression", "max"], ["app", "-o", "s", "--max-slug-size", "big"],
            ["app", "-o", "s", "--", "x"], ["app", "-o", "s", "--env", "-x"], ["--version"],
        ])
    func fallsBack(arguments: [String]) {
        #expect(FastBuildArguments.parse(arguments) == nil)
    }
}
