import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Resource limits handed to the builder with each push.
public struct BuildLimits: Codable, Equatable, Sendable {
    /// Memory ceiling, e.g. `1G`.
    public var memory: String
    /// Maximum number of processes.
    public var pids: Int
    /// Build timeout, e.g. `15m`.
    public var timeout: String
    /// Largest accepted slug, e.g. `500M`.
    public var maxSlugSize: String

    /// The defaults (overridable per app with the config vars `RUKO_MEMORY`, `RUKO_PIDS`,
    /// `RUKO_TIMEOUT`, `RUKO_MAX_SLUG_SIZE`).
    public init(memory: String = "1G", pids: Int = 512, timeout: String = "15m", maxSlugSize: String = "500M") {
        self.memory = memory
        self.pids = pids
        self.timeout = timeout
        self.maxSlugSize = maxSlugSize
    }

    enum CodingKeys: String, CodingKey {
        case memory, pids, timeout
        case maxSlugSize = "max_slug_size"
    }

    /// These limits with the app's `RUKO_*` config vars applied.
    public func overridden(by config: [String: String]) -> BuildLimits {
        var limits = self
        if let value = config["RUKO_MEMORY"], !value.isEmpty { limits.memory = value }
        if let value = config["RUKO_PIDS"].flatMap(Int.init), value > 0 { limits.pids = value }
        if let value = config["RUKO_TIMEOUT"], !value.isEmpty { limits.timeout = value }
        if let value = config["RUKO_MAX_SLUG_SIZE"], !value.isEmpty { limits.maxSlugSize = value }
        return limits
    }
}

/// Settings of a running API server.
public struct ServerSettings: Sendable {
    /// Base of URLs the server hands out (`release_url`, local storage URLs).
    public var publicURL: String
    /// The bearer token `/v1` requests must carry.
    public var token: String
    /// Lifetime of signed storage URLs in seconds.
    public var urlLifetime: Int
    /// Default build limits.
    public var limits: BuildLimits
    /// Default rootfs template name (per app: config var `RUKO_TEMPLATE`).
    public var template: String
    /// Seconds a connection may stay silent (also in the middle of an upload) before it is closed.
    public var idleTimeout: Double
    /// The largest object a storage PUT may store (local backend), in bytes; larger → 413.
    public var maxObjectSize: Int64

    /// Settings with defaults: URLs live one hour, template `default`, objects up to 2 GiB.
    public init(
        publicURL: String, token: String, urlLifetime: Int = 3600, limits: BuildLimits = BuildLimits(),
        template: String = "default", idleTimeout: Double = 300, maxObjectSize: Int64 = 2 << 30
    ) {
        self.maxObjectSize = maxObjectSize
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.token = token
        self.urlLifetime = urlLifetime
        self.limits = limits
        self.template = template
        self.idleTimeout = idleTimeout
    }
}

/// The ruko-api HTTP server: the `/v1` control-plane routes, `/healthz`, and (with the local
/// backend) `/storage/{key}`.
public struct APIServer: Sendable {
    /// The database.
    public let store: Store
    /// Where objects live.
    public let storage: any ObjectStorage
    /// Set when the local backend is in use: this server then serves `/storage/`.
    public let local: LocalStorage?
    /// URLs, token, limits.
    public let settings: ServerSettings

    /// A server over `store` and `storage`.
    public init(store: Store, storage: any ObjectStorage, settings: ServerSettings) {
        self.store = store
        self.storage = storage
        self.local = storage as? LocalStorage
        self.settings = settings
    }

    /// Binds `host:port` (port 0 picks a free port) and serves until cancelled or signalled.
    ///
    /// - Parameters:
    ///   - handleSignals: stop gracefully on SIGTERM/SIGINT (the CLI); tests cancel the task instead.
    ///   - onRunning: called with the bound port once the server accepts connections.
    public func run(
        host: String, port: Int, handleSignals: Bool, logger: Logger = Logger(label: "ruko-api"),
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let idle = TimeAmount.milliseconds(Int64(settings.idleTimeout * 1000))
        let application = Application(
            router: router(),
            server: .http1(configuration: .init(idleTimeout: idle)),
            configuration: .init(address: .hostname(host, port: port), serverName: "ruko-api"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
        if handleSignals {
            try await application.runService()
        } else {
            try await application.run()
        }
    }

    /// The routes.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(ErrorMiddleware())
        router.get("/healthz") { _, _ in try json(["ok": true]) }

        let v1 = router.group("/v1").add(middleware: BearerAuthMiddleware(token: settings.token))
        v1.post("/keys/lookup") { request, context in try await lookupKey(request, context) }
        v1.get("/keys") { _, _ in try json(KeysResponse(keys: try store.keys())) }
        v1.post("/apps/:app/authorize") { request, context in try await authorize(request, context) }
        v1.post("/apps/:app/pushes") { request, context in try await push(request, context) }
        v1.post("/apps/:app/releases") { request, context in try await createRelease(request, context) }
        v1.get("/apps/:app/releases") { _, context in
            try json(ReleasesResponse(releases: try store.releases(app: try context.parameters.require("app"))))
        }
        v1.get("/apps/:app/releases/:version") { _, context in
            let version = try Names.parseVersion(try context.parameters.require("version"))
            return try json(try store.release(app: try context.parameters.require("app"), version: version))
        }

        if let local {
            router.get("/storage/**") { request, context in try await getObject(local, request, context) }
            router.put("/storage/**") { request, context in try await putObject(local, request, context) }
        }
        return router
    }

    // MARK: Handlers

    private func lookupKey(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let body = try await decode(KeyLookupRequest.self, request)
        guard SSHPublicKey.knownTypes.contains(body.type) else {
            throw RukoAPIError.invalidKey("unsupported key type '\(body.type)'")
        }
        guard let record = try store.lookupKey(type: body.type, base64: body.key) else {
            throw HTTPFailure(status: .notFound, message: "unknown key")
        }
        return try json(KeyLookupResponse(user: record.user, fingerprint: record.fingerprint))
    }

    private func authorize(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let app = try context.parameters.require("app")
        let body = try await decode(AuthorizeRequest.self, request)
        try store.authorize(app: app, user: body.user, wanted: body.access)
        let repoKey = StorageKeys.repo(app)
        let repo = AuthorizeResponse.Repo(
            getURL: try storage.signedURL(.get, key: repoKey, lifetime: settings.urlLifetime),
            exists: try await storage.exists(key: repoKey))
        return try json(AuthorizeResponse(app: app, user: body.user, access: body.access, repo: repo))
    }

    private func push(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let app = try context.parameters.require("app")
        let body = try await decode(PushRequest.self, request)
        let push = try store.createPush(app: app, user: body.user)
        let config = try store.config(app: app)
        let lifetime = settings.urlLifetime
        let repoKey = StorageKeys.repo(app)
        let cacheKey = StorageKeys.cache(app)
        async let repoExists = storage.exists(key: repoKey)
        async let cacheExists = storage.exists(key: cacheKey)
        let response = PushResponse(
            app: app, pushID: push.id,
            repo: .init(
                getURL: try storage.signedURL(.get, key: repoKey, lifetime: lifetime),
                putURL: try storage.signedURL(.put, key: repoKey, lifetime: lifetime), exists: try await repoExists),
            slug: .init(
                id: push.slugID,
                putURL: try storage.signedURL(.put, key: StorageKeys.slug(app, push.slugID), lifetime: lifetime)),
            cache: .init(
                getURL: try storage.signedURL(.get, key: cacheKey, lifetime: lifetime),
                putURL: try storage.signedURL(.put, key: cacheKey, lifetime: lifetime), exists: try await cacheExists),
            template: config["RUKO_TEMPLATE"].flatMap { $0.isEmpty ? nil : $0 } ?? settings.template,
            env: config,
            buildpackURL: config["BUILDPACK_URL"].flatMap { $0.isEmpty ? nil : $0 },
            releaseURL: "\(settings.publicURL)/v1/apps/\(app)/releases",
            limits: settings.limits.overridden(by: config),
            expiresIn: lifetime)
        return try json(response)
    }

    private func createRelease(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let app = try context.parameters.require("app")
        let body = try await decode(NewRelease.self, request)
        let release = try store.createRelease(app: app, body)
        return try json(CreatedRelease(version: release.version, name: release.name), status: .created)
    }

    private func getObject(
        _ local: LocalStorage, _ request: Request, _ context: BasicRequestContext
    ) async throws -> Response {
        let key = try verifiedKey(local, .get, request)
        guard let path = local.path(for: key), try await local.exists(key: key) else {
            throw HTTPFailure(status: .notFound, message: "no object stored at \(key)")
        }
        let body = try await FileIO().loadFile(path: path, context: context)
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        return Response(status: .ok, headers: headers, body: body)
    }

    private func putObject(
        _ local: LocalStorage, _ request: Request, _ context: BasicRequestContext
    ) async throws -> Response {
        let key = try verifiedKey(local, .put, request)
        guard let lengthText = request.headers[.contentLength], let length = Int64(lengthText), length >= 0 else {
            throw HTTPFailure(
                status: .lengthRequired, message: "PUT needs a Content-Length so a short upload can be detected")
        }
        guard length <= settings.maxObjectSize else {
            throw HTTPFailure(
                status: .contentTooLarge,
                message: "object of \(length) bytes is over this server's limit of \(settings.maxObjectSize) bytes "
                    + "(ruko-api serve --max-object-size)")
        }
        let existed = try await local.store(key: key, expectedLength: length, body: request.body)
        return try json(StoredObject(key: key, size: length), status: existed ? .ok : .created)
    }

    /// The storage key of a `/storage/…` request whose signature checks out (403 otherwise).
    private func verifiedKey(_ local: LocalStorage, _ method: StorageMethod, _ request: Request) throws -> String {
        let prefix = "/storage/"
        let path = request.uri.path
        let key = path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : ""
        guard Names.isValidStorageKey(key) else {
            throw HTTPFailure(status: .notFound, message: "invalid storage key")
        }
        let query = request.uri.queryParameters
        do {
            try local.signer.verify(
                method, key: key, expires: query["expires"].map(String.init), signature: query["sig"].map(String.init),
                now: local.now())
        } catch {
            throw HTTPFailure(status: .forbidden, message: error.description)
        }
        return key
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: 1 << 20)
        } catch {
            throw HTTPFailure(status: .contentTooLarge, message: "request body larger than 1 MiB")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw HTTPFailure(status: .badRequest, message: "invalid JSON body: \(Self.describe(error))")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field '\(parent.isEmpty ? "" : parent + ".")\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "field '\(path(context))' has the wrong type: \(context.debugDescription)"
        case .dataCorrupted(let context):
            let where_ = path(context)
            return where_.isEmpty ? "not valid JSON" : "field '\(where_)': \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// A JSON response with sorted keys.
func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    var headers = HTTPFields()
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// An error with an HTTP status, rendered as `{"error": message}`.
struct HTTPFailure: Error {
    var status: HTTPResponse.Status
    var message: String
}

/// Turns every error into the contract's `{"error": "…"}` body with a fitting status.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let failure as HTTPFailure {
            return Self.render(failure.status, failure.message)
        } catch let error as RukoAPIError {
            if error.httpStatus >= 500 {
                context.logger.error("\(request.method) \(request.uri.path): \(error)")
            }
            return Self.render(.init(code: error.httpStatus), error.description)
        } catch let error as HTTPError {
            return Self.render(error.status, error.body ?? error.status.reasonPhrase)
        } catch let error as any HTTPResponseError {
            return Self.render(error.status, error.status.reasonPhrase)
        } catch {
            context.logger.error("\(request.method) \(request.uri.path): \(error)")
            return Self.render(.internalServerError, "internal error: \(error)")
        }
    }

    static func render(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var response =
            (try? json(["error": message], status: status)) ?? Response(status: .internalServerError)
        if status == .unauthorized {
            response.headers[.wwwAuthenticate] = "Bearer"
        }
        return response
    }
}

/// Requires `Authorization: Bearer <token>` (compared in constant time).
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw HTTPFailure(status: .unauthorized, message: "missing bearer token (Authorization: Bearer …)")
        }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix),
            Self.constantTimeEqual(Array(header.dropFirst(prefix.count).utf8), Array(token.utf8))
        else {
            throw HTTPFailure(status: .unauthorized, message: "invalid bearer token")
        }
        return try await next(request, context)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let digestA = Array(SHA256.hash(data: a))
        let digestB = Array(SHA256.hash(data: b))
        return zip(digestA, digestB).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

// MARK: Wire types

struct KeyLookupRequest: Decodable {
    var type: String
    var key: String
}

struct KeyLookupResponse: Encodable {
    var user: String
    var fingerprint: String
}

struct KeysResponse: Encodable {
    var keys: [KeyRecord]
}

struct AuthorizeRequest: Decodable {
    var user: String
    var access: AccessLevel
}

struct AuthorizeResponse: Encodable {
    /// Where a fetch (read access) gets the stored repository.
    struct Repo: Encodable {
        var getURL: String
        var exists: Bool
        enum CodingKeys: String, CodingKey {
            case getURL = "get_url"
            case exists
        }
    }
    var app: String
    var user: String
    var access: AccessLevel
    var repo: Repo
}

struct PushRequest: Decodable {
    var user: String
}

struct PushResponse: Encodable {
    struct Object: Encodable {
        var getURL: String
        var putURL: String
        var exists: Bool
        enum CodingKeys: String, CodingKey {
            case getURL = "get_url"
            case putURL = "put_url"
            case exists
        }
    }
    struct Slug: Encodable {
        var id: String
        var putURL: String
        enum CodingKeys: String, CodingKey {
            case id
            case putURL = "put_url"
        }
    }
    var app: String
    var pushID: String
    var repo: Object
    var slug: Slug
    var cache: Object
    var template: String
    var env: [String: String]
    var buildpackURL: String?
    var releaseURL: String
    var limits: BuildLimits
    var expiresIn: Int

    enum CodingKeys: String, CodingKey {
        case app
        case pushID = "push_id"
        case repo, slug, cache, template, env
        case buildpackURL = "buildpack_url"
        case releaseURL = "release_url"
        case limits
        case expiresIn = "expires_in"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(app, forKey: .app)
        try container.encode(pushID, forKey: .pushID)
        try container.encode(repo, forKey: .repo)
        try container.encode(slug, forKey: .slug)
        try container.encode(cache, forKey: .cache)
        try container.encode(template, forKey: .template)
        try container.encode(env, forKey: .env)
        try container.encode(buildpackURL, forKey: .buildpackURL)  // explicit null when unset
        try container.encode(releaseURL, forKey: .releaseURL)
        try container.encode(limits, forKey: .limits)
        try container.encode(expiresIn, forKey: .expiresIn)
    }
}

struct ReleasesResponse: Encodable {
    var releases: [Release]
}

struct CreatedRelease: Encodable {
    var version: Int
    var name: String
}

struct StoredObject: Encodable {
    var key: String
    var size: Int64
}
