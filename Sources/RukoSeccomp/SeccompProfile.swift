#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A condition on one system-call argument.
public struct SeccompCondition: Sendable, Equatable {
    /// Argument index (0-5).
    public var argument: UInt32
    /// `(arg & mask) == value`.
    public var mask: UInt64
    /// The value compared against.
    public var value: UInt64

    /// Matches when `(arg[argument] & mask) == value`.
    public static func masked(_ argument: UInt32, mask: UInt64, equals value: UInt64) -> SeccompCondition {
        SeccompCondition(argument: argument, mask: mask, value: value)
    }

    /// Matches when `arg[argument] == value`.
    public static func equals(_ argument: UInt32, _ value: UInt64) -> SeccompCondition {
        SeccompCondition(argument: argument, mask: .max, value: value)
    }
}

/// One rule: the action for a system call, optionally only when all conditions hold.
public struct SeccompRule: Sendable, Equatable {
    /// The system call name (resolved for the native architecture when compiled).
    public var syscall: String
    /// The errno returned instead of running the call.
    public var errno: Int32
    /// All must hold for the rule to apply (empty = always).
    public var conditions: [SeccompCondition]

    /// A rule returning `errno` for `syscall` when all `conditions` hold.
    public init(_ syscall: String, errno: Int32 = EPERM, when conditions: [SeccompCondition] = []) {
        self.syscall = syscall
        self.errno = errno
        self.conditions = conditions
    }
}

/// A seccomp profile: allow by default, refuse what untrusted code must not do.
public struct SeccompProfile: Sendable, Equatable {
    /// The rules, compiled in order.
    public var rules: [SeccompRule]

    /// Creates a profile from rules.
    public init(rules: [SeccompRule]) {
        self.rules = rules
    }

    /// System calls refused with EPERM outright (the moby default profile's list for a process with
    /// no capabilities, plus `ptrace` for untrusted builds).
    public static let deniedSyscalls: [String] = [
        "mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns",
        "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
        "bpf", "perf_event_open", "userfaultfd",
        "keyctl", "add_key", "request_key",
        "kexec_load", "kexec_file_load", "reboot",
        "init_module", "finit_module", "delete_module", "create_module", "get_kernel_syms", "query_module",
        "io_uring_setup", "io_uring_enter", "io_uring_register",
        "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog",
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
        "name_to_handle_at", "open_by_handle_at", "lookup_dcookie",
        "iopl", "ioperm", "uselib", "nfsservctl", "vhangup",
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
    ]

    /// Namespace flags `clone` may not carry (CLONE_NEWNS … CLONE_NEWTIME).
    public static let namespaceCloneFlags: [UInt64] = [
        0x0002_0000,  // CLONE_NEWNS
        0x0400_0000,  // CLONE_NEWUTS
        0x0800_0000,  // CLONE_NEWIPC
        0x1000_0000,  // CLONE_NEWUSER
        0x2000_0000,  // CLONE_NEWPID
        0x4000_0000,  // CLONE_NEWNET
        0x0200_0000,  // CLONE_NEWCGROUP
        0x0000_0080,  // CLONE_NEWTIME
    ]

    /// ruko's default profile (see contracts.md): EPERM for the calls above, `clone` with any
    /// namespace flag, `ioctl(TIOCSTI)` and `ioctl(TIOCLINUX)` (low 32 bits compared), sockets of
    /// AF_ALG and AF_VSOCK; ENOSYS for `clone3` so libc falls back to `clone`, whose flags can be checked.
    public static func defaultProfile(tiocsti: UInt64, tioclinux: UInt64) -> SeccompProfile {
        var rules = deniedSyscalls.map { SeccompRule($0) }
        for flag in namespaceCloneFlags {
            rules.append(SeccompRule("clone", when: [.masked(0, mask: flag, equals: flag)]))
        }
        rules.append(SeccompRule("clone3", errno: ENOSYS))
        rules.append(SeccompRule("ioctl", when: [.masked(1, mask: 0xffff_ffff, equals: tiocsti)]))
        rules.append(SeccompRule("ioctl", when: [.masked(1, mask: 0xffff_ffff, equals: tioclinux)]))
        rules.append(SeccompRule("socket", errno: EAFNOSUPPORT, when: [.equals(0, 38)]))  // AF_ALG
        rules.append(SeccompRule("socket", errno: EAFNOSUPPORT, when: [.equals(0, 40)]))  // AF_VSOCK
        return SeccompProfile(rules: rules)
    }
}
