/// What kind of file a path names (from `lstat`, so symlinks are not followed).
public enum FileKind: Sendable, Equatable {
    case directory
    case regular
    case symlink
    case other
}

/// The few kernel operations ruko's planning code needs, behind a protocol so the mount plan,
/// the cgroup manager and template loading are unit-tested without root on ``FakeKernel``.
///
/// ``LinuxKernel`` is the real implementation; each method has one call site of its system call
/// in `Syscalls.swift`.
public protocol Kernel: Sendable {
    /// `lstat(path)`: the kind of file, or nil when it does not exist.
    func fileKind(_ path: String) -> FileKind?
    /// `readlink(path)`.
    func readLink(_ path: String) throws(SystemError) -> String
    /// Reads a whole (small) file.
    func readFile(_ path: String) throws(SystemError) -> String
    /// Writes `contents` to an existing file (cgroupfs style: one write, no create, no truncate).
    func writeFile(_ path: String, _ contents: String) throws(SystemError)
    /// `mkdir(path, mode)`. Returns false when the directory already existed.
    @discardableResult
    func makeDirectory(_ path: String, mode: UInt32) throws(SystemError) -> Bool
    /// `rmdir(path)`.
    func removeDirectory(_ path: String) throws(SystemError)
    /// The names in a directory, without `.` and `..`.
    func listDirectory(_ path: String) throws(SystemError) -> [String]
    /// `statfs(path).f_type`, or nil when the path does not exist.
    func filesystemMagic(_ path: String) -> Int?
    /// Whether a process with this pid exists (`kill(pid, 0)`).
    func processExists(_ pid: Int32) -> Bool
}

/// Filesystem magic numbers ruko checks.
public enum FilesystemMagic {
    /// cgroup2 (`CGROUP2_SUPER_MAGIC`).
    public static let cgroup2 = 0x6367_7270
    /// tmpfs (`TMPFS_MAGIC`).
    public static let tmpfs = 0x0102_1994
}
