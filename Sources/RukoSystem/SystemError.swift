#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An error from the kernel: the operation that failed, the path it was about, errno, and what to do.
///
/// Every failure ruko reports from a system call carries these four parts, so a message reads like
/// `mkdir /sys/fs/cgroup/ruko: Permission denied (errno 13). Run as root or pass --cgroup-root.`
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The operation, named after the system call or the step (`mkdir`, `write cgroup.procs`).
    public var operation: String
    /// The path the operation was about, when there is one.
    public var path: String?
    /// The errno value, or 0 when the failure did not come from the kernel.
    public var errno: Int32
    /// What the user can do about it, when ruko knows.
    public var hint: String?

    /// Creates an error for `operation` on `path` with `errno`.
    public init(_ operation: String, path: String? = nil, errno: Int32, hint: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.hint = hint
    }

    /// The symbolic errno name (`ENOENT`) and its text.
    public var errnoDescription: String {
        guard errno != 0 else { return "" }
        let text = String(cString: strerror(errno))
        return "\(text) (\(SystemError.name(of: errno)), errno \(errno))"
    }

    /// One line: operation, path, errno, hint.
    public var description: String {
        var s = operation
        if let path { s += " \(path)" }
        if errno != 0 { s += ": \(errnoDescription)" }
        if let hint { s += ". \(hint)" }
        return s
    }

    /// The symbolic name of an errno value, for messages.
    public static func name(of code: Int32) -> String {
        switch code {
        case EPERM: return "EPERM"
        case ENOENT: return "ENOENT"
        case ESRCH: return "ESRCH"
        case EINTR: return "EINTR"
        case EIO: return "EIO"
        case EBADF: return "EBADF"
        case ECHILD: return "ECHILD"
        case EAGAIN: return "EAGAIN"
        case ENOMEM: return "ENOMEM"
        case EACCES: return "EACCES"
        case EFAULT: return "EFAULT"
        case EBUSY: return "EBUSY"
        case EEXIST: return "EEXIST"
        case EXDEV: return "EXDEV"
        case ENOTDIR: return "ENOTDIR"
        case EISDIR: return "EISDIR"
        case EINVAL: return "EINVAL"
        case EMFILE: return "EMFILE"
        case ENOSPC: return "ENOSPC"
        case EROFS: return "EROFS"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case ENOSYS: return "ENOSYS"
        case ENOTEMPTY: return "ENOTEMPTY"
        case ELOOP: return "ELOOP"
        case ENOEXEC: return "ENOEXEC"
        case E2BIG: return "E2BIG"
        case ETXTBSY: return "ETXTBSY"
        case EOPNOTSUPP: return "EOPNOTSUPP"
        default: return "E\(code)"
        }
    }
}

/// A bare errno value, for the low-level `Result`s of ``Syscall``.
public struct Errno: Error, Equatable, Sendable {
    /// The errno code.
    public var code: Int32
    /// Wraps `code`.
    public init(_ code: Int32) { self.code = code }
}
