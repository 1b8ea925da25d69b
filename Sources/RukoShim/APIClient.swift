import Dispatch
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `POST /v1/keys/lookup` answer.
public struct KeyOwner: Codable, Sendable, Equatable {
    public var user: String
    public var fingerprint: String?
}

/// One entry of `GET /v1/keys`.
public struct KeyEntry: Codable, Sendable, Equatable {
    public var user: String
    public var type: String
    public var key: String
    public var fingerprint: String?
}

/// `POST /v1/apps/{app}/pushes` answer: everything one push needs.
public struct PushMetadata: Codable, Sendable, Equatable {
    public struct Object: Codable, Sendable, Equatable {
        public var getURL: String?
        public var putURL: String
        public var exists: Bool?
        enum CodingKeys: String, CodingKey {
            case getURL = "get_url"
            case putURL = "put_url"
            case exists
        }
    }
    public struct Slug: Codable, Sendable, Equatable {
        public var id: String
        public var putURL: String
        enum CodingKeys: String, CodingKey {
            case id
            case putURL = "put_url"
        }
    }
    public struct Limits: Codable, Sendable, Equatable {
        public var memory: String?
        public var pids: Int?
        public var timeout: String?
        public var maxSlugSize: String?
        enum CodingKeys: String, CodingKey {
            case memory, pids, timeout
            case maxSlugSize = "max_slug_size"
        }
    }
    public var app: String
    public var pushID: String
    public var repo: Object
    public var slug: Slug
    public var cache: Object
    public var template: String?
    public var env: [String: String]
    public var buildpackURL: String?
    public var releaseURL: String
    public var limits: Limits?

    enum CodingKeys: String, CodingKey {
        case app, repo, slug, cache, template, env, limits
        case pushID = "push_id"
        case buildpackURL = "buildpack_url"
        case releaseURL = "release_url"
    }
}

/// `POST /v1/apps/{app}/authorize` answer. `repo` (a GET URL of the stored repository) is an
/// addition the shim uses for fetches by read-only users; older APIs leave it out.
public struct Authorization: Codable, Sendable, Equatable {
    public struct Repo: Codable, Sendable, Equatable {
        public var getURL: String?
        public var exists: Bool?
        enum CodingKeys: String, CodingKey {
            case getURL = "get_url"
            case exists
        }
    }
    public var access: Access?
    public var repo: Repo?
}

/// `POST /v1/apps/{app}/releases` body.
public struct ReleaseRequest: Codable, Sendable, Equatable {
    public var slugID: String
    public var processTypes: [String: String]
    public var commit: String
    public var sha256: String
    public var size: Int64
    public var buildpack: String
    public var stack: String
    public var description: String

    public init(
        slugID: String, processTypes: [String: String], commit: String, sha256: String, size: Int64,
        buildpack: String, stack: String, description: String
    ) {
        self.slugID = slugID
        self.processTypes = processTypes
        self.commit = commit
        self.sha256 = sha256
        self.size = size
        self.buildpack = buildpack
        self.stack = stack
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case commit, sha256, size, buildpack, stack, description
        case slugID = "slug_id"
        case processTypes = "process_types"
    }
}

/// `POST /v1/apps/{app}/releases` answer.
public struct ReleaseResponse: Codable, Sendable, Equatable {
    public var version: Int
    public var name: String
}

/// The calls the push flow makes; a protocol so the flow can be tested against a fake.
public protocol RukoAPI: Sendable {
    @discardableResult
    func authorize(app: String, user: String, access: Access) throws(ShimError) -> Authorization
    func createPush(app: String, user: String) throws(ShimError) -> PushMetadata
    func createRelease(url: String, _ release: ReleaseRequest) throws(ShimError) -> ReleaseResponse
    /// Downloads `url` to `path`; false when the object does not exist (404).
    func download(url: String, to path: String) throws(ShimError) -> Bool
    func upload(file path: String, to url: String, what: String) throws(ShimError)
}

/// ruko-api over HTTP (FoundationNetworking's URLSession: no extra package to build).
///
/// Idempotent calls (lookups, authorisation, storage GET/PUT) are retried with exponential
/// backoff on transport errors, timeouts and 5xx; creating a release is not retried.
public final class APIClient: RukoAPI, @unchecked Sendable {
    public let baseURL: String
    private let token: String
    private let session: URLSession
    private let attempts: Int
    private let requestTimeout: Double
    /// Backoff before retry n (1-based) is `backoff * 2^(n-1)` seconds.
    public var backoff: Double = 0.2

    public init(baseURL: String, token: String, timeout: Double = 30, attempts: Int = 4) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.attempts = max(1, attempts)
        self.requestTimeout = timeout
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = 3600
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        self.session = URLSession(configuration: configuration)
    }

    /// A client from the shim configuration.
    public convenience init(config: ShimConfig) throws(ShimError) {
        let api = try config.requireAPI()
        self.init(baseURL: api.url, token: api.token, timeout: config.httpTimeout, attempts: config.httpAttempts)
    }

    // MARK: API calls

    /// Which user owns a public key; nil when the API does not know it.
    public func lookupKey(type: String, key: String) throws(ShimError) -> KeyOwner? {
        let body = try encode(["type": type, "key": key])
        let (status, data) = try call("POST", "/v1/keys/lookup", body: body, idempotent: true)
        if status == 404 { return nil }
        try check(status, data, operation: "key lookup")
        return try decode(KeyOwner.self, data, operation: "key lookup")
    }

    /// Every registered key.
    public func listKeys() throws(ShimError) -> [KeyEntry] {
        struct Keys: Codable { var keys: [KeyEntry] }
        let (status, data) = try call("GET", "/v1/keys", body: nil, idempotent: true)
        try check(status, data, operation: "listing keys")
        return try decode(Keys.self, data, operation: "listing keys").keys
    }

    @discardableResult
    public func authorize(app: String, user: String, access: Access) throws(ShimError) -> Authorization {
        let body = try encode(["user": user, "access": access.rawValue])
        let (status, data) = try call("POST", "/v1/apps/\(app)/authorize", body: body, idempotent: true)
        switch status {
        case 200..<300: return (try? JSONDecoder().decode(Authorization.self, from: data)) ?? Authorization()
        case 403:
            let message = errorMessage(data) ?? "not an authorized user"
            throw ShimError(message, code: message.contains("read-only") ? .readOnly : .notAuthorized)
        case 404: throw ShimError(errorMessage(data) ?? "unknown app", code: .unknownApp)
        default:
            try check(status, data, operation: "authorisation")
            return Authorization()
        }
    }

    public func createPush(app: String, user: String) throws(ShimError) -> PushMetadata {
        let body = try encode(["user": user])
        let (status, data) = try call("POST", "/v1/apps/\(app)/pushes", body: body, idempotent: true)
        if status == 403 {
            let message = errorMessage(data) ?? "not an authorized user"
            throw ShimError(message, code: message.contains("read-only") ? .readOnly : .notAuthorized)
        }
        if status == 404 { throw ShimError(errorMessage(data) ?? "unknown app", code: .unknownApp) }
        try check(status, data, operation: "starting the push")
        return try decode(PushMetadata.self, data, operation: "push metadata")
    }

    public func createRelease(url: String, _ release: ReleaseRequest) throws(ShimError) -> ReleaseResponse {
        let body: Data
        do { body = try JSONEncoder().encode(release) } catch {
            throw ShimError("cannot encode the release: \(error)", code: .apiError)
        }
        let (status, data) = try call("POST", url, body: body, idempotent: false)
        try check(status, data, operation: "creating the release")
        return try decode(ReleaseResponse.self, data, operation: "release")
    }

    // MARK: storage

    public func download(url: String, to path: String) throws(ShimError) -> Bool {
        let target = URL(fileURLWithPath: path)
        let request = try makeRequest("GET", url, body: nil, authorized: false, timeout: 600)
        let result = try withRetries(idempotent: true, what: "download") { () -> Outcome in
            let box = Box()
            let task = session.downloadTask(with: request) { location, response, error in
                if let error {
                    box.result = .failure(error)
                } else if let response = response as? HTTPURLResponse {
                    if (200..<300).contains(response.statusCode), let location {
                        do {
                            try? FileManager.default.removeItem(at: target)
                            try FileManager.default.moveItem(at: location, to: target)
                            box.result = .success((response.statusCode, Data()))
                        } catch {
                            box.result = .failure(error)
                        }
                    } else {
                        let body = location.flatMap { try? Data(contentsOf: $0) } ?? Data()
                        box.result = .success((response.statusCode, body))
                    }
                }
                box.done.signal()
            }
            task.resume()
            box.done.wait()
            return box.outcome
        }
        if result.status == 404 { return false }
        guard (200..<300).contains(result.status) else {
            throw ShimError(
                "storage download failed: HTTP \(result.status) \(errorMessage(result.data) ?? "")", code: .storage)
        }
        return true
    }

    public func upload(file path: String, to url: String, what: String) throws(ShimError) {
        let request = try makeRequest("PUT", url, body: nil, authorized: false, timeout: 600)
        let fileURL = URL(fileURLWithPath: path)
        let result: (status: Int, data: Data)
        do {
            result = try withRetries(idempotent: true, what: "upload of the \(what)") { () -> Outcome in
                let box = Box()
                let task = session.uploadTask(with: request, fromFile: fileURL) { data, response, error in
                    if let error {
                        box.result = .failure(error)
                    } else if let response = response as? HTTPURLResponse {
                        box.result = .success((response.statusCode, data ?? Data()))
                    }
                    box.done.signal()
                }
                task.resume()
                box.done.wait()
                return box.outcome
            }
        } catch {
            throw ShimError("could not upload the \(what): \(error.message)", code: .storage)
        }
        guard (200..<300).contains(result.status) else {
            throw ShimError(
                "could not upload the \(what): HTTP \(result.status) \(errorMessage(result.data) ?? "")",
                code: .storage)
        }
    }

    // MARK: plumbing

    private final class Box: @unchecked Sendable {
        var result: Result<(Int, Data), any Error>?
        let done = DispatchSemaphore(value: 0)
        var outcome: Outcome {
            switch result {
            case .success(let value): .response(value.0, value.1)
            case .failure(let error): .transport(error)
            case nil: .transport(URLError(.badServerResponse))
            }
        }
    }

    private enum Outcome {
        case response(Int, Data)
        case transport(any Error)
    }

    private func call(
        _ method: String, _ pathOrURL: String, body: Data?, idempotent: Bool
    ) throws(ShimError) -> (status: Int, data: Data) {
        let request = try makeRequest(method, pathOrURL, body: body, authorized: true, timeout: requestTimeout)
        return try withRetries(idempotent: idempotent, what: "\(method) \(request.url?.path ?? pathOrURL)") {
            () -> Outcome in
            let box = Box()
            let task = session.dataTask(with: request) { data, response, error in
                if let error {
                    box.result = .failure(error)
                } else if let response = response as? HTTPURLResponse {
                    box.result = .success((response.statusCode, data ?? Data()))
                }
                box.done.signal()
            }
            task.resume()
            box.done.wait()
            return box.outcome
        }
    }

    private func withRetries(
        idempotent: Bool, what: String, _ attempt: () -> Outcome
    ) throws(ShimError) -> (status: Int, data: Data) {
        let tries = idempotent ? attempts : 1
        var last: Outcome = .transport(URLError(.unknown))
        for index in 0..<tries {
            if index > 0 { Thread.sleep(forTimeInterval: backoff * Double(1 << (index - 1))) }
            last = attempt()
            switch last {
            case .response(let status, let data):
                if status >= 500 && index + 1 < tries { continue }
                return (status, data)
            case .transport:
                continue
            }
        }
        switch last {
        case .response(let status, let data): return (status, data)
        case .transport(let error):
            throw ShimError(
                "the ruko API at \(baseURL) is unreachable: \(describe(error)) (\(what), \(tries) attempt\(tries == 1 ? "" : "s"))",
                code: .apiUnreachable)
        }
    }

    private func makeRequest(
        _ method: String, _ pathOrURL: String, body: Data?, authorized: Bool, timeout: Double
    ) throws(ShimError) -> URLRequest {
        let text = pathOrURL.hasPrefix("/") ? baseURL + pathOrURL : pathOrURL
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme) else {
            throw ShimError("the API returned an invalid URL: \(text)", code: .apiError)
        }
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.httpMethod = method
        if authorized { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if method == "PUT" { request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type") }
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        return request
    }

    private func check(_ status: Int, _ data: Data, operation: String) throws(ShimError) {
        switch status {
        case 200..<300: return
        case 401:
            throw ShimError(
                "the ruko API at \(baseURL) rejected the shim's token (HTTP 401) during \(operation); "
                    + "check api_token in the shim configuration",
                code: .apiError)
        default:
            let detail = errorMessage(data) ?? String(decoding: data.prefix(200), as: UTF8.self)
            throw ShimError("the ruko API failed during \(operation): HTTP \(status) \(detail)", code: .apiError)
        }
    }

    private func errorMessage(_ data: Data) -> String? {
        struct APIErrorBody: Codable { var error: String }
        return (try? JSONDecoder().decode(APIErrorBody.self, from: data))?.error
    }

    private func encode(_ value: [String: String]) throws(ShimError) -> Data {
        do { return try JSONEncoder().encode(value) } catch {
            throw ShimError("cannot encode a request: \(error)", code: .apiError)
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ data: Data, operation: String) throws(ShimError) -> T {
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw ShimError(
                "the ruko API sent an unexpected \(operation) answer (\(error)): "
                    + String(decoding: data.prefix(200), as: UTF8.self),
                code: .apiError)
        }
    }

    private func describe(_ error: any Error) -> String {
        if let error = error as? URLError {
            switch error.code {
            case .cannotConnectToHost: return "connection refused"
            case .timedOut: return "timed out"
            case .cannotFindHost: return "host not found"
            case .networkConnectionLost: return "connection lost"
            default: return error.localizedDescription
            }
        }
        return error.localizedDescription
    }
}
