import Foundation
import Synchronization
import Testing

@testable import RukoShim

let samplePush = """
    {"app":"demo","push_id":"p-1",
     "repo":{"get_url":"http://h/storage/apps/demo/repo.tgz?sig=1","put_url":"http://h/p1","exists":true},
     "slug":{"id":"s-1","put_url":"http://h/s1"},
     "cache":{"get_url":"http://h/c","put_url":"http://h/cp","exists":false},
     "template":"default","env":{"MY_VAR":"x y","lowerCase":"1"},"buildpack_url":null,
     "release_url":"http://127.0.0.1:1/v1/apps/demo/releases",
     "limits":{"memory":"1G","pids":512,"timeout":"15m","max_slug_size":"500M"},
     "extra_field_added_later":42}
    """

@Suite("API client against a fake server")
struct APIClientTests {
    func client(_ server: FakeHTTPServer) -> APIClient {
        let client = APIClient(baseURL: server.url + "/", token: "sekrit", timeout: 5, attempts: 3)
        client.backoff = 0.01
        return client
    }

    @Test("authorize: token, body, and each refusal mapped to a precise reason")
    func authorize() throws {
        let server = try FakeHTTPServer { request in
            let body = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: String] ?? [:]
            guard request.headers["authorization"] == "Bearer sekrit" else { return .json(401, #"{"error":"no"}"#) }
            switch (request.path, body["user"], body["access"]) {
            case ("/v1/apps/demo/authorize", "alice", "write"):
                return .json(200, #"{"app":"demo","user":"alice","access":"write"}"#)
            case ("/v1/apps/demo/authorize", "bob", "write"): return .json(403, #"{"error":"read-only access"}"#)
            case ("/v1/apps/demo/authorize", _, _): return .json(403, #"{"error":"not an authorized user"}"#)
            default: return .json(404, #"{"error":"unknown app"}"#)
            }
        }
        defer { server.stop() }
        let api = client(server)
        try api.authorize(app: "demo", user: "alice", access: .write)
        #expect(throws: ShimError("read-only access", code: .readOnly)) {
            try api.authorize(app: "demo", user: "bob", access: .write)
        }
        #expect(throws: ShimError("not an authorized user", code: .notAuthorized)) {
            try api.authorize(app: "demo", user: "eve", access: .read)
        }
        #expect(throws: ShimError("unknown app", code: .unknownApp)) {
            try api.authorize(app: "nope", user: "alice", access: .read)
        }
        #expect(server.requests.allSatisfy { $0.method == "POST" })
    }

    @Test("push metadata decodes (snake_case, config var names untouched, extra fields ignored)")
    func pushMetadata() throws {
        let server = try FakeHTTPServer { _ in .json(200, samplePush) }
        defer { server.stop() }
        let push = try client(server).createPush(app: "demo", user: "alice")
        #expect(push.pushID == "p-1")
        #expect(push.repo.exists == true)
        #expect(push.cache.exists == false)
        #expect(push.slug.id == "s-1")
        #expect(push.env == ["MY_VAR": "x y", "lowerCase": "1"])
        #expect(push.buildpackURL == nil)
        #expect(push.limits?.maxSlugSize == "500M")
        #expect(push.limits?.pids == 512)
    }

    @Test("5xx on an idempotent call is retried with backoff")
    func retries() throws {
        let count = Mutex(0)
        let server = try FakeHTTPServer { _ in
            let n = count.withLock { value in
                value += 1
                return value
            }
            return n < 3 ? .json(503, #"{"error":"busy"}"#) : .json(200, #"{"user":"alice","fingerprint":"SHA256:x"}"#)
        }
        defer { server.stop() }
        let owner = try client(server).lookupKey(type: "ssh-ed25519", key: "AAAA")
        #expect(owner?.user == "alice")
        #expect(server.requests.count == 3)
    }

    @Test("a release is not retried (not idempotent)")
    func releaseNotRetried() throws {
        let server = try FakeHTTPServer { _ in .json(500, #"{"error":"database is locked"}"#) }
        defer { server.stop() }
        let release = ReleaseRequest(
            slugID: "s-1", processTypes: ["web": "x"], commit: "abc", sha256: "00", size: 1, buildpack: "procfile",
            stack: "ruko-1", description: "d")
        do {
            _ = try client(server).createRelease(url: server.url + "/v1/apps/demo/releases", release)
            Issue.record("a 500 was accepted")
        } catch {
            #expect(error.code == .apiError)
            #expect(error.message.contains("database is locked"))
        }
        #expect(server.requests.count == 1)
        let sent = try JSONSerialization.jsonObject(with: server.requests[0].body) as? [String: Any]
        #expect(sent?["slug_id"] as? String == "s-1")
        #expect((sent?["process_types"] as? [String: String]) == ["web": "x"])
    }

    @Test("API down: a clear message naming the URL")
    func unreachable() throws {
        // Bind and close a port so nothing listens there.
        let server = try FakeHTTPServer { _ in .json(200, "{}") }
        let url = server.url
        server.stop()
        let api = APIClient(baseURL: url, token: "t", timeout: 2, attempts: 2)
        api.backoff = 0.01
        do {
            try api.authorize(app: "demo", user: "alice", access: .write)
            Issue.record("no error from a closed port")
        } catch {
            #expect(error.code == .apiUnreachable)
            #expect(error.userLine.hasPrefix(" !  the ruko API at \(url) is unreachable: "))
        }
    }

    @Test("a server that hangs up mid-request counts as unreachable after the retries")
    func hangUp() throws {
        let server = try FakeHTTPServer { _ in FakeHTTPServer.Response(status: 0, body: Data(), hangUp: true) }
        defer { server.stop() }
        #expect(throws: ShimError.self) { try client(server).listKeys() }
        #expect(server.requests.count == 3)
    }

    @Test("storage: download (present, absent) and upload with retry")
    func storage() throws {
        let payload = Data((0..<200_000).map { UInt8($0 % 251) })
        let puts = Mutex(0)
        let server = try FakeHTTPServer { request in
            switch (request.method, request.path) {
            case ("GET", "/storage/present"): return FakeHTTPServer.Response(status: 200, body: payload)
            case ("GET", _): return .json(404, #"{"error":"not found"}"#)
            case ("PUT", _):
                let n = puts.withLock { value in
                    value += 1
                    return value
                }
                return n == 1 ? .json(502, "{}") : (request.body == payload ? .json(201, "{}") : .json(400, "{}"))
            default: return .json(405, "{}")
            }
        }
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        let api = client(server)
        let target = directory.path + "/got"
        #expect(try api.download(url: server.url + "/storage/present?sig=1", to: target))
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == payload)
        #expect(try api.download(url: server.url + "/storage/absent", to: directory.path + "/none") == false)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/none"))
        try api.upload(file: target, to: server.url + "/storage/x?sig=2", what: "slug")
        #expect(puts.withLock { $0 } == 2)
        // Storage calls carry no API token.
        #expect(server.requests.allSatisfy { $0.headers["authorization"] == nil })
    }

    @Test("an upload that keeps failing fails the push clearly")
    func uploadFails() throws {
        let server = try FakeHTTPServer { _ in .json(503, #"{"error":"disk full"}"#) }
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory.path + "/f"))
        do {
            try client(server).upload(file: directory.path + "/f", to: server.url + "/storage/k", what: "repository")
            Issue.record("accepted")
        } catch {
            #expect(error.code == .storage)
            #expect(error.message.hasPrefix("could not upload the repository: HTTP 503 disk full"))
        }
        #expect(server.requests.count == 3)
    }
}
