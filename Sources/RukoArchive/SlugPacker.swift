import CArchive
import _RukoDeflateShims

#if canImport(Glibc)
    import Glibc
#endif

/// How `SlugPacker` builds a slug.
public struct PackOptions: Sendable {
    /// The name under which the directory's contents appear: "./app/" (Heroku's layout, the
    /// default) or "./" (flat, like herokuish). Must start with "./" and end with "/".
    public var prefix: String
    /// The gzip level.
    public var compression: CompressionLevel
    /// Compressor threads; nil uses every core this process may run on.
    public var threads: Int?
    /// When set, every mtime later than this (seconds since the epoch) is clamped to it.
    public var sourceDateEpoch: Int64?
    /// Returns true for paths to leave out. `relativePath` has no prefix and no leading "./"
    /// ("public/big.psd"); an excluded directory is skipped with everything under it.
    public var exclude: (@Sendable (_ relativePath: String, _ isDirectory: Bool) -> Bool)?
    /// When the compressed output passes this size, packing fails with `.tooLarge` (reporting the
    /// full compressed size) and leaves no file behind.
    public var maxOutputBytes: UInt64?
    /// Polled before each entry: returning true stops packing with `.cancelled` (no file left).
    public var isCancelled: (@Sendable () -> Bool)?

    /// Creates pack options; the defaults are Heroku's layout at the default level on every core.
    public init(
        prefix: String = "./app/", compression: CompressionLevel = .default, threads: Int? = nil,
        sourceDateEpoch: Int64? = nil,
        exclude: (@Sendable (_ relativePath: String, _ isDirectory: Bool) -> Bool)? = nil,
        maxOutputBytes: UInt64? = nil
    ) {
        self.prefix = prefix
        self.compression = compression
        self.threads = threads
        self.sourceDateEpoch = sourceDateEpoch
        self.exclude = exclude
        self.maxOutputBytes = maxOutputBytes
    }
}

/// What `SlugPacker.pack` wrote.
public struct PackResult: Sendable {
    /// Size of the .tar.gz in bytes.
    public var bytes: UInt64
    /// SHA-256 of the .tar.gz, lowercase hex.
    public var sha256: String
    /// Number of tar entries, the top directory included.
    public var entries: Int
}

/// Packs a directory into a slug: a deterministic gzip'd tar.
///
/// Rules: entries in bytewise order of their archive names (a directory's name ends in "/", so it
/// comes right before its contents); uid/gid 0 with empty owner names; permission bits only (no
/// setuid/setgid/sticky); mtimes clamped to `sourceDateEpoch`; symlinks stored as symlinks with
/// their text as-is; hard links stored as separate regular files; fifos, sockets and devices
/// refused; `.git` (directory or file) excluded at every depth.
public enum SlugPacker {
    /// Packs `directory` into a gzip'd tar at `outputPath` (temp file + rename on success).
    public static func pack(directory: String, to outputPath: String, options: PackOptions) throws(ArchiveError)
        -> PackResult
    {
        guard options.prefix.hasPrefix("./"), options.prefix.hasSuffix("/") else {
            throw ArchiveError(
                .format(path: options.prefix, message: "the prefix must start with './' and end with '/'"))
        }
        let root = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { throw ArchiveError(.system(operation: "open directory", path: directory, errno: errno)) }
        defer { close(root) }

        let temp = try TempFile(beside: outputPath)
        var committed = false
        defer { if !committed { temp.remove() } }

        let gzip = ParallelGzipWriter(
            fd: temp.fd, path: temp.path, level: options.compression, threads: options.threads ?? availableCores(),
            maxOutputBytes: options.maxOutputBytes)
        let entries: Int
        let summary: ParallelGzipWriter.Summary
        do {
            // UTF-8 names are stored as plain UTF-8 (other bytes still go in verbatim, marked
            // hdrcharset=BINARY), whatever the process locale.
            let locale = ThreadUTF8Locale()
            defer { locale.restore() }
            let tar = try TarStream(sink: gzip)
            defer { tar.free() }
            var walker = TreeWalker(root: directory, options: options, tar: tar)
            // The slug being written may sit inside the tree (packing "." to "./slug.tgz"): skip it.
            var tempInfo = stat()
            if fstat(temp.fd, &tempInfo) == 0 { walker.skip = (tempInfo.st_dev, tempInfo.st_ino) }
            try walker.emitTop(rootFD: root)
            try walker.walk(directoryFD: root, relative: [])
            try tar.close()
            entries = walker.entries
            summary = try gzip.finish()
        } catch {
            gzip.abandon()
            throw error
        }
        if summary.overLimit, let limit = options.maxOutputBytes {
            throw ArchiveError(.tooLarge(actual: summary.compressedBytes, limit: limit))
        }
        try temp.commit(to: outputPath)
        committed = true
        return PackResult(bytes: summary.compressedBytes, sha256: summary.sha256, entries: entries)
    }
}

/// A file created next to its final path and renamed over it on success.
struct TempFile {
    let fd: Int32
    let path: String

    init(beside finalPath: String) throws(ArchiveError) {
        let slash = finalPath.lastIndex(of: "/")
        let directory = slash.map { String(finalPath[..<$0]) } ?? "."
        let name = slash.map { String(finalPath[finalPath.index(after: $0)...]) } ?? finalPath
        var template = Array("\(directory.isEmpty ? "/" : directory)/.\(name).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.map { rukoarchive_mkostemp($0, O_CLOEXEC) } ?? -1
        }
        guard fd >= 0 else {
            throw ArchiveError(.system(operation: "create temporary file beside", path: finalPath, errno: errno))
        }
        fchmod(fd, 0o644)
        self.fd = fd
        self.path = template.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { String(cString: $0) } ?? finalPath
        }
    }

    func commit(to finalPath: String) throws(ArchiveError) {
        if close(fd) != 0 { throw ArchiveError(.system(operation: "close", path: path, errno: errno)) }
        if rename(path, finalPath) != 0 {
            let code = errno
            unlink(path)
            throw ArchiveError(.system(operation: "rename into place", path: finalPath, errno: code))
        }
    }

    func remove() {
        close(fd)
        unlink(path)
    }
}

/// libarchive writing tar framing into a `ParallelGzipWriter` through a memory callback.
final class TarStream {
    private let archive: OpaquePointer
    private let entry: OpaquePointer
    private let sink: ParallelGzipWriter
    /// An error raised inside the write callback, where it cannot be thrown.
    fileprivate var callbackError: ArchiveError?

    init(sink: ParallelGzipWriter) throws(ArchiveError) {
        guard let archive = archive_write_new(), let entry = archive_entry_new() else {
            throw ArchiveError(.format(path: "", message: "archive_write_new: out of memory"))
        }
        self.archive = archive
        self.entry = entry
        self.sink = sink
        // pax_restricted: plain ustar headers unless a name or size needs a pax extension.
        try check(archive_write_set_format_pax_restricted(archive), "set format")
        try check(archive_write_add_filter_none(archive), "set filter")
        let client = Unmanaged.passUnretained(self).toOpaque()
        try check(archive_write_open(archive, client, nil, tarWriteCallback, nil), "open")
    }

    func free() {
        archive_entry_free(entry)
        archive_write_free(archive)
    }

    func close() throws(ArchiveError) {
        let status = archive_write_close(archive)
        if let callbackError { throw callbackError }
        try check(status, "close")
    }

    enum Body {
        case none
        case file(fd: Int32, size: Int64)
        case symlink([UInt8])
    }

    /// Writes one entry: header, then for a file exactly `size` bytes read from `fd`.
    func add(name: [UInt8], type: mode_t, permissions: mode_t, mtime: Int64, body: Body, displayPath: String)
        throws(ArchiveError)
    {
        archive_entry_clear(entry)
        name.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { archive_entry_copy_pathname(entry, $0.baseAddress) }
        }
        archive_entry_set_filetype(entry, UInt32(type))
        archive_entry_set_perm(entry, permissions)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        archive_entry_set_mtime(entry, time_t(mtime), 0)
        switch body {
        case .none: archive_entry_set_size(entry, 0)
        case .file(_, let size): archive_entry_set_size(entry, size)
        case .symlink(let target):
            archive_entry_set_size(entry, 0)
            (target + [0]).withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { archive_entry_copy_symlink(entry, $0.baseAddress) }
            }
        }
        let status = archive_write_header(archive, entry)
        if let callbackError { throw callbackError }
        try check(status, "write header", path: displayPath)
        if case .file(let fd, let size) = body {
            try copyData(from: fd, size: size, displayPath: displayPath)
        }
        let finish = archive_write_finish_entry(archive)
        if let callbackError { throw callbackError }
        try check(finish, "finish entry", path: displayPath)
    }

    private static let bufferSize = 256 * 1024
    private let buffer = UnsafeMutableRawPointer.allocate(byteCount: TarStream.bufferSize, alignment: 4096)

    deinit { buffer.deallocate() }

    private func copyData(from fd: Int32, size: Int64, displayPath: String) throws(ArchiveError) {
        var left = size
        while left > 0 {
            let n = read(fd, buffer, Int(min(Int64(TarStream.bufferSize), left)))
            if n < 0 {
                if errno == EINTR { continue }
                throw ArchiveError(.unreadable(path: displayPath, errno: errno))
            }
            if n == 0 {
                throw ArchiveError(
                    .format(
                        path: displayPath,
                        message: "file shrank while it was being packed; pack a tree nothing is writing to"))
            }
            let accepted = archive_write_data(archive, buffer, n)
            if let callbackError { throw callbackError }
            if accepted != n { try check(ARCHIVE_FATAL, "write data", path: displayPath) }
            left -= Int64(n)
        }
    }

    fileprivate func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        do {
            try sink.write(bytes)
            return true
        } catch {
            callbackError = error
            return false
        }
    }

    private func check(_ status: Int32, _ operation: String, path: String = "") throws(ArchiveError) {
        guard status < ARCHIVE_WARN else { return }
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "error \(status)"
        throw ArchiveError(.format(path: path, message: "\(operation): \(message)"))
    }
}

private func tarWriteCallback(
    _ archive: OpaquePointer?, _ client: UnsafeMutableRawPointer?, _ buffer: UnsafeRawPointer?, _ length: Int
) -> Int {
    guard let client else { return -1 }
    let stream = Unmanaged<TarStream>.fromOpaque(client).takeUnretainedValue()
    return stream.receive(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : -1
}

/// Depth-first walk of the tree in archive-name order, feeding `TarStream`.
struct TreeWalker {
    let root: String
    let options: PackOptions
    let tar: TarStream
    let prefix: [UInt8]
    var entries = 0
    /// Device and inode of a file never to pack (the output being written).
    var skip: (dev_t, ino_t)?

    init(root: String, options: PackOptions, tar: TarStream) {
        self.root = root
        self.options = options
        self.tar = tar
        self.prefix = Array(options.prefix.utf8)
    }

    private func clamp(_ mtime: Int64) -> Int64 {
        let nonNegative = max(0, mtime)
        if let epoch = options.sourceDateEpoch { return min(nonNegative, epoch) }
        return nonNegative
    }

    /// The prefix directory itself ("./app/" or "./"), with the top directory's mode and mtime.
    mutating func emitTop(rootFD: Int32) throws(ArchiveError) {
        var info = stat()
        guard fstat(rootFD, &info) == 0 else {
            throw ArchiveError(.system(operation: "stat", path: root, errno: errno))
        }
        try tar.add(
            name: prefix + [0], type: S_IFDIR, permissions: info.st_mode & 0o777,
            mtime: clamp(Int64(info.st_mtim.tv_sec)),
            body: .none, displayPath: root)
        entries += 1
    }

    private struct Child {
        var name: [UInt8]
        var isDirectory: Bool
        var info: stat
        /// The name as it sorts: directories carry their trailing "/".
        var key: [UInt8] { isDirectory ? name + [UInt8(ascii: "/")] : name }
    }

    /// Emits the contents of the directory open at `directoryFD`, whose path below the root is `relative`.
    mutating func walk(directoryFD: Int32, relative: [UInt8]) throws(ArchiveError) {
        var children = try list(directoryFD: directoryFD, relative: relative)
        children.sort { $0.key.lexicographicallyPrecedes($1.key) }
        for child in children {
            if let isCancelled = options.isCancelled, isCancelled() { throw ArchiveError(.cancelled) }
            let path = relative.isEmpty ? child.name : relative + [UInt8(ascii: "/")] + child.name
            let display = String(decoding: path, as: UTF8.self)
            let type = child.info.st_mode & S_IFMT
            let permissions = child.info.st_mode & 0o777
            let mtime = clamp(Int64(child.info.st_mtim.tv_sec))
            switch type {
            case S_IFDIR:
                let fd = rukoarchive_openat(
                    directoryFD, child.name + [0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
                guard fd >= 0 else { throw ArchiveError(.unreadable(path: display, errno: errno)) }
                defer { close(fd) }
                try tar.add(
                    name: prefix + path + [UInt8(ascii: "/"), 0], type: S_IFDIR, permissions: permissions, mtime: mtime,
                    body: .none, displayPath: display)
                entries += 1
                try walk(directoryFD: fd, relative: path)
            case S_IFREG:
                let fd = rukoarchive_openat(directoryFD, child.name + [0], O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0)
                guard fd >= 0 else { throw ArchiveError(.unreadable(path: display, errno: errno)) }
                defer { close(fd) }
                var opened = stat()
                guard fstat(fd, &opened) == 0, opened.st_mode & S_IFMT == S_IFREG else {
                    throw ArchiveError(
                        .format(path: display, message: "changed type while it was being packed"))
                }
                try tar.add(
                    name: prefix + path + [0], type: S_IFREG, permissions: permissions, mtime: mtime,
                    body: .file(fd: fd, size: Int64(opened.st_size)), displayPath: display)
                entries += 1
            case S_IFLNK:
                let target = try readLink(directoryFD: directoryFD, name: child.name, display: display)
                try tar.add(
                    name: prefix + path + [0], type: S_IFLNK, permissions: 0o777, mtime: mtime, body: .symlink(target),
                    displayPath: display)
                entries += 1
            default:
                throw ArchiveError(.specialFile(path: display, kind: fileKindName(type)))
            }
        }
    }

    private func list(directoryFD: Int32, relative: [UInt8]) throws(ArchiveError) -> [Child] {
        let display = relative.isEmpty ? root : String(decoding: relative, as: UTF8.self)
        // fdopendir takes ownership of the descriptor it is given: hand it a duplicate.
        let dupFD = dup(directoryFD)
        guard dupFD >= 0, let stream = fdopendir(dupFD) else {
            let code = errno
            if dupFD >= 0 { close(dupFD) }
            throw ArchiveError(.unreadable(path: display, errno: code))
        }
        defer { closedir(stream) }
        var children: [Child] = []
        while true {
            errno = 0
            guard let record = readdir(stream) else {
                if errno != 0 { throw ArchiveError(.unreadable(path: display, errno: errno)) }
                break
            }
            let name = withUnsafeBytes(of: record.pointee.d_name) { raw -> [UInt8] in
                let bytes = raw.bindMemory(to: UInt8.self)
                let length = bytes.firstIndex(of: 0) ?? bytes.count
                return Array(bytes[..<length])
            }
            if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            if name == Array(".git".utf8) { continue }  // always excluded, at every depth
            var info = stat()
            guard fstatat(directoryFD, name + [0], &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                let path = String(
                    decoding: relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name, as: UTF8.self)
                throw ArchiveError(.unreadable(path: path, errno: errno))
            }
            if let skip, info.st_dev == skip.0, info.st_ino == skip.1 { continue }
            let isDirectory = info.st_mode & S_IFMT == S_IFDIR
            if let exclude = options.exclude {
                let path = relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
                if exclude(String(decoding: path, as: UTF8.self), isDirectory) { continue }
            }
            children.append(Child(name: name, isDirectory: isDirectory, info: info))
        }
        return children
    }

    private func readLink(directoryFD: Int32, name: [UInt8], display: String) throws(ArchiveError) -> [UInt8] {
        var capacity = 256
        while true {
            var buffer = [UInt8](repeating: 0, count: capacity)
            let n = buffer.withUnsafeMutableBufferPointer { out in
                out.withMemoryRebound(to: CChar.self) { chars in
                    chars.baseAddress.map { readlinkat(directoryFD, name + [0], $0, capacity) } ?? -1
                }
            }
            if n < 0 { throw ArchiveError(.unreadable(path: display, errno: errno)) }
            if n < capacity { return Array(buffer[..<n]) }
            capacity *= 4
        }
    }
}

/// A human name for a file type, for error messages.
func fileKindName(_ type: mode_t) -> String {
    switch type {
    case S_IFIFO: return "fifo"
    case S_IFSOCK: return "socket"
    case S_IFCHR: return "character device"
    case S_IFBLK: return "block device"
    case S_IFDIR: return "directory"
    case S_IFLNK: return "symlink"
    case S_IFREG: return "regular file"
    default: return "file of unknown type"
    }
}
