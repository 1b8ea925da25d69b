import RukoSandbox
import RukoSystem

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What a `ruko-run` command line asks for, whichever parser read it: the ArgumentParser
/// definition (`RukoRun`, the reference: help, errors) or the fast path (`FastArguments`).
struct RunOptions: Equatable {
    var template = "default"
    var app: String?
    var binds: [String] = []
    var environment: [String] = []
    var envFiles: [String] = []
    var user: String?
    var hostname: String?
    var workdir: String?
    var network = "none"
    var memory: String?
    var pids: Int?
    var cpus: Double?
    var timeout: String?
    var cgroupRoot: String?
    var allowMissingControllers = false
    /// The command and its arguments; a leading `--` is dropped by `makeConfiguration`.
    var command: [String] = []

    /// Runs the sandbox and exits with the command's status (or 124/125/126/127), without
    /// unwinding through ArgumentParser's error path.
    func execute() -> Never {
        do {
            let outcome = try Sandbox.run(
                try makeConfiguration(), forwardingSignals: [SIGINT, SIGTERM, SIGHUP, SIGQUIT])
            for warning in outcome.warnings { fail("warning: \(warning)") }
            if outcome.oomKilled {
                let limit = memory.map { " (--memory \($0))" } ?? ""
                fail("the command was killed: out of memory\(limit)")
            }
            if outcome.termination == .timedOut, let timeout {
                fail("timed out after \(timeout); killed every process of the run")
            }
            exit(outcome.exitStatus)
        } catch {
            fail(error.description)
            exit(error.exitStatus)
        }
    }

    /// The sandbox configuration these options describe; a usage error exits 125.
    func makeConfiguration() throws(SandboxError) -> SandboxConfiguration {
        var argv = command
        if argv.first == "--" { argv.removeFirst() }
        guard !argv.isEmpty else {
            throw SandboxError(
                exitStatus: 125, description: "no command given: ruko-run [OPTIONS] -- COMMAND [ARGS...]")
        }
        let rootfs: RootfsTemplate
        do {
            rootfs = try RootfsTemplate.load(template)
        } catch {
            throw SandboxError(exitStatus: 125, description: error.description)
        }
        var config = SandboxConfiguration(command: argv, template: rootfs)
        config.appDirectory = app
        config.binds = try binds.map { spec throws(SandboxError) in try BindMount.parse(spec) }
        for file in envFiles {
            let text: String
            do { text = try Syscall.readFile(file) } catch {
                throw SandboxError(exitStatus: 125, description: "--env-file \(file): cannot read it: \(error)")
            }
            do {
                for (k, v) in try ValueParser.envFile(text, name: file) { config.environment[k] = v }
            } catch {
                throw SandboxError(exitStatus: 125, description: "--env-file " + error.description)
            }
        }
        for pair in environment {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw SandboxError(exitStatus: 125, description: "--env \(pair): expected K=V")
            }
            config.environment[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        if let user { config.user = try SandboxUser.parse(user) }
        config.hostname = hostname
        config.workingDirectory = workdir
        guard let mode = NetworkMode(rawValue: network) else {
            throw SandboxError(exitStatus: 125, description: "--network \(network): expected none or host")
        }
        config.network = mode
        if let memory {
            guard let bytes = ValueParser.size(memory), bytes > 0 else {
                throw SandboxError(exitStatus: 125, description: "--memory \(memory): expected a size such as 512M")
            }
            config.limits.memoryBytes = bytes
        }
        if let pids {
            guard pids > 0 else { throw SandboxError(exitStatus: 125, description: "--pids \(pids): must be positive") }
            config.limits.pids = pids
        }
        if let cpus {
            guard cpus > 0, cpus.isFinite else {
                throw SandboxError(exitStatus: 125, description: "--cpus \(cpus): must be positive")
            }
            config.limits.cpus = cpus
        }
        if let timeout {
            guard let d = ValueParser.duration(timeout), d > .zero else {
                throw SandboxError(
                    exitStatus: 125, description: "--timeout \(timeout): expected a duration such as 30s or 15m")
            }
            config.timeout = d
        }
        config.cgroupRoot = cgroupRoot
        config.allowMissingControllers = allowMissingControllers
        return config
    }

    private func fail(_ message: String) {
        var line = "ruko-run: \(message)\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
