#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Walking, copying and removing app trees without following symlinks.
///
/// Only regular files, directories and symlinks may be in an app or a slug: fifos, sockets and
/// device files are refused with an error naming them (a fifo would hang the copy; a device file
/// would hand host hardware to the app). Symlinks are copied as symlinks, whatever they point to.
enum FileTree {
    typealias Exclude = (_ relativePath: String, _ isDirectory: Bool) -> Bool

    /// Copies `source` into the existing directory `destination`: contents only, symlinks as
    /// symlinks, mode bits kept except setuid/setgid, modification times kept, everything owned
    /// by `owner` when given. `what` names the tree in messages ("the app", "buildpack python").
    /// Returns the newest modification time copied (seconds since the epoch).
    static func copy(
        from source: String, to destination: String, owner: (uid: UInt32, gid: UInt32)?, what: String,
        exclude: Exclude?
    ) throws(BuildError) -> Int64 {
        var newest: Int64 = 0
        var offending: [String] = []
        try walk(source, relative: "", exclude: exclude, depth: 0) { relative, info throws(BuildError) in
            if let kind = specialKind(info.st_mode) {
                offending.append("\(relative) (\(kind))")
                return
            }
            guard offending.isEmpty else { return }
            newest = max(newest, Int64(info.st_mtim.tv_sec))
            try copyEntry(
                from: source + "/" + relative, to: destination + "/" + relative, mode: info.st_mode, owner: owner)
        }
        if !offending.isEmpty { throw specialFilesError(offending, what: what) }
        // Directory modes last, so a read-only directory does not stop its own copy.
        try walk(source, relative: "", exclude: exclude, depth: 0) { relative, info throws(BuildError) in
            if (info.st_mode & S_IFMT) == S_IFDIR {
                chmod(destination + "/" + relative, info.st_mode & 0o1777)
            }
        }
        return newest
    }

    /// Refuses fifos, sockets and device files anywhere in `root` (except excluded paths).
    static func checkSpecialFiles(in root: String, what: String, exclude: Exclude?) throws(BuildError) {
        var offending: [String] = []
        try walk(root, relative: "", exclude: exclude, depth: 0) { relative, info in
            if let kind = specialKind(info.st_mode) { offending.append("\(relative) (\(kind))") }
        }
        if !offending.isEmpty { throw specialFilesError(offending, what: what) }
    }

    /// Removes a tree (symlinks are removed, never followed). Errors are ignored: used for cleanup.
    static func remove(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            chmod(path, 0o700)  // a build may leave a directory without write or search permission
            for name in (try? entries(of: path)) ?? [] { remove(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Creates a directory (and missing parents) with `mode`.
    static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(BuildError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw BuildError(.io, "\(path) exists and is not a directory.")
            }
            return
        }
        let parent = SafeFile.parentDirectory(of: path)
        if parent != path, parent != "/", parent != "." { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0, errno != EEXIST {
            throw BuildError(.io, "mkdir(\(path)): \(describeErrno(errno)).")
        }
    }

    /// A new private directory `PARENT/PREFIX.XXXXXX`.
    static func makeTemporaryDirectory(in parent: String, prefix: String) throws(BuildError) -> String {
        var template = Array((parent + "/" + prefix + ".XXXXXX").utf8CString)
        let result = template.withUnsafeMutableBufferPointer { buffer -> UnsafeMutablePointer<CChar>? in
            guard let base = buffer.baseAddress else { return nil }
            return mkdtemp(base)
        }
        guard result != nil else {
            throw BuildError(.io, "mkdtemp(\(parent)/\(prefix).XXXXXX): \(describeErrno(errno)).")
        }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The names in a directory, sorted bytewise, without `.` and `..`.
    static func entries(of path: String) throws(BuildError) -> [String] {
        guard let directory = opendir(path) else {
            throw BuildError(.tree, "opendir(\(path)): \(describeErrno(errno)).")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            names.append(name)
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    static func specialKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFIFO: return "fifo"
        case S_IFSOCK: return "socket"
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        default: return nil
        }
    }

    static func specialFilesError(_ offending: [String], what: String) -> BuildError {
        var lines = [
            "\(what) contains files that cannot go into a slug (only regular files, directories and symlinks can):"
        ]
        lines += offending.prefix(20).map { "  \($0)" }
        if offending.count > 20 { lines.append("  … and \(offending.count - 20) more") }
        lines.append("Remove them, or list them in .slugignore.")
        return BuildError(.tree, lines: lines)
    }

    private static let maximumDepth = 256

    private static func walk(
        _ root: String, relative: String, exclude: Exclude?, depth: Int,
        _ visit: (_ relative: String, _ info: stat) throws(BuildError) -> Void
    ) throws(BuildError) {
        guard depth < maximumDepth else {
            throw BuildError(.tree, "\(root)/\(relative) is nested more than \(maximumDepth) directories deep.")
        }
        let directory = relative.isEmpty ? root : root + "/" + relative
        for name in try entries(of: directory) {
            let childRelative = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(root + "/" + childRelative, &info) == 0 else {
                throw BuildError(.tree, "lstat(\(root)/\(childRelative)): \(describeErrno(errno)).")
            }
            let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
            if let exclude, exclude(childRelative, isDirectory) { continue }
            try visit(childRelative, info)
            if isDirectory { try walk(root, relative: childRelative, exclude: exclude, depth: depth + 1, visit) }
        }
    }

    private static func copyEntry(
        from source: String, to destination: String, mode: mode_t, owner: (uid: UInt32, gid: UInt32)?
    ) throws(BuildError) {
        switch mode & S_IFMT {
        case S_IFDIR:
            guard mkdir(destination, 0o700) == 0 else {
                throw BuildError(.io, "mkdir(\(destination)): \(describeErrno(errno)).")
            }
            if let owner, lchown(destination, owner.uid, owner.gid) != 0 {
                throw BuildError(.io, "chown(\(destination)): \(describeErrno(errno)).")
            }
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(source, &buffer, buffer.count - 1)
            guard count >= 0 else {
                throw BuildError(.tree, "readlink(\(source)): \(describeErrno(errno)).")
            }
            let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard symlink(target, destination) == 0 else {
                throw BuildError(.io, "symlink(\(destination)): \(describeErrno(errno)).")
            }
            if let owner, lchown(destination, owner.uid, owner.gid) != 0 {
                throw BuildError(.io, "chown(\(destination)): \(describeErrno(errno)).")
            }
        default:
            try copyFile(from: source, to: destination, mode: mode & 0o1777, owner: owner)
        }
    }

    private static func copyFile(
        from source: String, to destination: String, mode: mode_t, owner: (uid: UInt32, gid: UInt32)?
    ) throws(BuildError) {
        let input = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard input >= 0 else {
            let code = errno
            let hint = code == EACCES ? " The file is not readable: fix its permissions or list it in .slugignore." : ""
            throw BuildError(.tree, "open(\(source)): \(describeErrno(code)).\(hint)")
        }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw BuildError(.tree, "\(source) changed while it was being copied; retry the build.")
        }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard output >= 0 else {
            throw BuildError(.io, "open(\(destination)): \(describeErrno(errno)).")
        }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw BuildError(.tree, "read(\(source)): \(describeErrno(errno)).")
            }
            if count == 0 { break }
            do {
                try SafeFile.writeAll(output, buffer, count: count, path: destination)
            } catch {
                throw BuildError(.io, lines: error.messages)
            }
        }
        if let owner, fchown(output, owner.uid, owner.gid) != 0 {
            throw BuildError(.io, "chown(\(destination)): \(describeErrno(errno)).")
        }
        guard fchmod(output, mode) == 0 else {
            throw BuildError(.io, "chmod(\(destination)): \(describeErrno(errno)).")
        }
        var times = [info.st_atim, info.st_mtim]
        futimens(output, &times)
    }
}
