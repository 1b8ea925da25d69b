import RukoMount
import RukoSystem
import _RukoCShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Namespace flags for ``SpawnRequest/namespaces`` (CLONE_NEW*).
public enum Namespace {
    public static let mount: UInt64 = 0x0002_0000
    public static let uts: UInt64 = 0x0400_0000
    public static let ipc: UInt64 = 0x0800_0000
    public static let user: UInt64 = 0x1000_0000
    public static let pid: UInt64 = 0x2000_0000
    public static let network: UInt64 = 0x4000_0000
    public static let cgroup: UInt64 = 0x0200_0000
}

/// A resource limit for the command.
public struct ResourceLimit: Sendable, Equatable {
    /// RLIMIT_* number.
    public var resource: Int32
    public var soft: UInt64
    public var hard: UInt64

    /// Creates a limit.
    public init(resource: Int32, soft: UInt64, hard: UInt64) {
        self.resource = resource
        self.soft = soft
        self.hard = hard
    }
}

/// Everything needed to clone a container's init, as plain Swift data. ``Spawner`` flattens it
/// into `struct ruko_spawn_config` for the C child.
public struct SpawnRequest: Sendable {
    public var namespaces: UInt64
    public var cgroupDescriptor: Int32 = -1
    public var rootfs: String
    public var rootfsOptions = "mode=0755,size=1m"
    public var steps: [MountStep] = []
    public var hostname: String?
    public var loopbackUp = false
    public var readOnlyRoot = true
    /// Use bind remounts instead of mount_setattr (the pre-5.12 path), for tests.
    public var forceRemountFallback = false
    public var arguments: [String]
    public var environment: [String] = []
    public var searchPath = "/usr/local/bin:/usr/bin:/bin"
    public var workingDirectory = "/"
    public var uid: UInt32 = 65534
    public var gid: UInt32 = 65534
    public var supplementaryGroups: [UInt32] = []
    public var standardIO: (Int32, Int32, Int32) = (0, 1, 2)
    public var resourceLimits: [ResourceLimit] = []
    public var lastCapability: Int32 = 40
    public var seccompFilter: [UInt8] = []

    /// Creates a request to run `arguments` with `namespaces`, building the root on `rootfs`.
    public init(namespaces: UInt64, rootfs: String, arguments: [String]) {
        self.namespaces = namespaces
        self.rootfs = rootfs
        self.arguments = arguments
    }
}

/// A started container: its init's pid and pidfd, and the pipes to it.
public struct SpawnedContainer: Sendable {
    /// init's pid in the parent's pid namespace.
    public var pid: Int32
    /// init's pidfd (poll it for exit).
    public var pidfd: Int32
    /// The report pipe's read end.
    public var reportDescriptor: Int32
    /// The lifeline's write end: kept open while the container may start.
    public var lifelineDescriptor: Int32
}

/// What the container reported on its report pipe.
public enum ContainerReport: Sendable, Equatable {
    /// Setup failed at `stage` with `errno`; `index` is the mount step (or -1).
    case setupFailed(stage: Int32, errno: Int32, index: Int32)
    /// execve failed with `errno`.
    case execFailed(errno: Int32)
    /// The command ended with wait status `status`.
    case exited(status: Int32)
}

/// Clones the container's init through the C child (`ruko_spawn`).
public enum Spawner {
    /// Starts the container. The C child does the namespace, mount and credential work.
    public static func spawn(_ request: SpawnRequest) throws(SystemError) -> SpawnedContainer {
        var arena = CStringArena()
        defer { arena.free() }
        var ops = request.steps.map { arena.op(for: $0) }
        let argv = arena.array(request.arguments)
        let envp = arena.array(request.environment)
        let rootfs = arena.string(request.rootfs)
        let rootfsData = arena.string(request.rootfsOptions)
        let hostname = request.hostname.map { arena.string($0) }
        let path = arena.string(request.searchPath)
        let workdir = arena.string(request.workingDirectory)
        var groups = request.supplementaryGroups
        var rlimits = request.resourceLimits.map { ruko_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }
        var filter = request.seccompFilter
        var handle = ruko_spawn_handle()
        let rc: Int32 = ops.withUnsafeMutableBufferPointer { opsBuf in
            groups.withUnsafeMutableBufferPointer { groupsBuf in
                rlimits.withUnsafeMutableBufferPointer { rlBuf in
                    filter.withUnsafeMutableBytes { filterBuf in
                        var config = ruko_spawn_config(
                            namespaces: request.namespaces,
                            cgroup_fd: request.cgroupDescriptor,
                            rootfs: rootfs,
                            rootfs_data: rootfsData,
                            ops: UnsafePointer(opsBuf.baseAddress),
                            n_ops: opsBuf.count,
                            hostname: hostname,
                            loopback_up: request.loopbackUp ? 1 : 0,
                            readonly_root: request.readOnlyRoot ? 1 : 0,
                            force_remount_fallback: request.forceRemountFallback ? 1 : 0,
                            argv: argv,
                            envp: envp,
                            path: path,
                            workdir: workdir,
                            uid: request.uid,
                            gid: request.gid,
                            groups: UnsafePointer(groupsBuf.baseAddress),
                            n_groups: groupsBuf.count,
                            stdio: (request.standardIO.0, request.standardIO.1, request.standardIO.2),
                            rlimits: UnsafePointer(rlBuf.baseAddress),
                            n_rlimits: rlBuf.count,
                            last_cap: request.lastCapability,
                            seccomp_filter: UnsafeRawPointer(filterBuf.baseAddress),
                            seccomp_len: filterBuf.count / 8)
                        return ruko_spawn(&config, &handle)
                    }
                }
            }
        }
        guard rc == 0 else {
            throw SystemError(
                "clone3 (container init)", errno: -rc,
                hint: -rc == EPERM
                    ? "creating namespaces needs root (CAP_SYS_ADMIN)"
                    : -rc == ENOSYS
                        ? "this kernel lacks clone3 with CLONE_INTO_CGROUP (Linux 5.7 or newer is needed)" : nil)
        }
        return SpawnedContainer(
            pid: handle.pid, pidfd: handle.pidfd, reportDescriptor: handle.report_fd,
            lifelineDescriptor: handle.lifeline_fd)
    }

    /// Reads every record left on the report pipe (call after init has exited).
    public static func readReports(_ fd: Int32) -> [ContainerReport] {
        var reports: [ContainerReport] = []
        var record = ruko_report()
        let size = MemoryLayout<ruko_report>.size
        while true {
            let result = withUnsafeMutableBytes(of: &record) { Syscall.read(fd, into: $0) }
            guard case .success(let n) = result, n == size else { return reports }
            switch record.type {
            case Int32(RUKO_REPORT_SETUP_ERROR.rawValue):
                reports.append(.setupFailed(stage: record.stage, errno: record.err, index: record.index))
            case Int32(RUKO_REPORT_EXEC_ERROR.rawValue):
                reports.append(.execFailed(errno: record.err))
            case Int32(RUKO_REPORT_EXIT.rawValue):
                reports.append(.exited(status: record.status))
            default:
                continue
            }
        }
    }

    /// A readable name for a setup stage.
    public static func stageName(_ stage: Int32) -> String {
        let names: [UInt32: String] = [
            RUKO_STAGE_PARENT_GONE.rawValue: "set parent-death signal",
            RUKO_STAGE_PROPAGATION.rawValue: "make / a slave mount (mount propagation)",
            RUKO_STAGE_ROOT_TMPFS.rawValue: "mount the root tmpfs",
            RUKO_STAGE_MOUNT_OP.rawValue: "mount",
            RUKO_STAGE_HOSTNAME.rawValue: "sethostname",
            RUKO_STAGE_LOOPBACK.rawValue: "bring up lo",
            RUKO_STAGE_PIVOT_ROOT.rawValue: "pivot_root",
            RUKO_STAGE_DETACH_OLD_ROOT.rawValue: "detach the old root",
            RUKO_STAGE_READONLY_ROOT.rawValue: "make the root read-only",
            RUKO_STAGE_FORK.rawValue: "fork the command",
            RUKO_STAGE_STDIO.rawValue: "set up stdin/stdout/stderr",
            RUKO_STAGE_SETSID.rawValue: "setsid",
            RUKO_STAGE_RLIMIT.rawValue: "setrlimit",
            RUKO_STAGE_CHDIR.rawValue: "chdir to the working directory",
            RUKO_STAGE_CAPBSET.rawValue: "drop capabilities from the bounding/ambient sets",
            RUKO_STAGE_SETGROUPS.rawValue: "setgroups",
            RUKO_STAGE_SETGID.rawValue: "setresgid",
            RUKO_STAGE_SETUID.rawValue: "setresuid",
            RUKO_STAGE_CAPSET.rawValue: "capset (clear capabilities)",
            RUKO_STAGE_NO_NEW_PRIVS.rawValue: "prctl(PR_SET_NO_NEW_PRIVS)",
            RUKO_STAGE_SECCOMP.rawValue: "load the seccomp filter",
            RUKO_STAGE_CLOSE_FDS.rawValue: "close inherited file descriptors",
            RUKO_STAGE_SIGNALS.rawValue: "install init's signal handlers",
        ]
        return names[UInt32(bitPattern: stage)] ?? "container setup stage \(stage)"
    }
}

/// C strings and op structs that live until the clone has happened.
struct CStringArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    mutating func string(_ s: String) -> UnsafePointer<CChar> {
        let p = strdup(s) ?? UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        allocations.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    mutating func array(_ strings: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let p = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { p[i] = string(s) }
        p[strings.count] = nil
        allocations.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    mutating func op(for step: MountStep) -> ruko_mount_op {
        var op = ruko_mount_op()
        switch step {
        case .makeDirectory(let path, let mode):
            op.kind = Int32(RUKO_OP_MKDIR.rawValue)
            op.target = string(path)
            op.mode = mode
        case .symlink(let target, let path):
            op.kind = Int32(RUKO_OP_SYMLINK.rawValue)
            op.source = string(target)
            op.target = string(path)
        case .mount(let source, let target, let fstype, let flags, let data):
            op.kind = Int32(RUKO_OP_MOUNT.rawValue)
            op.source = string(source)
            op.target = string(target)
            op.fstype = string(fstype)
            op.flags = flags
            op.data = data.map { string($0) }
        case .bind(let source, let target, let recursive, let flags, let optional):
            op.kind = Int32(RUKO_OP_BIND.rawValue)
            op.source = string(source)
            op.target = string(target)
            op.recursive = recursive ? 1 : 0
            op.flags = flags
            op.optional = optional ? 1 : 0
        case .setAttributes(let target, let set, let clear, let recursive, let optional):
            op.kind = Int32(RUKO_OP_SETATTR.rawValue)
            op.target = string(target)
            op.attr_set = set
            op.attr_clr = clear
            op.recursive = recursive ? 1 : 0
            op.optional = optional ? 1 : 0
        case .mask(let target):
            op.kind = Int32(RUKO_OP_MASK.rawValue)
            op.target = string(target)
        case .writeFile(let staging, let target, let contents, let mode):
            op.kind = Int32(RUKO_OP_WRITEFILE.rawValue)
            op.source = string(staging)
            op.target = string(target)
            op.data = string(contents)
            op.mode = mode
        }
        return op
    }

    mutating func free() {
        for p in allocations { Glibc.free(p) }
        allocations = []
    }
}
