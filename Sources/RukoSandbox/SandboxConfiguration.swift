import RukoCgroup

/// A host path bound into the container.
public struct BindMount: Sendable, Equatable {
    /// Host path.
    public var source: String
    /// Absolute path in the container.
    public var destination: String
    /// Read-only (default) or read-write.
    public var readOnly: Bool

    /// Creates a bind of `source` at `destination`.
    public init(source: String, destination: String, readOnly: Bool = true) {
        self.source = source
        self.destination = destination
        self.readOnly = readOnly
    }

    /// Parses `SRC:DST[:ro|rw]` (the `--bind` option). Default read-only.
    public static func parse(_ spec: String) throws(SandboxError) -> BindMount {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, parts[1].hasPrefix("/") else {
            throw SandboxError.usage("--bind \(spec): expected SRC:DST[:ro|rw] with an absolute DST")
        }
        var readOnly = true
        if parts.count == 3 {
            switch parts[2] {
            case "ro": readOnly = true
            case "rw": readOnly = false
            default: throw SandboxError.usage("--bind \(spec): mode must be ro or rw, not '\(parts[2])'")
            }
        }
        return BindMount(source: parts[0], destination: parts[1], readOnly: readOnly)
    }
}

/// cgroup limits for a run. Each needs its controller in the cgroup v2 hierarchy.
public typealias ResourceLimits = CgroupLimits

/// The container's network.
public enum NetworkMode: String, Sendable, CaseIterable {
    /// A new network namespace with only `lo`, up.
    case none
    /// The host's network namespace.
    case host
}

/// The uid/gid the command runs as.
public struct SandboxUser: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32

    /// Creates a user.
    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    /// 10001:10001, unprivileged, with no entry in the host's /etc/passwd.
    public static let `default` = SandboxUser(uid: 10001, gid: 10001)

    /// Parses `UID[:GID]` (the `--user` option); the gid defaults to the uid.
    public static func parse(_ spec: String) throws(SandboxError) -> SandboxUser {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let uid = UInt32(parts[0]), uid != UInt32.max else {
            throw SandboxError.usage("--user \(spec): expected numeric UID[:GID]")
        }
        guard parts.count == 2 else { return SandboxUser(uid: uid, gid: uid) }
        guard let gid = UInt32(parts[1]), gid != UInt32.max else {
            throw SandboxError.usage("--user \(spec): expected numeric UID[:GID]")
        }
        return SandboxUser(uid: uid, gid: gid)
    }
}

/// Everything about one sandboxed run.
public struct SandboxConfiguration: Sendable {
    /// argv; `argv[0]` is searched in the command's PATH when it has no slash.
    public var command: [String]
    /// The container layout.
    public var template: RootfsTemplate
    /// Host directory bound read-write at the template's app destination (`/app`).
    public var appDirectory: String?
    /// Extra binds, after the template's.
    public var binds: [BindMount] = []
    /// The command's environment, over the template's defaults (PATH, LANG, HOME).
    public var environment: [String: String] = [:]
    /// The uid/gid of the command.
    public var user: SandboxUser = .default
    /// Host name in the container.
    public var hostname: String?
    /// Working directory; default the app destination with an app, else `/`.
    public var workingDirectory: String?
    /// Network namespace.
    public var network: NetworkMode = .none
    /// cgroup limits.
    public var limits = ResourceLimits()
    /// Kill everything and report 124 after this long.
    public var timeout: Duration?
    /// Delegated cgroup root; nil finds it.
    public var cgroupRoot: String?
    /// Turn a missing controller into a warning instead of an error.
    public var allowMissingControllers = false
    /// fd passed to the command as its stdin.
    public var standardInput: Int32 = 0
    /// fd passed to the command as its stdout.
    public var standardOutput: Int32 = 1
    /// fd passed to the command as its stderr.
    public var standardError: Int32 = 2
    /// The directory the container's root is built on (inside its own mount namespace).
    public var rootfsMountPoint = "/run/ruko/rootfs"

    /// Creates a configuration to run `command` in `template`.
    public init(command: [String], template: RootfsTemplate) {
        self.command = command
        self.template = template
    }
}

/// How a sandboxed command ended.
public struct SandboxOutcome: Sendable, Equatable {
    /// The way it ended.
    public enum Termination: Sendable, Equatable {
        /// Exited with this code.
        case exited(Int32)
        /// Killed by this signal.
        case signaled(Int32)
        /// The timeout fired; everything in its cgroup was killed.
        case timedOut
        /// ``SandboxCancellation/cancel()`` was called.
        case cancelled
    }
    /// The way it ended.
    public var termination: Termination
    /// The kernel's OOM killer killed a process of the run (memory.events `oom_kill`).
    public var oomKilled: Bool
    /// Warnings (limits not enforced with `allowMissingControllers`).
    public var warnings: [String]

    /// ruko-run's exit status: the code, 128+N for signal N, 124 on timeout, 130 when cancelled.
    public var exitStatus: Int32 {
        switch termination {
        case .exited(let code): return code
        case .signaled(let sig): return 128 + sig
        case .timedOut: return 124
        case .cancelled: return 130
        }
    }
}

/// A failure of the sandbox itself (not of the command).
public struct SandboxError: Error, CustomStringConvertible, Sendable, Equatable {
    /// 125 runtime failure, 126 command not executable, 127 command not found.
    public var exitStatus: Int32
    /// What failed, errno, path, what to do.
    public var description: String

    /// Creates an error.
    public init(exitStatus: Int32, description: String) {
        self.exitStatus = exitStatus
        self.description = description
    }

    static func usage(_ message: String) -> SandboxError { SandboxError(exitStatus: 125, description: message) }
}
