import _RukoCShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The system calls ruko makes from Swift, one call site each. EINTR is retried in exactly one
/// place (``Syscall/retryingEINTR(_:)``). Failures become ``SystemError`` with the operation and path.
public enum Syscall {
    /// Runs `body` until it does not fail with EINTR; returns its result or the errno it failed with.
    @inline(__always)
    static func retryingEINTR<T: BinaryInteger>(_ body: () -> T) -> Result<T, Errno> {
        while true {
            let rc = body()
            if rc >= 0 { return .success(rc) }
            let e = errno
            if e != EINTR { return .failure(Errno(e)) }
        }
    }

    /// `open(path, flags | O_CLOEXEC, mode)`. The corresponding C function is `open`.
    public static func open(_ path: String, _ flags: Int32, mode: UInt32 = 0o644) throws(SystemError) -> Int32 {
        switch retryingEINTR({ Glibc.open(path, flags | O_CLOEXEC, mode) }) {
        case .success(let fd): return fd
        case .failure(let e): throw SystemError("open", path: path, errno: e.code)
        }
    }

    /// `close(fd)`; errors are ignored (the fd is gone either way on Linux).
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// `read(fd, buffer, count)`. Returns 0 at end of file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
        retryingEINTR { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// `write(fd, bytes)` until everything is written.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Result<Void, Errno> {
        var offset = 0
        while offset < bytes.count {
            switch retryingEINTR({ Glibc.write(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset) }) {
            case .success(let n): offset += n
            case .failure(let e): return .failure(e)
            }
        }
        return .success(())
    }

    /// `poll(fds, timeout)`. Returns the number of ready fds (0 on timeout).
    public static func poll(_ fds: inout [pollfd], timeoutMilliseconds: Int32) -> Result<Int32, Errno> {
        let count = fds.count
        return fds.withUnsafeMutableBufferPointer { buf in
            retryingEINTR { Glibc.poll(buf.baseAddress, nfds_t(count), timeoutMilliseconds) }
        }
    }

    /// `lstat(path)`: the file kind, or nil when missing.
    public static func fileKind(_ path: String) -> FileKind? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .regular
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    /// `stat(path)` following symlinks: the file kind, or nil when missing.
    public static func fileKindFollowing(_ path: String) -> FileKind? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .regular
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    /// `readlink(path)`.
    public static func readLink(_ path: String) throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buffer, 4096)
        guard n >= 0 else { throw SystemError("readlink", path: path, errno: errno) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `mkdir(path, mode)`. Returns false when it already existed.
    public static func makeDirectory(_ path: String, mode: UInt32) throws(SystemError) -> Bool {
        if mkdir(path, mode) == 0 { return true }
        let e = errno
        if e == EEXIST { return false }
        throw SystemError("mkdir", path: path, errno: e)
    }

    /// `rmdir(path)`.
    public static func removeDirectory(_ path: String) throws(SystemError) {
        guard rmdir(path) == 0 else { throw SystemError("rmdir", path: path, errno: errno) }
    }

    /// `statfs(path).f_type`.
    public static func filesystemMagic(_ path: String) -> Int? {
        let magic = ruko_statfs_type(path)
        return magic < 0 ? nil : Int(magic)
    }

    /// `kill(pid, sig)`. Returns errno on failure.
    public static func kill(_ pid: Int32, _ signal: Int32) -> Int32 {
        Glibc.kill(pid, signal) == 0 ? 0 : errno
    }

    /// `opendir`/`readdir`: the names in a directory.
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError("opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// `unlink(path)`.
    public static func unlink(_ path: String) throws(SystemError) {
        guard Glibc.unlink(path) == 0 else { throw SystemError("unlink", path: path, errno: errno) }
    }

    /// `pipe2(O_CLOEXEC)`: (read end, write end).
    public static func pipe() throws(SystemError) -> (read: Int32, write: Int32) {
        var fds: (Int32, Int32) = (-1, -1)
        let rc = withUnsafeMutablePointer(to: &fds) {
            $0.withMemoryRebound(to: Int32.self, capacity: 2) { ruko_pipe_cloexec($0) }
        }
        guard rc == 0 else { throw SystemError("pipe2", errno: -rc) }
        return (fds.0, fds.1)
    }
}

extension Syscall {
    /// Reads a whole file through an fd (small files: cgroupfs, /proc, templates). More than
    /// `limit` bytes (a runaway file, `/dev/zero`) is an EFBIG error, never an unbounded read.
    public static func readFile(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> String {
        let fd = try open(path, O_RDONLY | O_NONBLOCK)  // a FIFO must not block the caller
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let result = chunk.withUnsafeMutableBytes { read(fd, into: $0) }
            switch result {
            case .success(0): return String(decoding: bytes, as: UTF8.self)
            case .success(let n):
                bytes.append(contentsOf: chunk[0..<n])
                if bytes.count > limit {
                    throw SystemError(
                        "read", path: path, errno: EFBIG,
                        hint: "the file is larger than \(limit) bytes; is it the right file?")
                }
            case .failure(let e): throw SystemError("read", path: path, errno: e.code)
            }
        }
    }

    /// Writes `contents` to an existing file in one write (cgroupfs semantics: no create).
    public static func writeFile(_ path: String, _ contents: String) throws(SystemError) {
        let fd = try open(path, O_WRONLY)
        defer { close(fd) }
        var text = contents
        let result = text.withUTF8 { writeAll(fd, UnsafeRawBufferPointer($0)) }
        if case .failure(let e) = result { throw SystemError("write", path: path, errno: e.code) }
    }
}

/// The real kernel.
public struct LinuxKernel: Kernel {
    /// Creates the real kernel handle.
    public init() {}
    public func fileKind(_ path: String) -> FileKind? { Syscall.fileKind(path) }
    public func readLink(_ path: String) throws(SystemError) -> String { try Syscall.readLink(path) }
    public func readFile(_ path: String) throws(SystemError) -> String { try Syscall.readFile(path) }
    public func writeFile(_ path: String, _ contents: String) throws(SystemError) {
        try Syscall.writeFile(path, contents)
    }
    @discardableResult
    public func makeDirectory(_ path: String, mode: UInt32) throws(SystemError) -> Bool {
        try Syscall.makeDirectory(path, mode: mode)
    }
    public func removeDirectory(_ path: String) throws(SystemError) { try Syscall.removeDirectory(path) }
    public func listDirectory(_ path: String) throws(SystemError) -> [String] { try Syscall.listDirectory(path) }
    public func filesystemMagic(_ path: String) -> Int? { Syscall.filesystemMagic(path) }
    public func processExists(_ pid: Int32) -> Bool {
        let e = Syscall.kill(pid, 0)
        return e == 0 || e == EPERM
    }
}
