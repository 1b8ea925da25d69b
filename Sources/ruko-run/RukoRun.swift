import ArgumentParser
import RukoSandbox

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `ruko-run [OPTIONS] -- COMMAND [ARGS...]`: one command in a fresh sandbox.
@main
struct RukoRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ruko-run",
        abstract: "Run one command in a fresh sandbox and exit with its status.",
        discussion: """
            Exit status: the command's own; 128+N when killed by signal N; 124 on timeout;
            125 when ruko-run itself fails; 126 not executable; 127 not found.
            The command runs as uid/gid 10001 (no passwd entry) unless --user says otherwise,
            with every capability dropped, no_new_privs and a seccomp filter.
            """)

    @Option(help: "Rootfs template: a name in rootfs-templates/ or a path.")
    var template = "default"

    @Option(help: "Host directory bound read-write at /app (the default working directory).")
    var app: String?

    @Option(name: .customLong("bind"), help: "Bind SRC at DST (read-only unless :rw). Repeatable.")
    var binds: [String] = []

    @Option(name: .customLong("env"), help: "Set K=V in the command's environment. Repeatable.")
    var environment: [String] = []

    @Option(name: .customLong("env-file"), help: "Read variables from a .env file.")
    var envFiles: [String] = []

    @Option(help: "Run as UID[:GID] (default 10001:10001).")
    var user: String?

    @Option(help: "Host name in the container (default: the template's, else ruko).")
    var hostname: String?

    @Option(help: "Working directory in the container (default /app with --app, else /).")
    var workdir: String?

    @Option(help: "none (a new network namespace with only lo) or host.")
    var network: String = "none"

    @Option(help: "Memory limit, e.g. 512M (cgroup memory.max; swap off).")
    var memory: String?

    @Option(help: "Maximum number of processes/threads (cgroup pids.max).")
    var pids: Int?

    @Option(help: "CPU limit in CPUs, e.g. 0.5 (cgroup cpu.max).")
    var cpus: Double?

    @Option(help: "Kill everything and exit 124 after this long, e.g. 30s, 15m.")
    var timeout: String?

    @Option(name: .customLong("cgroup-root"), help: "Delegated cgroup v2 directory for the run's cgroup.")
    var cgroupRoot: String?

    @Flag(
        name: .customLong("allow-missing-controllers"),
        help: "Warn instead of failing when a limit's controller is missing.")
    var allowMissingControllers = false

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    mutating func run() throws {
        // Everything from the first non-option is the command, so help must be caught here.
        if command == ["--help"] || command == ["-h"] || command.isEmpty {
            print(Self.helpMessage())
            if command.isEmpty { throw ExitCode(125) }
            return
        }
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
            throw ExitCode(outcome.exitStatus)
        } catch let error as SandboxError {
            fail(error.description)
            throw ExitCode(error.exitStatus)
        }
    }

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
            guard let text = try? String(readingFile: file) else {
                throw SandboxError(exitStatus: 125, description: "--env-file \(file): cannot read it")
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

extension String {
    /// Reads a whole UTF-8 file.
    init?(readingFile path: String) {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n > 0 { bytes.append(contentsOf: buf[0..<n]) }
            if n < buf.count { break }
        }
        guard ferror(f) == 0 else { return nil }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
