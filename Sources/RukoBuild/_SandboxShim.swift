// TEMPORARY: stands in for RukoSandbox (lead's, not yet on main) with the documented API from
// /work/sandbox-api.md, implemented on bubblewrap + setpriv. Deleted when main has RukoSandbox.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public struct BindMount: Sendable, Equatable {
    public var source: String
    public var destination: String
    public var readOnly: Bool
    public init(source: String, destination: String, readOnly: Bool = true) {
        self.source = source
        self.destination = destination
        self.readOnly = readOnly
    }
}

public struct ResourceLimits: Sendable, Equatable {
    public var memoryBytes: UInt64?
    public var pids: Int?
    public var cpus: Double?
    public init(memoryBytes: UInt64? = nil, pids: Int? = nil, cpus: Double? = nil) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.cpus = cpus
    }
}

public enum NetworkMode: String, Sendable { case none, host }

public struct SandboxUser: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
    public static let `default` = SandboxUser(uid: 10001, gid: 10001)
}

public struct RootfsTemplate: Sendable {
    public var name: String
    public static func named(_ name: String) throws(SandboxError) -> RootfsTemplate { RootfsTemplate(name: name) }
}

public struct SandboxConfiguration: Sendable {
    public var command: [String]
    public var template: RootfsTemplate
    public var appDirectory: String?
    public var binds: [BindMount] = []
    public var environment: [String: String] = [:]
    public var user: SandboxUser = .default
    public var hostname: String = "ruko"
    public var workingDirectory: String?
    public var network: NetworkMode = .none
    public var limits = ResourceLimits()
    public var timeout: Duration?
    public var cgroupRoot: String?
    public var allowMissingControllers = false
    public var standardInput: Int32 = 0
    public var standardOutput: Int32 = 1
    public var standardError: Int32 = 2
    public init(command: [String], template: RootfsTemplate) {
        self.command = command
        self.template = template
    }
}

public struct SandboxOutcome: Sendable {
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        case timedOut
        case cancelled
    }
    public var termination: Termination
    public var oomKilled: Bool
    public var exitStatus: Int32
    public var warnings: [String]
}

public struct SandboxError: Error, CustomStringConvertible, Sendable {
    public var exitStatus: Int32
    public var description: String
}

public enum Sandbox {
    public static func run(_ configuration: SandboxConfiguration) throws(SandboxError) -> SandboxOutcome {
        var arguments = [
            "/usr/bin/bwrap", "--die-with-parent", "--unshare-ipc", "--unshare-pid", "--unshare-uts",
            "--unshare-cgroup-try", "--hostname", configuration.hostname,
        ]
        if configuration.network == .none { arguments.append("--unshare-net") }
        for path in ["/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc"] {
            arguments += ["--ro-bind-try", path, path]
        }
        arguments += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        if let app = configuration.appDirectory { arguments += ["--bind", app, "/app"] }
        var parents = Set<String>()
        for bind in configuration.binds {
            var parent = (bind.destination as NSString).deletingLastPathComponent
            while parent != "/" && parent != "" && !["/usr", "/etc", "/tmp"].contains(parent) && parents.insert(parent).inserted {
                arguments += ["--perms", "0755", "--dir", parent]
                parent = (parent as NSString).deletingLastPathComponent
            }
        }
        for bind in configuration.binds {
            arguments += [bind.readOnly ? "--ro-bind" : "--bind", bind.source, bind.destination]
        }
        arguments += ["--chdir", configuration.workingDirectory ?? (configuration.appDirectory == nil ? "/" : "/app")]
        arguments += ["--clearenv"]
        for (key, value) in configuration.environment.sorted(by: { $0.key < $1.key }) {
            arguments += ["--setenv", key, value]
        }
        arguments += [
            "--", "/usr/bin/setpriv", "--reuid", "\(configuration.user.uid)", "--regid", "\(configuration.user.gid)",
            "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--",
        ]
        arguments += configuration.command

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, configuration.standardInput, 0)
        posix_spawn_file_actions_adddup2(&actions, configuration.standardOutput, 1)
        posix_spawn_file_actions_adddup2(&actions, configuration.standardError, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw SandboxError(exitStatus: 125, description: "posix_spawn(bwrap): \(String(cString: strerror(result)))")
        }
        let timedOut = TimeoutFlag()
        if let timeout = configuration.timeout {
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            let target = pid
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
                if timedOut.fire() { kill(-target, SIGKILL) }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let fired = !timedOut.finish()
        if fired { return SandboxOutcome(termination: .timedOut, oomKilled: false, exitStatus: 124, warnings: []) }
        if status & 0x7f == 0 {
            let code = (status >> 8) & 0xff
            return SandboxOutcome(termination: .exited(code), oomKilled: false, exitStatus: code, warnings: [])
        }
        let signal = status & 0x7f
        return SandboxOutcome(termination: .signaled(signal), oomKilled: false, exitStatus: 128 + signal, warnings: [])
    }
}

private final class TimeoutFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    private var fired = false
    func fire() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        fired = true
        return true
    }
    /// Returns true when the timer had not fired.
    func finish() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        done = true
        return !fired
    }
}
