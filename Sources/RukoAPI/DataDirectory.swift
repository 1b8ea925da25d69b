import Crypto
import Foundation

/// The on-disk layout of a ruko-api data directory.
///
/// ```
/// DIR/ruko.sqlite      the database (WAL: also ruko.sqlite-wal, ruko.sqlite-shm)
/// DIR/token            the bearer token the shim sends (created on first use, mode 0600)
/// DIR/signing.key      the HMAC secret for local signed storage URLs (created on first use, 0600)
/// DIR/storage/         objects of the local storage backend
/// DIR/s3.json          optional S3 backend configuration
/// ```
public struct DataDirectory: Sendable {
    /// The directory itself.
    public let root: String

    /// Uses `root`, creating it (mode 0700) when it does not exist yet.
    public init(_ root: String) throws(RukoAPIError) {
        guard !root.isEmpty else { throw .badRequest("--data needs a directory path") }
        self.root = root
        try Self.makeDirectory(root)
    }

    /// The SQLite database file.
    public var databasePath: String { root + "/ruko.sqlite" }
    /// The local storage backend's root.
    public var storagePath: String { root + "/storage" }
    /// The optional S3 configuration file.
    public var s3ConfigPath: String { root + "/s3.json" }

    /// Opens the database.
    public func openStore() throws -> Store { try Store(path: databasePath) }

    /// The shim's bearer token: 32 random bytes in hex, generated once.
    public func token() throws(RukoAPIError) -> String {
        let text = try secretFile(named: "token") { Store.randomHex(32) + "\n" }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The HMAC key for local signed URLs: 32 random bytes (hex on disk), generated once.
    public func signingKey() throws(RukoAPIError) -> SymmetricKey {
        let text = try secretFile(named: "signing.key") { Store.randomHex(32) + "\n" }
        let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard hex.count >= 32, let bytes = Self.bytes(fromHex: hex) else {
            throw .io(
                operation: "read", path: root + "/signing.key",
                detail: "not a hex key; delete the file to generate a new one (outstanding URLs stop working)")
        }
        return SymmetricKey(data: bytes)
    }

    /// Reads `DIR/name`, first creating it with `generate()` when missing.
    ///
    /// Creation writes a temporary file and `link(2)`s it into place, so two processes racing
    /// here both end up with the same, complete contents.
    private func secretFile(named name: String, generate: () -> String) throws(RukoAPIError) -> String {
        let path = root + "/" + name
        if let text = try Self.readIfPresent(path) { return text }
        let temporary = root + "/." + name + ".tmp-" + Store.randomHex(6)
        try Self.writeFile(temporary, contents: Data(generate().utf8), mode: 0o600)
        defer { unlink(temporary) }
        if link(temporary, path) != 0 && errno != EEXIST {
            throw RukoAPIError.posix("link", path)
        }
        guard let text = try Self.readIfPresent(path) else { throw RukoAPIError.posix("read", path, ENOENT) }
        return text
    }

    static func readIfPresent(_ path: String) throws(RukoAPIError) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .posix("open", path)
        }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw .posix("read", path)
            }
            if count == 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes a new file (failing if it exists), fsyncs it and closes it.
    static func writeFile(_ path: String, contents: Data, mode: mode_t) throws(RukoAPIError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .posix("create", path) }
        defer { close(fd) }
        let bytes = [UInt8](contents)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .posix("write", path)
            }
            offset += written
        }
        guard fsync(fd) == 0 else { throw .posix("fsync", path) }
    }

    /// `mkdir -p` with mode 0700 for the directories it creates.
    static func makeDirectory(_ path: String) throws(RukoAPIError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw .posix("mkdir", current)
            }
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw .posix("stat", path) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .io(operation: "use data directory", path: path, detail: "not a directory")
        }
    }

    static func bytes(fromHex hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hex.
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}
