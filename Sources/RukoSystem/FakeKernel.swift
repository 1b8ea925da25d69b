import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An in-memory ``Kernel`` for unit tests: a tree of directories, files and symlinks, a set of live
/// pids, filesystem magic numbers per path prefix, and a log of every mutating call.
public final class FakeKernel: Kernel {
    private struct State {
        var directories: Set<String> = ["/"]
        var files: [String: String] = [:]
        var symlinks: [String: String] = [:]
        var magic: [String: Int] = [:]
        var pids: Set<Int32> = []
        var failures: [String: Int32] = [:]
        var calls: [String] = []
        /// Called after a write; lets a test model cgroupfs side effects.
        var onWrite: (@Sendable (String, String) -> Void)?
    }
    private let state = Mutex(State())

    /// Creates an empty fake with only `/`.
    public init() {}

    /// Every mutating call, in order (`mkdir /a`, `write /a/b 1`, `rmdir /a`).
    public var calls: [String] { state.withLock { $0.calls } }

    /// Adds a directory and its parents.
    public func addDirectory(_ path: String) {
        state.withLock { s in
            var p = ""
            for part in path.split(separator: "/") {
                p += "/\(part)"
                s.directories.insert(p)
            }
        }
    }

    /// Adds a file (and its parent directories) with `contents`.
    public func addFile(_ path: String, _ contents: String = "") {
        addDirectory(parent(of: path))
        state.withLock { $0.files[path] = contents }
    }

    /// Adds a symlink at `path` pointing to `target`.
    public func addSymlink(_ path: String, target: String) {
        addDirectory(parent(of: path))
        state.withLock { $0.symlinks[path] = target }
    }

    /// Says which filesystem `path` (and everything below it) is on.
    public func setMagic(_ path: String, _ magic: Int) { state.withLock { $0.magic[path] = magic } }

    /// Marks a pid as alive.
    public func addProcess(_ pid: Int32) { state.withLock { _ = $0.pids.insert(pid) } }

    /// Makes the next operations on `path` fail with `errno` (until cleared with 0).
    public func failOperations(on path: String, errno: Int32) {
        state.withLock { $0.failures[path] = errno == 0 ? nil : errno }
    }

    /// Installs a hook run after every successful write.
    public func onWrite(_ hook: @escaping @Sendable (String, String) -> Void) { state.withLock { $0.onWrite = hook } }

    /// The current contents of a file, if it exists.
    public func contents(of path: String) -> String? { state.withLock { $0.files[path] } }

    /// Whether a directory exists.
    public func directoryExists(_ path: String) -> Bool { state.withLock { $0.directories.contains(path) } }

    private func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    public func fileKind(_ path: String) -> FileKind? {
        state.withLock { s in
            if s.symlinks[path] != nil { return .symlink }
            if s.directories.contains(path) { return .directory }
            if s.files[path] != nil { return .regular }
            return nil
        }
    }

    public func readLink(_ path: String) throws(SystemError) -> String {
        guard let target = state.withLock({ $0.symlinks[path] }) else {
            throw SystemError("readlink", path: path, errno: EINVAL)
        }
        return target
    }

    public func readFile(_ path: String) throws(SystemError) -> String {
        let result: Result<String, SystemError> = state.withLock { s in
            if let e = s.failures[path] { return .failure(SystemError("open", path: path, errno: e)) }
            guard let text = s.files[path] else { return .failure(SystemError("open", path: path, errno: ENOENT)) }
            return .success(text)
        }
        return try result.get()
    }

    public func writeFile(_ path: String, _ contents: String) throws(SystemError) {
        let hook: (@Sendable (String, String) -> Void)? = try state.withLock { (s) throws(SystemError) in
            s.calls.append("write \(path) \(contents)")
            if let e = s.failures[path] { throw SystemError("write", path: path, errno: e) }
            guard s.files[path] != nil else { throw SystemError("open", path: path, errno: ENOENT) }
            s.files[path] = contents
            return s.onWrite
        }
        hook?(path, contents)
    }

    @discardableResult
    public func makeDirectory(_ path: String, mode: UInt32) throws(SystemError) -> Bool {
        try state.withLock { (s) throws(SystemError) -> Bool in
            s.calls.append("mkdir \(path)")
            if let e = s.failures[path] { throw SystemError("mkdir", path: path, errno: e) }
            if s.directories.contains(path) { return false }
            s.directories.insert(path)
            return true
        }
    }

    public func removeDirectory(_ path: String) throws(SystemError) {
        try state.withLock { (s) throws(SystemError) in
            s.calls.append("rmdir \(path)")
            if let e = s.failures[path] { throw SystemError("rmdir", path: path, errno: e) }
            guard s.directories.remove(path) != nil else { throw SystemError("rmdir", path: path, errno: ENOENT) }
            let prefix = path + "/"
            s.files = s.files.filter { !$0.key.hasPrefix(prefix) }
        }
    }

    public func listDirectory(_ path: String) throws(SystemError) -> [String] {
        try state.withLock { (s) throws(SystemError) -> [String] in
            guard s.directories.contains(path) else { throw SystemError("opendir", path: path, errno: ENOENT) }
            let prefix = path == "/" ? "/" : path + "/"
            var names = Set<String>()
            for p in Array(s.directories) + Array(s.files.keys) + Array(s.symlinks.keys) where p.hasPrefix(prefix) {
                let rest = p.dropFirst(prefix.count)
                if let first = rest.split(separator: "/").first { names.insert(String(first)) }
            }
            return names.sorted()
        }
    }

    public func filesystemMagic(_ path: String) -> Int? {
        state.withLock { s in
            var p = path
            while true {
                if let m = s.magic[p] { return m }
                guard let slash = p.lastIndex(of: "/") else { return nil }
                if slash == p.startIndex { return s.magic["/"] }
                p = String(p[..<slash])
            }
        }
    }

    public func processExists(_ pid: Int32) -> Bool { state.withLock { $0.pids.contains(pid) } }
}
