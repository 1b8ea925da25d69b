import Crypto
import Foundation
import Hummingbird

/// The HTTP method a signed URL is good for.
public enum StorageMethod: String, Sendable {
    case get = "GET"
    case put = "PUT"
    case head = "HEAD"
}

/// Where repos, caches and slugs live: something that hands out expiring URLs for a key.
public protocol ObjectStorage: Sendable {
    /// A URL a client can use without credentials for `method` on `key`, valid for `lifetime` seconds.
    func signedURL(_ method: StorageMethod, key: String, lifetime: Int) throws -> String
    /// Whether an object is stored at `key`.
    func exists(key: String) async throws -> Bool
}

/// Storage keys used by the API.
public enum StorageKeys {
    /// The app's git repository tarball.
    public static func repo(_ app: String) -> String { "apps/\(app)/repo.tgz" }
    /// The app's build cache tarball.
    public static func cache(_ app: String) -> String { "apps/\(app)/cache.tgz" }
    /// A slug.
    public static func slug(_ app: String, _ slugID: String) -> String { "apps/\(app)/slugs/\(slugID).tgz" }
}

/// HMAC-SHA256 signatures over `METHOD \n key \n expires` for local storage URLs.
public struct URLSigner: Sendable {
    /// Why a signature was refused.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case expired
        case badSignature
        case malformed(String)

        public var description: String {
            switch self {
            case .expired: return "signed URL expired"
            case .badSignature: return "signature does not match"
            case .malformed(let what): return "malformed signed URL: \(what)"
            }
        }
    }

    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// Signs with `key` (see ``DataDirectory/signingKey()``).
    public init(key: SymmetricKey) { self.keyBytes = key.withUnsafeBytes { Array($0) } }

    /// The hex HMAC for `method` on `storageKey` until `expires` (unix seconds).
    public func signature(_ method: StorageMethod, key storageKey: String, expires: Int) -> String {
        let message = "\(method.rawValue)\n\(storageKey)\n\(expires)"
        return Data(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key)).hex
    }

    /// Checks `signature` for `method` on `storageKey`; a HEAD may use a GET signature.
    public func verify(
        _ method: StorageMethod, key storageKey: String, expires: String?, signature: String?, now: Date = Date()
    ) throws(Failure) {
        guard let expiresText = expires, let expiry = Int(expiresText) else {
            throw .malformed("missing or invalid 'expires'")
        }
        guard let signature, let given = DataDirectory.bytes(fromHex: signature), given.count == 32 else {
            throw .malformed("missing or invalid 'sig'")
        }
        let signedMethod: StorageMethod = method == .head ? .get : method
        let message = "\(signedMethod.rawValue)\n\(storageKey)\n\(expiry)"
        guard HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Data(message.utf8), using: key) else {
            throw .badSignature
        }
        guard Int(now.timeIntervalSince1970) <= expiry else { throw .expired }
    }
}

/// The default backend: files under `DIR/storage`, reached through this server's `/storage/` route
/// with HMAC-signed, expiring URLs.
public struct LocalStorage: ObjectStorage {
    /// Where objects live.
    public let root: String
    /// Signs and verifies URLs.
    public let signer: URLSigner
    /// Base of the URLs handed out, e.g. `http://127.0.0.1:5000` (no trailing slash).
    public let publicURL: String
    /// The clock (tests move it).
    public let now: @Sendable () -> Date

    /// A local backend rooted at `root`.
    public init(root: String, signer: URLSigner, publicURL: String, now: @escaping @Sendable () -> Date = { Date() }) {
        self.root = root
        self.signer = signer
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.now = now
    }

    public func signedURL(_ method: StorageMethod, key: String, lifetime: Int) throws -> String {
        guard Names.isValidStorageKey(key) else { throw RukoAPIError.badRequest("invalid storage key '\(key)'") }
        let expires = Int(now().timeIntervalSince1970) + lifetime
        let signature = signer.signature(method, key: key, expires: expires)
        return "\(publicURL)/storage/\(key)?expires=\(expires)&sig=\(signature)"
    }

    public func exists(key: String) async throws -> Bool {
        guard let path = path(for: key) else { return false }
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// The file for `key`, or nil when the key is not valid.
    public func path(for key: String) -> String? {
        Names.isValidStorageKey(key) ? root + "/" + key : nil
    }

    /// Streams `body` into `key` all-or-nothing.
    ///
    /// The bytes go to a hidden temporary file next to the object; only when exactly
    /// `expectedLength` bytes arrived is it fsynced and renamed over the object. On any error or
    /// length mismatch the temporary file is removed and the previous object is untouched.
    /// Returns whether an object existed before.
    @discardableResult
    public func store<Body: AsyncSequence>(
        key: String, expectedLength: Int64, body: Body
    ) async throws -> Bool where Body.Element == ByteBuffer {
        guard let path = path(for: key) else { throw RukoAPIError.badRequest("invalid storage key '\(key)'") }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
        try DataDirectory.makeDirectory(directory)
        let name = String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...])
        let temporary = directory + "/." + name + ".tmp-" + Store.randomHex(6)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RukoAPIError.posix("create", temporary) }
        var committed = false
        defer {
            if !committed { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            var received: Int64 = 0
            for try await element in body {
                received += Int64(element.readableBytes)
                guard received <= expectedLength else {
                    throw RukoAPIError.badRequest("body is longer than its Content-Length (\(expectedLength) bytes)")
                }
                try element.withUnsafeReadableBytes { try Self.writeAll(fd, $0, path: temporary) }
            }
            guard received == expectedLength else {
                throw RukoAPIError.badRequest(
                    "upload incomplete: received \(received) of \(expectedLength) bytes; the stored object is unchanged"
                )
            }
            guard fsync(fd) == 0 else { throw RukoAPIError.posix("fsync", temporary) }
        }
        var info = stat()
        let existed = stat(path, &info) == 0
        guard rename(temporary, path) == 0 else { throw RukoAPIError.posix("rename", path) }
        committed = true
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
        return existed
    }

    private static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let written = write(fd, buffer.baseAddress?.advanced(by: offset), buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw RukoAPIError.posix("write", path)
            }
            offset += written
        }
    }
}
