import CArchive
import _RukoDeflateShims

#if canImport(Glibc)
    import Glibc
#endif

/// Bounds on what one extraction may create, against archive bombs.
public struct ExtractLimits: Sendable {
    /// The most content bytes (sum of entry sizes) the archive may unpack to.
    public var maxBytes: UInt64
    /// The most entries the archive may contain.
    public var maxEntries: Int

    /// Creates limits.
    public init(maxBytes: UInt64, maxEntries: Int) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
    }

    /// 8 GiB and one million entries: far above a 500 MB slug or any buildpack tarball.
    public static let `default` = ExtractLimits(maxBytes: 8 << 30, maxEntries: 1_000_000)
}

/// Unpacks archives without letting any entry escape the destination.
///
/// Every path is resolved one component at a time from a descriptor of the destination with
/// `O_NOFOLLOW`, so nothing is ever written through a symlink, whether it came from the archive or
/// was there before. Entries with `..` components or absolute paths, hard links whose target is
/// not a safe path inside the archive, fifos, sockets and devices are refused with an error naming
/// the entry. Setuid/setgid bits are dropped. Sizes and entry counts are bounded by `ExtractLimits`.
/// Into a missing or empty destination the archive is unpacked into a temporary sibling directory
/// that is renamed into place only when everything succeeded; into a non-empty directory it is
/// unpacked in place (entries replace files of the same name, never directories).
public enum SafeExtractor {
    /// Extracts a .tar/.tar.gz (any format libarchive reads) into `destination` (created if missing).
    /// owner: chown every entry to this uid/gid when set (e.g. the sandbox user), else keep the caller's.
    public static func extract(
        archive path: String, to destination: String, limits: ExtractLimits = .default,
        owner: (uid: UInt32, gid: UInt32)? = nil
    ) throws(ArchiveError) {
        let target = destination.count > 1 && destination.hasSuffix("/") ? String(destination.dropLast()) : destination
        var info = stat()
        let exists = lstat(target, &info) == 0
        if exists && info.st_mode & S_IFMT != S_IFDIR {
            throw ArchiveError(.system(operation: "extract into (not a directory)", path: target, errno: ENOTDIR))
        }
        var nonEmpty = false
        if exists { nonEmpty = try !isEmptyDirectory(target) }
        if nonEmpty {
            let root = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard root >= 0 else { throw ArchiveError(.system(operation: "open", path: target, errno: errno)) }
            defer { close(root) }
            var job = ExtractionJob(rootFD: root, limits: limits, owner: owner)
            try job.run(archivePath: path)
            return
        }

        // Atomic: unpack beside the destination, rename over it when everything is in.
        let slash = target.lastIndex(of: "/")
        let parent = slash.map { $0 == target.startIndex ? "/" : String(target[..<$0]) } ?? "."
        let name = slash.map { String(target[target.index(after: $0)...]) } ?? target
        var template = Array("\(parent)/.\(name).extract-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.map { mkdtemp($0) } }
        guard made != nil,
            let tempPath = template.withUnsafeBufferPointer({ $0.baseAddress.map { String(cString: $0) } })
        else {
            throw ArchiveError(.system(operation: "create temporary directory beside", path: target, errno: errno))
        }
        var committed = false
        defer { if !committed { removeTree(tempPath) } }
        let root = open(tempPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { throw ArchiveError(.system(operation: "open", path: tempPath, errno: errno)) }
        defer { close(root) }
        if fchmod(root, 0o755) != 0 { throw ArchiveError(.system(operation: "chmod", path: tempPath, errno: errno)) }
        if let owner, fchown(root, owner.uid, owner.gid) != 0 {
            throw ArchiveError(.system(operation: "chown", path: tempPath, errno: errno))
        }
        var job = ExtractionJob(rootFD: root, limits: limits, owner: owner)
        try job.run(archivePath: path)
        if rename(tempPath, target) != 0 {
            throw ArchiveError(.system(operation: "rename extracted tree into place", path: target, errno: errno))
        }
        committed = true
    }

    private static func isEmptyDirectory(_ path: String) throws(ArchiveError) -> Bool {
        guard let stream = opendir(path) else {
            throw ArchiveError(.system(operation: "open", path: path, errno: errno))
        }
        defer { closedir(stream) }
        while let record = readdir(stream) {
            let isDot = withUnsafeBytes(of: record.pointee.d_name) { raw in
                (raw[0] == 0x2e && raw[1] == 0) || (raw[0] == 0x2e && raw[1] == 0x2e && raw[2] == 0)
            }
            if !isDot { return false }
        }
        return true
    }
}

/// Removes a directory tree without following symlinks (best effort, for cleanup).
func removeTree(_ path: String) {
    let fd = rukoarchive_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
    if fd >= 0 {
        removeContents(of: fd)
        close(fd)
    }
    rmdir(path)
}

private func removeContents(of directoryFD: Int32) {
    fchmod(directoryFD, 0o700)
    let dupFD = dup(directoryFD)
    guard dupFD >= 0, let stream = fdopendir(dupFD) else { return }
    defer { closedir(stream) }
    var names: [[UInt8]] = []
    while let record = readdir(stream) {
        let name = withUnsafeBytes(of: record.pointee.d_name) { raw -> [UInt8] in
            let bytes = raw.bindMemory(to: UInt8.self)
            return Array(bytes[..<(bytes.firstIndex(of: 0) ?? bytes.count)])
        }
        if name != [0x2e] && name != [0x2e, 0x2e] { names.append(name + [0]) }
    }
    for name in names {
        if unlinkat(directoryFD, name, 0) == 0 { continue }
        let child = rukoarchive_openat(directoryFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
        if child >= 0 {
            removeContents(of: child)
            close(child)
        }
        unlinkat(directoryFD, name, AT_REMOVEDIR)
    }
}

/// One extraction: libarchive reading, our own path resolution and writing.
private struct ExtractionJob {
    let rootFD: Int32
    let limits: ExtractLimits
    let owner: (uid: UInt32, gid: UInt32)?
    var entries = 0
    var contentBytes: UInt64 = 0
    /// Directories whose final mode and mtime are applied at the end, deepest first.
    var directories: [(components: [[UInt8]], mode: mode_t, mtime: Int)] = []
    var rootMode: mode_t?
    /// The last parent directory opened, reused while entries stay in the same directory.
    var cachedParent: (components: ArraySlice<[UInt8]>, fd: Int32)?

    init(rootFD: Int32, limits: ExtractLimits, owner: (uid: UInt32, gid: UInt32)?) {
        self.rootFD = rootFD
        self.limits = limits
        self.owner = owner
    }

    mutating func run(archivePath: String) throws(ArchiveError) {
        guard let archive = archive_read_new() else {
            throw ArchiveError(.format(path: archivePath, message: "archive_read_new: out of memory"))
        }
        defer {
            archive_read_free(archive)
            if let cachedParent { close(cachedParent.fd) }
        }
        let locale = ThreadUTF8Locale()
        defer { locale.restore() }
        archive_read_support_filter_all(archive)
        archive_read_support_format_all(archive)
        if archive_read_open_filename(archive, archivePath, 128 * 1024) != ARCHIVE_OK {
            throw ArchiveError(.format(path: archivePath, message: libarchiveMessage(archive)))
        }
        // Headers and padding are bounded too: a bomb of empty entries or huge headers.
        let streamLimit = limits.maxBytes &+ UInt64(limits.maxEntries) &* 4096 &+ (1 << 20)
        while true {
            var entryPointer: OpaquePointer?
            let status = archive_read_next_header(archive, &entryPointer)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry = entryPointer else {
                throw ArchiveError(.format(path: archivePath, message: libarchiveMessage(archive)))
            }
            entries += 1
            if entries > limits.maxEntries { throw ArchiveError(.tooManyEntries(limit: limits.maxEntries)) }
            let consumed = UInt64(max(0, archive_filter_bytes(archive, 0)))
            if consumed > streamLimit { throw ArchiveError(.tooLarge(actual: consumed, limit: streamLimit)) }
            try extractEntry(entry, from: archive)
        }
        try applyDirectoryMetadata()
    }

    private mutating func extractEntry(_ entry: OpaquePointer, from archive: OpaquePointer) throws(ArchiveError) {
        guard let rawPath = archive_entry_pathname(entry) else {
            throw ArchiveError(.unsafeEntry(path: "(no name)", reason: "the entry has no path"))
        }
        let display = String(cString: rawPath)
        let components = try safeComponents(rawPath, display: display)
        let type = mode_t(archive_entry_filetype(entry))
        let mode = mode_t(archive_entry_perm(entry)) & 0o1777  // never setuid/setgid
        let mtime = Int(archive_entry_mtime(entry))

        if let hardlink = archive_entry_hardlink(entry) {
            try link(components, to: hardlink, display: display)
            return
        }
        guard type == Glibc.S_IFDIR || type == Glibc.S_IFREG || type == Glibc.S_IFLNK else {
            throw ArchiveError(.specialFile(path: display, kind: fileKindName(type)))
        }
        guard let name = components.last else {
            // "./" itself: the destination's own mode.
            guard type == Glibc.S_IFDIR else {
                throw ArchiveError(
                    .unsafeEntry(path: display, reason: "a non-directory cannot replace the destination"))
            }
            rootMode = mode
            return
        }
        let parent = try openParent(components.dropLast(), display: display)
        let cName = name + [0]

        if type == Glibc.S_IFDIR {
            if mkdirat(parent, cName, 0o700) != 0 {
                guard errno == EEXIST else { throw systemError("mkdir", display) }
                var existing = stat()
                guard fstatat(parent, cName, &existing, AT_SYMLINK_NOFOLLOW) == 0 else {
                    throw systemError("stat", display)
                }
                if existing.st_mode & S_IFMT != S_IFDIR {
                    if unlinkat(parent, cName, 0) != 0 || mkdirat(parent, cName, 0o700) != 0 {
                        throw systemError("replace with directory", display)
                    }
                }
            }
            if let owner, fchownat(parent, cName, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 {
                throw systemError("chown", display)
            }
            directories.append((components, mode & 0o1777, mtime))
            return
        }

        try removeExistingNonDirectory(parent: parent, name: cName, display: display)
        var times = [timespec(tv_sec: mtime, tv_nsec: 0), timespec(tv_sec: mtime, tv_nsec: 0)]
        if type == Glibc.S_IFLNK {
            guard let linkText = archive_entry_symlink(entry) else {
                throw ArchiveError(.format(path: display, message: "symlink without a target"))
            }
            // The text is stored as-is; it is never followed by this extractor.
            if symlinkat(linkText, parent, cName) != 0 { throw systemError("symlink", display) }
            if let owner, fchownat(parent, cName, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 {
                throw systemError("chown", display)
            }
            utimensat(parent, cName, &times, AT_SYMLINK_NOFOLLOW)
            return
        }

        let size = archive_entry_size_is_set(entry) != 0 ? UInt64(max(0, archive_entry_size(entry))) : 0
        try account(size)
        let fd = rukoarchive_openat(parent, cName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw systemError("create", display) }
        defer { close(fd) }
        var end: Int64 = 0
        var written: UInt64 = 0
        while true {
            var block: UnsafeRawPointer?
            var length = 0
            var offset: la_int64_t = 0
            let status = archive_read_data_block(archive, &block, &length, &offset)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN else {
                throw ArchiveError(.format(path: display, message: libarchiveMessage(archive)))
            }
            written += UInt64(length)
            if written > size { try account(written - size) }
            guard let block, length > 0 else { continue }
            var done = 0
            while done < length {
                let n = pwrite(fd, block + done, length - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw systemError("write", display)
                }
                done += n
            }
            end = max(end, Int64(offset) + Int64(length))
        }
        if Int64(size) > end, ftruncate(fd, off_t(size)) != 0 { throw systemError("truncate", display) }
        if fchmod(fd, mode & 0o777) != 0 { throw systemError("chmod", display) }
        if let owner, fchown(fd, owner.uid, owner.gid) != 0 { throw systemError("chown", display) }
        futimens(fd, &times)
    }

    private mutating func account(_ bytes: UInt64) throws(ArchiveError) {
        contentBytes += bytes
        if contentBytes > limits.maxBytes {
            throw ArchiveError(.tooLarge(actual: contentBytes, limit: limits.maxBytes))
        }
    }

    private mutating func link(_ components: [[UInt8]], to rawTarget: UnsafePointer<CChar>, display: String)
        throws(ArchiveError)
    {
        let targetDisplay = String(cString: rawTarget)
        let target: [[UInt8]]
        do {
            target = try safeComponents(rawTarget, display: targetDisplay)
        } catch {
            throw ArchiveError(
                .unsafeEntry(path: display, reason: "hard link to '\(targetDisplay)', which is outside the destination")
            )
        }
        guard let name = components.last, let targetName = target.last else {
            throw ArchiveError(.unsafeEntry(path: display, reason: "hard link to or from the destination itself"))
        }
        // Resolve the target first (it may share the cached parent), then the new name's parent.
        let targetParent = try openParent(target.dropLast(), display: display, keep: false)
        defer { close(targetParent) }
        var existing = stat()
        guard fstatat(targetParent, targetName + [0], &existing, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw ArchiveError(
                .unsafeEntry(
                    path: display, reason: "hard link to '\(targetDisplay)', which is not in the archive before it"))
        }
        guard existing.st_mode & S_IFMT == S_IFREG || existing.st_mode & S_IFMT == S_IFLNK else {
            throw ArchiveError(
                .unsafeEntry(path: display, reason: "hard link to '\(targetDisplay)', which is not a file"))
        }
        let parent = try openParent(components.dropLast(), display: display)
        try removeExistingNonDirectory(parent: parent, name: name + [0], display: display)
        if linkat(targetParent, targetName + [0], parent, name + [0], 0) != 0 { throw systemError("link", display) }
    }

    private func removeExistingNonDirectory(parent: Int32, name: [UInt8], display: String) throws(ArchiveError) {
        var existing = stat()
        guard fstatat(parent, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        if existing.st_mode & S_IFMT == S_IFDIR {
            throw ArchiveError(.unsafeEntry(path: display, reason: "it would replace a directory of the same name"))
        }
        if unlinkat(parent, name, 0) != 0 { throw systemError("replace", display) }
    }

    /// Opens the directory at `components` below the root, one component at a time, creating
    /// missing ones and refusing symlinks. With `keep`, the descriptor is cached and owned by the
    /// job; otherwise the caller closes it.
    private mutating func openParent(_ components: ArraySlice<[UInt8]>, display: String, keep: Bool = true)
        throws(ArchiveError) -> Int32
    {
        if keep, let cachedParent, cachedParent.components == components { return cachedParent.fd }
        var fd = dup(rootFD)
        guard fd >= 0 else { throw systemError("dup", display) }
        for component in components {
            let cName = component + [0]
            var next = rukoarchive_openat(fd, cName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
            if next < 0 && errno == ENOENT {
                if mkdirat(fd, cName, 0o755) != 0 && errno != EEXIST {
                    let code = errno
                    close(fd)
                    throw ArchiveError(.system(operation: "mkdir parent of", path: display, errno: code))
                }
                if let owner { fchownat(fd, cName, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) }
                next = rukoarchive_openat(fd, cName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
            }
            if next < 0 {
                let code = errno
                var info = stat()
                let isLink = fstatat(fd, cName, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK
                close(fd)
                let part = String(decoding: component, as: UTF8.self)
                if isLink || code == ELOOP {
                    throw ArchiveError(
                        .unsafeEntry(path: display, reason: "its path goes through the symlink '\(part)'"))
                }
                if code == ENOTDIR {
                    throw ArchiveError(.unsafeEntry(path: display, reason: "its parent '\(part)' is not a directory"))
                }
                throw ArchiveError(.system(operation: "open parent of", path: display, errno: code))
            }
            close(fd)
            fd = next
        }
        if keep {
            if let cachedParent { close(cachedParent.fd) }
            cachedParent = (components, fd)
        }
        return fd
    }

    private mutating func applyDirectoryMetadata() throws(ArchiveError) {
        if let cachedParent {
            close(cachedParent.fd)
            self.cachedParent = nil
        }
        for directory in directories.reversed() {
            let display = directory.components.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
            let fd = try openParent(directory.components[...], display: display, keep: false)
            defer { close(fd) }
            if fchmod(fd, directory.mode) != 0 { throw systemError("chmod", display) }
            var times = [timespec(tv_sec: directory.mtime, tv_nsec: 0), timespec(tv_sec: directory.mtime, tv_nsec: 0)]
            futimens(fd, &times)
        }
        if let rootMode, fchmod(rootFD, rootMode | 0o700) != 0 { throw systemError("chmod", ".") }
    }

    private func systemError(_ operation: String, _ path: String) -> ArchiveError {
        ArchiveError(.system(operation: operation, path: path, errno: errno))
    }
}

/// Splits an entry path into components, refusing absolute paths and "..". "." and empty
/// components are dropped, so "./app//x" is ["app", "x"].
private func safeComponents(_ raw: UnsafePointer<CChar>, display: String) throws(ArchiveError) -> [[UInt8]] {
    let bytes = Array(UnsafeBufferPointer(start: raw, count: strlen(raw))).map { UInt8(bitPattern: $0) }
    if bytes.first == UInt8(ascii: "/") {
        throw ArchiveError(.unsafeEntry(path: display, reason: "absolute path"))
    }
    var components: [[UInt8]] = []
    for part in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
        if part.elementsEqual([UInt8(ascii: ".")]) { continue }
        if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
            throw ArchiveError(.unsafeEntry(path: display, reason: "'..' would leave the destination"))
        }
        components.append(Array(part))
    }
    return components
}

private func libarchiveMessage(_ archive: OpaquePointer) -> String {
    archive_error_string(archive).map { String(cString: $0) }
        ?? "unreadable archive (libarchive error \(archive_errno(archive)))"
}
