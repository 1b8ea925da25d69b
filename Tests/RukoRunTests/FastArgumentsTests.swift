import ArgumentParser
import Testing

@testable import ruko_run

/// The fast reader must read every command line it accepts exactly as the ArgumentParser
/// definition does, and hand everything else to ArgumentParser.
@Suite("ruko-run command line: fast path = ArgumentParser")
struct FastArgumentsTests {
    /// What ArgumentParser makes of `arguments`, with the command's leading `--` dropped as
    /// `makeConfiguration` does.
    static func reference(_ arguments: [String]) throws -> RunOptions {
        var options = try RukoRun.parse(arguments).options
        if options.command.first == "--" { options.command.removeFirst() }
        return options
    }

    static func fast(_ arguments: [String]) -> RunOptions? {
        guard var options = FastArguments.parse(arguments) else { return nil }
        if options.command.first == "--" { options.command.removeFirst() }
        return options
    }

    @Test(
        "accepted command lines read the same",
        arguments: [
            ["--", "/bin/true"],
            ["/bin/true"],
            ["/bin/echo", "--app", "x", "-n"],
            ["--app", "/tmp/a", "--", "/bin/sh", "-c", "exit 3"],
            ["--app=/tmp/a", "--template=minimal", "--", "/bin/true"],
            ["--template", "/etc/ruko/t", "--app", "/srv/app", "--bind", "/a:/b", "--bind", "/c:/d:rw", "--", "x"],
            ["--env", "A=1", "--env=B=2=3", "--env-file", "/tmp/e", "--env-file=/tmp/f", "--", "env"],
            ["--user", "1000:1000", "--hostname", "box", "--workdir", "/tmp", "--network", "host", "--", "id"],
            ["--memory", "64M", "--pids", "32", "--cpus", "0.5", "--timeout", "2s", "--", "sleep", "9"],
            ["--cgroup-root", "/sys/fs/cgroup/x", "--allow-missing-controllers", "--", "true"],
            ["--pids=+7", "--cpus=2", "--memory=1G", "cmd", "--", "after"],
            ["--template", "a", "--template", "b", "--", "true"],
            ["--allow-missing-controllers", "sh", "--help"],
        ])
    func same(arguments: [String]) throws {
        let fast = try #require(Self.fast(arguments), "the fast path should accept \(arguments)")
        #expect(fast == (try Self.reference(arguments)))
    }

    @Test(
        "everything else goes to ArgumentParser",
        arguments: [
            [], ["--"], ["--help"], ["-h"], ["--help", "--", "x"], ["--", "--help"], ["-h", "x"],
            ["--app"], ["--app", "--", "x"], ["--app", "-x", "y"], ["--pids", "many", "x"], ["--pids", "1.5", "x"],
            ["--cpus", "fast", "x"], ["--cpus", "inf", "x"], ["--nope", "x"], ["--allow-missing-controllers=yes", "x"],
            ["--allow-missing-controllers", "--allow-missing-controllers", "x"], ["-e", "x"], ["--memory"],
            ["--version"], ["--generate-completion-script", "bash"], ["--experimental-dump-help"],
        ])
    func fallsBack(arguments: [String]) {
        #expect(FastArguments.parse(arguments) == nil)
    }
}
