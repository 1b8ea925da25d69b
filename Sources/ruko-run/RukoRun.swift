import ArgumentParser
import RukoSandbox

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `ruko-run [OPTIONS] -- COMMAND [ARGS...]`: one command in a fresh sandbox. The reference
/// definition of the command line (help, errors); `FastArguments` reads the common cases faster.
struct RukoRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ruko-run",
        abstract: "Run one command in a fresh sandbox and exit with its status.",
        discussion: """
            Exit status: the command's own; 128+N when killed by signal N; 124 on timeout;
            125 when ruko-run itself fails; 126 not executable; 127 not found.
            The command runs as uid/gid 10001 (named ruko by the default template) unless
            --user says otherwise, with every capability dropped, no_new_privs and a seccomp
            filter.
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
        options.execute()
    }

    /// The parsed values as plain options.
    var options: RunOptions {
        RunOptions(
            template: template, app: app, binds: binds, environment: environment, envFiles: envFiles, user: user,
            hostname: hostname, workdir: workdir, network: network, memory: memory, pids: pids, cpus: cpus,
            timeout: timeout, cgroupRoot: cgroupRoot, allowMissingControllers: allowMissingControllers,
            command: command)
    }
}
