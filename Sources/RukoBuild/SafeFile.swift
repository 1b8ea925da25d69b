#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// File I/O that never follows a symlink planted by a build, and never reads unbounded input.
///
/// Builds run untrusted code that can replace `Procfile` or `.slugignore` with a symlink to a host
/// file; ruko-build reads them as root, so every read here uses `O_NOFOLLOW` and checks that the
/// file is a regular file.
enum SafeFile {
    struct Failure: Error {
        var messages: [String]
    }

    /// Reads a regular file; nil when it does not exist. A symlink, a directory, a special file,
    /// a file larger than `limit` or text that is not UTF-8 is an error.
    static func readTextIfPresent(_ path: String, limit: Int) throws(Failure) -> String? {
        guard let bytes = try readIfPresent(path, limit: limit) else { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw Failure(messages: ["\(path) is not valid UTF-8 text."])
        }
        return text
    }

    /// Reads a regular file's bytes; nil when it does not exist.
    static func readIfPresent(_ path: String, limit: Int) throws(Failure) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            if code == ELOOP {
                throw Failure(messages: [
                    "\(path) is a symlink; ruko-build reads it only as a regular file. Replace the link with the file."
                ])
            }
            throw Failure(messages: ["open(\(path)): \(describeErrno(code))."])
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw Failure(messages: ["fstat(\(path)): \(describeErrno(errno))."])
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw Failure(messages: ["\(path) is not a regular file."])
        }
        guard info.st_size <= limit else {
            throw Failure(messages: ["\(path) is larger than \(limit) bytes; refusing to read it."])
        }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(messages: ["read(\(path)): \(describeErrno(errno))."])
            }
            if count == 0 { break }
            result.append(contentsOf: buffer[0..<count])
            if result.count > limit {
                throw Failure(messages: ["\(path) is larger than \(limit) bytes; refusing to read it."])
            }
        }
        return result
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(Failure) {
        let directory = parentDirectory(of: path)
        var template = Array((directory + "/.ruko-tmp-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard fd >= 0 else {
            throw Failure(messages: ["creating a temporary file in \(directory): \(describeErrno(errno))."])
        }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            try writeAll(fd, bytes, path: temporary)
            fchmod(fd, mode)
            guard fsync(fd) == 0 else {
                throw Failure(messages: ["fsync(\(temporary)): \(describeErrno(errno))."])
            }
        }
        guard rename(temporary, path) == 0 else {
            throw Failure(messages: ["rename(\(temporary), \(path)): \(describeErrno(errno))."])
        }
        ok = true
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], count: Int? = nil, path: String) throws(Failure) {
        let total = count ?? bytes.count
        var offset = 0
        while offset < total {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + offset }, total - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(messages: ["write(\(path)): \(describeErrno(errno))."])
            }
            offset += written
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}

/// `strerror` text with the errno name's number, e.g. `Permission denied (errno 13)`.
func describeErrno(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}
