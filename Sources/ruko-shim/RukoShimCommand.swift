import ArgumentParser
import Foundation
import RukoShim

#if canImport(Glibc)
    import Glibc
#endif

@main
struct RukoShimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ruko-shim",
        abstract: "The git-over-SSH forced command of ruko: push to build, deploy and release.",
        discussion: "See docs/shim.md for the sshd_config, the daemon and a working setup.",
        subcommands: [
            Serve.self, Keys.self, AuthorizedKeysCommand.self, Daemon.self, DevSSHDCommand.self, Session.self,
        ])
}

/// Starts from a clean signal state: a parent (a test runner, a service manager) may have left
/// signals blocked, and blocked SIGTERM would make the daemon and its workers unstoppable.
func resetSignals() {
    var none = sigset_t()
    sigemptyset(&none)
    sigprocmask(SIG_SETMASK, &none, nil)
    signal(SIGPIPE, SIG_IGN)
}

/// Prints ` !  message` on stderr and exits 1.
func refuse(_ error: ShimError) -> Never {
    FileHandle.standardError.write(Data((error.userLine + "\n").utf8))
    exit(1)
}

func loadConfig(_ path: String?) -> ShimConfig {
    do { return try ShimConfig.load(path: path, environment: ProcessInfo.processInfo.environment) } catch {
        refuse(error)
    }
}

func selfExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The forced command: serve SSH_ORIGINAL_COMMAND for one user.",
        discussion: """
            Runs as the git login user (never root in production): it validates the command and \
            hands the SSH channel (stdin, stdout, stderr) to the root daemon over --socket. Run as \
            root without --socket, it serves the session itself.
            """)

    @Option(help: "The user id the key belongs to (set by the authorized_keys line).") var user: String
    @Option(help: "The daemon's unix socket.") var socket: String?
    @Option(help: "Configuration file (root-only mode).") var config: String?

    func run() throws {
        resetSignals()
        let original = ProcessInfo.processInfo.environment["SSH_ORIGINAL_COMMAND"]
        let command: SSHCommand
        do { command = try SSHCommand.parse(original) } catch { refuse(error) }
        guard SSHCommand.isValidUserID(user) else { refuse(ShimError("not an authorized user", code: .badUser)) }
        if socket == nil && geteuid() == 0 {
            Session.serve(command: command, user: user, config: loadConfig(config))
        }
        let path = socket ?? loadConfig(config).socketPath
        do throws(ShimError) {
            let reply = try DaemonClient.call(
                socketPath: path, DaemonRequest(op: .session, user: user, command: command.canonical), fds: [0, 1, 2])
            if let error = reply.error { refuse(ShimError(error, code: .daemon)) }
            Foundation.exit(reply.exit ?? 1)
        } catch { refuse(error) }
    }
}

struct Session: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "(internal) One git session as root; started by the daemon with the client's stdio.",
        shouldDisplay: false)

    @Option var user: String
    @Option var config: String?

    func run() throws {
        resetSignals()
        let command: SSHCommand
        do { command = try SSHCommand.parse(ProcessInfo.processInfo.environment["SSH_ORIGINAL_COMMAND"]) } catch {
            refuse(error)
        }
        Session.serve(command: command, user: user, config: loadConfig(config))
    }

    static func serve(command: SSHCommand, user: String, config: ShimConfig) -> Never {
        guard geteuid() == 0 else {
            refuse(ShimError("the session must run as root (through the daemon)", code: .configuration))
        }
        do throws(ShimError) {
            guard let hooks = findHooksDirectory(configured: config.hooksDirectory) else {
                throw ShimError(
                    "cannot find the ruko hooks directory; set hooks_dir in the shim configuration",
                    code: .configuration)
            }
            var session = PushSession(
                config: config, api: try APIClient(config: config),
                git: SandboxGitRunner(
                    template: config.template, allowMissingControllers: config.allowMissingControllers),
                builder: DefaultBuilder(config: config), archiver: DefaultArchiver(), hooksDirectory: hooks)
            // The client hanging up (sshd closes our stdout's reader) or SIGTERM from the daemon
            // stops the sandboxes; the lock, work directory and cgroups are released on the way out.
            session.cancellation = SessionStop.install(watching: session.standardOutput)
            let status = try session.run(command: command, user: user)
            Foundation.exit(status)
        } catch { refuse(error) }
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "AuthorizedKeysCommand: print the authorized_keys line for one offered key.",
        discussion: "sshd_config: AuthorizedKeysCommand /path/ruko-shim keys --socket SOCK %u %t %k")

    @Option(help: "Ask the daemon at this socket (the token stays with root).") var socket: String?
    @Option(help: "Configuration file (direct mode: needs the API token).") var config: String?
    @Option(help: "Only this login user gets keys.") var loginUser: String = "git"
    @Option(help: "The socket to put in the forced command (default: --socket).") var serveSocket: String?
    @Argument(help: "%u: the login user sshd is authenticating.") var login: String
    @Argument(help: "%t: the key type.") var type: String
    @Argument(help: "%k: the base64 key.") var key: String

    func run() throws {
        // Print nothing (deny) for other accounts or malformed keys.
        guard login == loginUser, AuthorizedKeys.isValidKeyType(type), AuthorizedKeys.isValidKeyBlob(key) else {
            return
        }
        do throws(ShimError) {
            let user: String?
            if let socket {
                let reply = try DaemonClient.call(
                    socketPath: socket, DaemonRequest(op: .lookupKey, keyType: type, key: key))
                if let error = reply.error { throw ShimError(error, code: .daemon) }
                user = reply.user
            } else {
                user = try APIClient(config: loadConfig(config)).lookupKey(type: type, key: key)?.user
            }
            guard let user else { return }
            print(
                try AuthorizedKeys.line(
                    executable: selfExecutable(), socket: serveSocket ?? socket, user: user, type: type, key: key))
        } catch {
            FileHandle.standardError.write(Data("ruko-shim keys: \(error.message)\n".utf8))
            Foundation.exit(1)
        }
    }
}

struct AuthorizedKeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authorized-keys", abstract: "Print authorized_keys lines for every key the API knows.")

    @Option var config: String?
    @Option(help: "The shim path for the forced command.") var shim: String?
    @Option(help: "The daemon socket for the forced command.") var socket: String?

    func run() throws {
        let settings = loadConfig(config)
        do throws(ShimError) {
            for entry in try APIClient(config: settings).listKeys() {
                print(
                    try AuthorizedKeys.line(
                        executable: shim ?? selfExecutable(), socket: socket ?? settings.socketPath, user: entry.user,
                        type: entry.type, key: entry.key))
            }
        } catch { refuse(error) }
    }
}

struct Daemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The root daemon: runs git sessions handed over by `serve` (SO_PEERCRED, SCM_RIGHTS).")

    @Option var config: String?
    @Option(help: "Listen here (default: socket from the configuration).") var socket: String?
    @Option(help: "Login users allowed to connect (default: login_user from the configuration).")
    var allowUser: [String] = []

    func run() throws {
        resetSignals()
        var settings = loadConfig(config)
        if let socket { settings.socketPath = socket }
        let names = allowUser.isEmpty ? [settings.loginUser] : allowUser
        var uids = Set<UInt32>()
        for name in names {
            guard let entry = getpwnam(name) else {
                refuse(
                    ShimError("no such login user `\(name)` (create it, or pass --allow-user)", code: .configuration))
            }
            uids.insert(entry.pointee.pw_uid)
        }
        guard geteuid() == 0 else { refuse(ShimError("the daemon must run as root", code: .configuration)) }
        do { _ = try settings.requireAPI() } catch { refuse(error) }
        let daemon = ShimDaemon(
            config: settings, configPath: config.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
            allowedUIDs: uids, workerExecutable: selfExecutable())
        do throws(ShimError) {
            try daemon.run { line in FileHandle.standardError.write(Data("ruko-shim daemon: \(line)\n".utf8)) }
        } catch { refuse(error) }
    }
}

struct DevSSHDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-sshd", abstract: "Run a real OpenSSH sshd wired to this shim, for local pushes and tests.")

    @Option(help: "HOST:PORT to listen on.") var listen: String
    @Option(help: "ruko-api base URL.") var api: String
    @Option(help: "ruko-api token (ruko-api token --data DIR).") var token: String
    @Option(help: "State directory (root-owned path; sshd's StrictModes).") var state: String
    @Option(help: "The unprivileged login user (created when missing).") var loginUser: String = "git"
    @Option(help: "Seconds a push waits for another deploy of the same app.") var lockTimeout: Double = 60
    @Option(help: "Rootfs template for git and builds.") var template: String = "default"
    @Option(help: "Buildpacks directory handed to the builder.") var buildpacksDir: String?
    @Option(help: "Benchmarks: a plain git login user (no forced command) on the same sshd.") var plainUser: String?
    @Option(help: "Benchmarks: the authorized_keys file of --plain-user.") var plainKeys: String?

    func run() throws {
        resetSignals()
        guard let hooks = findHooksDirectory(configured: ProcessInfo.processInfo.environment["RUKO_HOOKS_DIR"]) else {
            refuse(ShimError("cannot find the ruko hooks directory; set RUKO_HOOKS_DIR", code: .configuration))
        }
        do throws(ShimError) {
            var server = try DevSSHD(
                listen: listen, apiURL: api, token: token, stateDirectory: state, loginUser: loginUser,
                hooksSource: hooks)
            server.lockTimeout = lockTimeout
            server.template = template
            server.buildpacksDirectory = buildpacksDir
            server.plainUser = plainUser
            server.plainKeys = plainKeys
            try server.prepare(executable: selfExecutable())
            let status = try server.run { line in FileHandle.standardError.write(Data("\(line)\n".utf8)) }
            Foundation.exit(status)
        } catch { refuse(error) }
    }
}
