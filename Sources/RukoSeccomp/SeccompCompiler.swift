import CSeccomp
import RukoSystem
import _RukoCShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A compiled classic-BPF seccomp program, ready for `seccomp(SECCOMP_SET_MODE_FILTER)` in the
/// clone child (which cannot call libseccomp: it allocates).
public struct SeccompProgram: Sendable, Equatable {
    /// `struct sock_filter[]` bytes (8 bytes per instruction).
    public var bytes: [UInt8]
    /// Number of BPF instructions.
    public var instructionCount: Int { bytes.count / 8 }
    /// System calls in the profile that this kernel/libseccomp does not know (skipped).
    public var unknownSyscalls: [String]
}

/// Compiles ``SeccompProfile``s with libseccomp for the native architecture. Other architectures
/// (i386, x32 system calls on x86-64) hit libseccomp's bad-arch action: the process is killed.
public enum SeccompCompiler {
    /// The default profile, compiled once per process.
    public static let defaultProgram: Result<SeccompProgram, SystemError> = Result {
        () throws(SystemError) -> SeccompProgram in
        try compile(SeccompProfile.defaultProfile(tiocsti: UInt64(ruko_tiocsti()), tioclinux: UInt64(ruko_tioclinux())))
    }

    /// Compiles `profile` to BPF.
    public static func compile(_ profile: SeccompProfile) throws(SystemError) -> SeccompProgram {
        guard let ctx = seccomp_init(ruko_scmp_act_allow()) else {
            throw SystemError("seccomp_init", errno: ENOMEM)
        }
        defer { seccomp_release(ctx) }
        // The child sets no_new_privs itself, just before loading.
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        var unknown: [String] = []
        for rule in profile.rules {
            let nr = seccomp_syscall_resolve_name(rule.syscall)
            if nr == __NR_SCMP_ERROR {
                if !unknown.contains(rule.syscall) { unknown.append(rule.syscall) }
                continue
            }
            let conditions = rule.conditions.map {
                scmp_arg_cmp(arg: $0.argument, op: SCMP_CMP_MASKED_EQ, datum_a: $0.mask, datum_b: $0.value)
            }
            let rc = conditions.withUnsafeBufferPointer { buf in
                seccomp_rule_add_array(
                    ctx, ruko_scmp_act_errno(UInt16(rule.errno)), nr, UInt32(buf.count), buf.baseAddress)
            }
            guard rc == 0 else { throw SystemError("seccomp_rule_add \(rule.syscall)", errno: -rc) }
        }
        let fd = ruko_memfd("ruko-seccomp")
        guard fd >= 0 else { throw SystemError("memfd_create", errno: -fd) }
        defer { Syscall.close(fd) }
        let rc = seccomp_export_bpf(ctx, fd)
        guard rc == 0 else { throw SystemError("seccomp_export_bpf", errno: -rc) }
        guard lseek(fd, off_t(0), SEEK_SET) == off_t(0) else { throw SystemError("lseek memfd", errno: errno) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            switch chunk.withUnsafeMutableBytes({ Syscall.read(fd, into: $0) }) {
            case .success(0):
                return SeccompProgram(bytes: bytes, unknownSyscalls: unknown)
            case .success(let n):
                bytes.append(contentsOf: chunk[0..<n])
            case .failure(let e):
                throw SystemError("read memfd", errno: e.code)
            }
        }
    }
}
