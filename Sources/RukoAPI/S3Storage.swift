import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Settings of the S3-compatible backend (`DIR/s3.json`, `RUKO_S3_*` variables or `serve` flags).
public struct S3Configuration: Codable, Equatable, Sendable {
    /// `http(s)://host[:port]` of the S3 API (AWS: `https://s3.REGION.amazonaws.com`).
    public var endpoint: String
    /// The bucket; objects are addressed path-style as `ENDPOINT/BUCKET/KEY`.
    public var bucket: String
    /// The signing region.
    public var region: String
    /// The access key id.
    public var accessKeyID: String
    /// The secret access key.
    public var secretAccessKey: String

    /// A configuration from its parts.
    public init(endpoint: String, bucket: String, region: String, accessKeyID: String, secretAccessKey: String) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    enum CodingKeys: String, CodingKey {
        case endpoint, bucket, region
        case accessKeyID = "access_key_id"
        case secretAccessKey = "secret_access_key"
    }

    /// Reads `path` if it exists (nil otherwise).
    public static func load(path: String) throws -> S3Configuration? {
        guard let text = try DataDirectory.readIfPresent(path) else { return nil }
        do {
            return try JSONDecoder().decode(S3Configuration.self, from: Data(text.utf8))
        } catch {
            throw RukoAPIError.io(
                operation: "parse", path: path,
                detail:
                    "expected {\"endpoint\", \"bucket\", \"region\", \"access_key_id\", \"secret_access_key\"}: \(error)"
            )
        }
    }
}

/// The S3 backend: SigV4-presigned, path-style URLs pointing straight at the bucket.
public struct S3Storage: ObjectStorage {
    /// The settings.
    public let configuration: S3Configuration
    /// `http` or `https`.
    public let scheme: String
    /// The `Host` header value (`host[:port]`).
    public let host: String
    private let presigner: SigV4Presigner
    private let now: @Sendable () -> Date

    /// Validates `configuration` and builds the backend.
    public init(configuration: S3Configuration, now: @escaping @Sendable () -> Date = { Date() }) throws {
        guard let components = URLComponents(string: configuration.endpoint),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let hostname = components.host, !hostname.isEmpty,
            components.path.isEmpty || components.path == "/", components.query == nil
        else {
            throw RukoAPIError.badRequest(
                "S3 endpoint must be http(s)://host[:port] with no path (got '\(configuration.endpoint)')")
        }
        guard !configuration.bucket.isEmpty, Names.isValidStorageKey(configuration.bucket),
            !configuration.bucket.contains("/")
        else { throw RukoAPIError.badRequest("S3 bucket name '\(configuration.bucket)' is not valid") }
        guard !configuration.region.isEmpty else { throw RukoAPIError.badRequest("S3 region must not be empty") }
        guard !configuration.accessKeyID.isEmpty, !configuration.secretAccessKey.isEmpty else {
            throw RukoAPIError.badRequest("S3 access key id and secret access key are required")
        }
        self.configuration = configuration
        self.scheme = scheme
        if let port = components.port, !(scheme == "http" && port == 80), !(scheme == "https" && port == 443) {
            self.host = "\(hostname):\(port)"
        } else {
            self.host = hostname
        }
        self.presigner = SigV4Presigner(
            accessKeyID: configuration.accessKeyID, secretAccessKey: configuration.secretAccessKey,
            region: configuration.region)
        self.now = now
    }

    public func signedURL(_ method: StorageMethod, key: String, lifetime: Int) throws -> String {
        guard Names.isValidStorageKey(key) else { throw RukoAPIError.badRequest("invalid storage key '\(key)'") }
        guard (1...604_800).contains(lifetime) else {
            throw RukoAPIError.badRequest("S3 presigned URLs live 1 second to 7 days (asked \(lifetime)s)")
        }
        let segments = [configuration.bucket] + key.split(separator: "/").map(String.init)
        return presigner.presign(
            method: method.rawValue, scheme: scheme, host: host, pathSegments: segments, date: now(),
            expires: lifetime
        ).url
    }

    /// HEADs the object through a presigned URL: 200 → true, 404 → false, anything else throws.
    public func exists(key: String) async throws -> Bool {
        guard let url = URL(string: try signedURL(.head, key: key, lifetime: 300)) else {
            throw RukoAPIError.badRequest("cannot build a URL for '\(key)'")
        }
        var request = URLRequest(url: url)
        request.httpMethod = "HEAD"
        request.timeoutInterval = 30
        let response: URLResponse
        do {
            (_, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw RukoAPIError.io(
                operation: "HEAD", path: "\(configuration.endpoint)/\(configuration.bucket)/\(key)",
                detail: "\(error.localizedDescription) (is the S3 endpoint reachable?)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        switch status {
        case 200: return true
        case 404: return false
        default:
            throw RukoAPIError.io(
                operation: "HEAD", path: "\(configuration.endpoint)/\(configuration.bucket)/\(key)",
                detail: "S3 answered \(status) (check the bucket, region and keys)")
        }
    }
}
