import Crypto
import Foundation
import Logging
import Testing

@testable import RukoAPI

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A real ruko-api server on a free 127.0.0.1 port over a fresh data directory, seeded with
/// users alice (write on `web`) and bob (read on `web`), alice's ed25519 key and COLOR=blue.
final class TestServer: @unchecked Sendable {
    let directory: TemporaryDirectory
    let data: DataDirectory
    let store: Store
    let token: String
    let port: Int
    let base: String
    let local: LocalStorage
    private let task: Task<Void, any Error>

    static func start(urlLifetime: Int = 3600, idleTimeout: Double = 300) async throws -> TestServer {
        var lastError: (any Error)?
        for _ in 0..<5 {
            do {
                return try await TestServer(port: try freePort(), urlLifetime: urlLifetime, idleTimeout: idleTimeout)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? RukoAPIError.badRequest("could not start a test server")
    }

    private init(port: Int, urlLifetime: Int, idleTimeout: Double) async throws {
        directory = try TemporaryDirectory()
        data = try DataDirectory(directory.path + "/data")
        store = try data.openStore()
        token = try data.token()
        self.port = port
        base = "http://127.0.0.1:\(port)"
        local = LocalStorage(root: data.storagePath, signer: URLSigner(key: try data.signingKey()), publicURL: base)
        try store.addUser("alice")
        try store.addUser("bob")
        try store.addKey(user: "alice", key: try SSHPublicKey(line: Fixture.ed25519))
        try store.createApp("web")
        try store.grantAccess(app: "web", user: "alice", level: .write)
        try store.grantAccess(app: "web", user: "bob", level: .read)
        try store.setConfig(app: "web", vars: ["COLOR": "blue"])
        let server = APIServer(
            store: store, storage: local,
            settings: ServerSettings(
                publicURL: base, token: token, urlLifetime: urlLifetime, idleTimeout: idleTimeout))
        var logger = Logger(label: "ruko-api-test")
        logger.logLevel = .critical
        let host = "127.0.0.1"
        let boundPort = port
        task = Task { try await server.run(host: host, port: boundPort, handleSignals: false, logger: logger) }
        // Ask with our token: a 200 proves it is this server, not another test's on a reused port.
        for _ in 0..<100 {
            if let response = try? await request("GET", "/v1/keys"), response.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        task.cancel()
        throw RukoAPIError.io(operation: "start server", path: base, detail: "did not answer /healthz")
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    // MARK: Requests

    struct Exchange {
        var status: Int
        var body: Data
        var headers: [String: String]

        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
        }
        var error: String? { json["error"] as? String }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// A request with the bearer token (unless `auth` is false, or `token` overrides it).
    func request(
        _ method: String, _ path: String, json: Any? = nil, auth: Bool = true, token: String? = nil
    ) async throws -> Exchange {
        let url = try #require(URL(string: path.hasPrefix("http") ? path : base + path))
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = 30
        if auth { request.setValue("Bearer \(token ?? self.token)", forHTTPHeaderField: "Authorization") }
        var body: Data?
        if let json {
            body = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        return try await perform(request, body: body)
    }

    /// A raw-bytes request to a (signed) URL, no bearer token.
    func transfer(_ method: String, _ url: String, body: Data? = nil) async throws -> Exchange {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.httpMethod = method
        request.timeoutInterval = 30
        if body != nil { request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type") }
        return try await perform(request, body: body)
    }

    private func perform(_ request: URLRequest, body: Data?) async throws -> Exchange {
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let (data, response): (Data, URLResponse)
        if let body {
            (data, response) = try await session.upload(for: request, from: body)
        } else {
            (data, response) = try await session.data(for: request)
        }
        let http = try #require(response as? HTTPURLResponse)
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
        }
        return Exchange(status: http.statusCode, body: data, headers: headers)
    }

    /// Sends `bytes` on a fresh TCP connection; with `closeEarly` closes right after sending and
    /// returns nothing, otherwise reads the response until the server closes.
    func raw(_ bytes: Data, closeEarly: Bool = false, holdOpenFor: Duration? = nil) throws -> Exchange? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RukoAPIError.posix("socket", base) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw RukoAPIError.posix("connect", base) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw RukoAPIError.posix("send", base) }
        if let holdOpenFor {
            // Stall: send nothing more and keep the connection until the server gives up on it.
            var timeout = timeval(tv_sec: Int(holdOpenFor.components.seconds), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var byte: UInt8 = 0
            _ = recv(fd, &byte, 1, 0)
            return nil
        }
        if closeEarly { return nil }
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received.append(contentsOf: buffer[0..<count])
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n").first,
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw RukoAPIError.badRequest("no HTTP response: \(text)") }
        let body = text.range(of: "\r\n\r\n").map { Data(text[$0.upperBound...].utf8) } ?? Data()
        return Exchange(status: status, body: body, headers: [:])
    }

    /// Storage path and query of a signed URL (`/storage/…?expires=…&sig=…`).
    static func pathAndQuery(_ url: String) -> String {
        guard let components = URLComponents(string: url) else { return url }
        return components.percentEncodedPath + "?" + (components.percentEncodedQuery ?? "")
    }

    /// Files in local storage whose name starts with a dot (temporary uploads).
    func temporaryFiles() -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: data.storagePath)) ?? []).filter {
            $0.split(separator: "/").last?.hasPrefix(".") == true
        }
    }
}

/// A port nobody listens on right now (bind :0, read it back, close).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw RukoAPIError.posix("socket", "127.0.0.1") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let result = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard result == 0 else { throw RukoAPIError.posix("bind", "127.0.0.1:0") }
    return Int(UInt16(bigEndian: address.sin_port))
}
