import Foundation
import Testing

@testable import RukoAPI

/// Every documented path + method + status, as an exchange against a real server.
///
/// The OpenAPI test runs each of these and checks the status and the body against the spec;
/// it also fails when the spec documents a status that has no scenario here, or the reverse.
enum Scenarios {
    typealias Scenario = @Sendable (TestServer) async throws -> TestServer.Exchange

    static let aliceBlob = String(Fixture.ed25519.split(separator: " ")[1])
    static let unknownBlob = String(Fixture.ecdsa.split(separator: " ")[1])

    static func push(_ server: TestServer, user: String = "alice") async throws -> [String: Any] {
        let response = try await server.request("POST", "/v1/apps/web/pushes", json: ["user": user])
        #expect(response.status == 200, "\(response.text)")
        return response.json
    }

    static func release(_ server: TestServer) async throws -> TestServer.Exchange {
        let slug = try #require(try await push(server)["slug"] as? [String: Any])
        let slugID = try #require(slug["id"] as? String)
        return try await server.request("POST", "/v1/apps/web/releases", json: releaseBody(slugID))
    }

    static func releaseBody(_ slugID: String, sha256: String = Fixture.sha) -> [String: Any] {
        [
            "slug_id": slugID, "process_types": ["web": "bin/web"], "commit": Fixture.commit, "sha256": sha256,
            "size": 1234, "buildpack": "procfile", "stack": "ruko-1", "description": "test",
        ]
    }

    static func signed(_ server: TestServer, _ method: StorageMethod, _ key: String) throws -> String {
        try server.local.signedURL(method, key: key, lifetime: 600)
    }

    static let all: [String: Scenario] = [
        "GET /healthz 200": { try await $0.request("GET", "/healthz", auth: false) },

        "POST /v1/keys/lookup 200": { server in
            let response = try await server.request(
                "POST", "/v1/keys/lookup", json: ["type": "ssh-ed25519", "key": aliceBlob])
            #expect(response.json["user"] as? String == "alice")
            #expect(response.json["fingerprint"] as? String == Fixture.ed25519Fingerprint)
            return response
        },
        "POST /v1/keys/lookup 400": { server in
            let missing = try await server.request("POST", "/v1/keys/lookup", json: ["type": "ssh-ed25519"])
            #expect(missing.error == "invalid JSON body: missing field 'key'")
            return try await server.request("POST", "/v1/keys/lookup", json: ["type": "ssh-foo", "key": aliceBlob])
        },
        "POST /v1/keys/lookup 401": { server in
            try await server.request(
                "POST", "/v1/keys/lookup", json: ["type": "ssh-ed25519", "key": aliceBlob], auth: false)
        },
        "POST /v1/keys/lookup 404": { server in
            let response = try await server.request(
                "POST", "/v1/keys/lookup", json: ["type": "ecdsa-sha2-nistp256", "key": unknownBlob])
            #expect(response.error == "unknown key")
            return response
        },

        "GET /v1/keys 200": { server in
            let response = try await server.request("GET", "/v1/keys")
            let keys = response.json["keys"] as? [[String: Any]]
            #expect(keys?.count == 1)
            #expect(keys?.first?["user"] as? String == "alice")
            #expect(keys?.first?["key"] as? String == aliceBlob)
            return response
        },
        "GET /v1/keys 401": { server in
            let response = try await server.request("GET", "/v1/keys", token: "wrong")
            #expect(response.headers["www-authenticate"] == "Bearer")
            return response
        },

        "POST /v1/apps/{app}/authorize 200": { server in
            let read = try await server.request(
                "POST", "/v1/apps/web/authorize", json: ["user": "bob", "access": "read"])
            #expect(read.status == 200)
            let response = try await server.request(
                "POST", "/v1/apps/web/authorize", json: ["user": "alice", "access": "write"])
            #expect(response.json["app"] as? String == "web")
            #expect(response.json["access"] as? String == "write")
            let repo = try #require(response.json["repo"] as? [String: Any])
            #expect(repo["exists"] as? Bool == false)
            let getURL = try #require(repo["get_url"] as? String)
            #expect(getURL.hasPrefix(server.base + "/storage/apps/web/repo.tgz?expires="))
            #expect(try await server.transfer("GET", getURL).status == 404)
            let put = try server.local.signedURL(.put, key: "apps/web/repo.tgz", lifetime: 60)
            #expect(try await server.transfer("PUT", put, body: Data("git".utf8)).status == 201)
            let again = try await server.request(
                "POST", "/v1/apps/web/authorize", json: ["user": "bob", "access": "read"])
            let againRepo = try #require(again.json["repo"] as? [String: Any])
            #expect(againRepo["exists"] as? Bool == true)
            #expect(try await server.transfer("GET", try #require(againRepo["get_url"] as? String)).text == "git")
            return response
        },
        "POST /v1/apps/{app}/authorize 400": { server in
            try await server.request("POST", "/v1/apps/web/authorize", json: ["user": "alice", "access": "admin"])
        },
        "POST /v1/apps/{app}/authorize 401": { server in
            try await server.request(
                "POST", "/v1/apps/web/authorize", json: ["user": "alice", "access": "read"], auth: false)
        },
        "POST /v1/apps/{app}/authorize 403": { server in
            let stranger = try await server.request(
                "POST", "/v1/apps/web/authorize", json: ["user": "eve", "access": "read"])
            #expect(stranger.status == 403)
            #expect(stranger.error == "not an authorized user")
            let response = try await server.request(
                "POST", "/v1/apps/web/authorize", json: ["user": "bob", "access": "write"])
            #expect(response.error == "read-only access")
            return response
        },
        "POST /v1/apps/{app}/authorize 404": { server in
            let response = try await server.request(
                "POST", "/v1/apps/nope/authorize", json: ["user": "alice", "access": "read"])
            #expect(response.error == "unknown app")
            return response
        },

        "POST /v1/apps/{app}/pushes 200": { server in
            let first = try await push(server)
            let repo = try #require(first["repo"] as? [String: Any])
            #expect(repo["exists"] as? Bool == false)
            #expect((first["cache"] as? [String: Any])?["exists"] as? Bool == false)
            #expect(first["env"] as? [String: String] == ["COLOR": "blue"])
            #expect(first["release_url"] as? String == server.base + "/v1/apps/web/releases")
            #expect(first["template"] as? String == "default")
            #expect(first.keys.contains("buildpack_url") && first["buildpack_url"] is NSNull)
            let limits = first["limits"] as? [String: Any]
            #expect(limits?["memory"] as? String == "1G")
            #expect(limits?["pids"] as? Int == 512)
            // Upload a repo through the signed URL: the next push sees it.
            let putURL = try #require(repo["put_url"] as? String)
            #expect(try await server.transfer("PUT", putURL, body: Data("repo".utf8)).status == 201)
            try server.store.setConfig(
                app: "web", vars: ["BUILDPACK_URL": "https://example.com/bp.tgz", "RUKO_PIDS": "64"])
            let response = try await server.request("POST", "/v1/apps/web/pushes", json: ["user": "alice"])
            let second = response.json
            #expect((second["repo"] as? [String: Any])?["exists"] as? Bool == true)
            #expect(second["buildpack_url"] as? String == "https://example.com/bp.tgz")
            #expect((second["limits"] as? [String: Any])?["pids"] as? Int == 64)
            #expect(second["push_id"] as? String != first["push_id"] as? String)
            let getURL = try #require((second["repo"] as? [String: Any])?["get_url"] as? String)
            #expect(try await server.transfer("GET", getURL).text == "repo")
            return response
        },
        "POST /v1/apps/{app}/pushes 400": { server in
            try await server.request("POST", "/v1/apps/web/pushes", json: ["name": "alice"])
        },
        "POST /v1/apps/{app}/pushes 401": { server in
            try await server.request("POST", "/v1/apps/web/pushes", json: ["user": "alice"], token: "")
        },
        "POST /v1/apps/{app}/pushes 403": { server in
            let response = try await server.request("POST", "/v1/apps/web/pushes", json: ["user": "bob"])
            #expect(response.error == "read-only access")
            return response
        },
        "POST /v1/apps/{app}/pushes 404": { server in
            try await server.request("POST", "/v1/apps/nope/pushes", json: ["user": "alice"])
        },

        "POST /v1/apps/{app}/releases 201": { server in
            let first = try await release(server)
            #expect(first.json["name"] as? String == "v1")
            let response = try await release(server)
            #expect(response.json["version"] as? Int == 2)
            #expect(response.json["name"] as? String == "v2")
            return response
        },
        "POST /v1/apps/{app}/releases 400": { server in
            let slugID = try #require((try await push(server)["slug"] as? [String: Any])?["id"] as? String)
            let response = try await server.request(
                "POST", "/v1/apps/web/releases", json: releaseBody(slugID, sha256: "nothex"))
            #expect(response.error == "sha256 must be 64 lowercase hex digits")
            return response
        },
        "POST /v1/apps/{app}/releases 401": { server in
            try await server.request("POST", "/v1/apps/web/releases", json: releaseBody("s-x"), auth: false)
        },
        "POST /v1/apps/{app}/releases 404": { server in
            try await server.request("POST", "/v1/apps/nope/releases", json: releaseBody("s-x"))
        },
        "POST /v1/apps/{app}/releases 422": { server in
            try await server.request("POST", "/v1/apps/web/releases", json: releaseBody("s-0000000000000000"))
        },

        "GET /v1/apps/{app}/releases 200": { server in
            _ = try await release(server)
            try server.store.setConfig(app: "web", vars: ["COLOR": "red"])
            _ = try await release(server)
            let response = try await server.request("GET", "/v1/apps/web/releases")
            let releases = try #require(response.json["releases"] as? [[String: Any]])
            #expect(releases.map { $0["name"] as? String } == ["v2", "v1"])
            #expect((releases[1]["config_vars"] as? [String: String])?["COLOR"] == "blue")
            #expect((releases[0]["config_vars"] as? [String: String])?["COLOR"] == "red")
            return response
        },
        "GET /v1/apps/{app}/releases 401": { server in
            try await server.request("GET", "/v1/apps/web/releases", auth: false)
        },
        "GET /v1/apps/{app}/releases 404": { server in
            try await server.request("GET", "/v1/apps/nope/releases")
        },

        "GET /v1/apps/{app}/releases/{version} 200": { server in
            _ = try await release(server)
            let response = try await server.request("GET", "/v1/apps/web/releases/v1")
            #expect(response.json["version"] as? Int == 1)
            #expect(response.json["process_types"] as? [String: String] == ["web": "bin/web"])
            #expect(response.json["config_vars"] as? [String: String] == ["COLOR": "blue"])
            #expect(try await server.request("GET", "/v1/apps/web/releases/1").status == 200)
            return response
        },
        "GET /v1/apps/{app}/releases/{version} 400": { server in
            try await server.request("GET", "/v1/apps/web/releases/vx")
        },
        "GET /v1/apps/{app}/releases/{version} 401": { server in
            try await server.request("GET", "/v1/apps/web/releases/v1", token: "Bearer")
        },
        "GET /v1/apps/{app}/releases/{version} 404": { server in
            let response = try await server.request("GET", "/v1/apps/web/releases/v99")
            #expect(response.error == "unknown release v99 of app web")
            return response
        },

        "GET /storage/{key} 200": { server in
            let key = "apps/web/cache.tgz"
            #expect(
                try await server.transfer("PUT", try signed(server, .put, key), body: Data("cache!".utf8)).status == 201
            )
            let response = try await server.transfer("GET", try signed(server, .get, key))
            #expect(response.text == "cache!")
            return response
        },
        "GET /storage/{key} 403": { server in
            let key = "apps/web/repo.tgz"
            let url = try signed(server, .get, key)
            let tampered = try await server.transfer("GET", url.replacingOccurrences(of: "repo.tgz", with: "cache.tgz"))
            #expect(tampered.status == 403)
            let expires = Int(Date().timeIntervalSince1970) - 1
            let signature = server.local.signer.signature(.get, key: key, expires: expires)
            let expired = try await server.transfer(
                "GET", "\(server.base)/storage/\(key)?expires=\(expires)&sig=\(signature)")
            #expect(expired.error == "signed URL expired")
            #expect(try await server.transfer("GET", "\(server.base)/storage/\(key)").status == 403)
            return expired
        },
        "GET /storage/{key} 404": { server in
            let response = try await server.transfer("GET", try signed(server, .get, "apps/web/slugs/s-1.tgz"))
            #expect(try await server.transfer("GET", "\(server.base)/storage/apps/.x/y?expires=1&sig=00").status == 404)
            return response
        },

        "PUT /storage/{key} 200": { server in
            let url = try signed(server, .put, "apps/web/slugs/s-1.tgz")
            #expect(try await server.transfer("PUT", url, body: Data("one".utf8)).status == 201)
            let response = try await server.transfer("PUT", url, body: Data("two".utf8))
            let get = try await server.transfer("GET", try signed(server, .get, "apps/web/slugs/s-1.tgz"))
            #expect(get.text == "two")
            return response
        },
        "PUT /storage/{key} 201": { server in
            let response = try await server.transfer(
                "PUT", try signed(server, .put, "apps/web/slugs/s-2.tgz"), body: Data(repeating: 7, count: 300_000))
            #expect(response.json["size"] as? Int == 300_000)
            #expect(response.json["key"] as? String == "apps/web/slugs/s-2.tgz")
            return response
        },
        "PUT /storage/{key} 403": { server in
            // A GET-signed URL does not allow PUT.
            try await server.transfer("PUT", try signed(server, .get, "apps/web/repo.tgz"), body: Data("x".utf8))
        },
        "PUT /storage/{key} 404": { server in
            try await server.transfer(
                "PUT", "\(server.base)/storage/apps/web/.hidden?expires=1&sig=00", body: Data("x".utf8))
        },
        "PUT /storage/{key} 411": { server in
            let target = TestServer.pathAndQuery(try signed(server, .put, "apps/web/repo.tgz"))
            let request =
                "PUT \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + "5\r\nhello\r\n0\r\n\r\n"
            return try #require(try server.raw(Data(request.utf8)))
        },
        "PUT /storage/{key} 413": { server in
            // Refused on the header alone: none of the announced 3 GB is read or stored.
            let target = TestServer.pathAndQuery(try signed(server, .put, "apps/web/repo.tgz"))
            let request =
                "PUT \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3000000000\r\nConnection: close\r\n\r\n"
            let response = try #require(try server.raw(Data(request.utf8)))
            #expect(!FileManager.default.fileExists(atPath: server.data.storagePath + "/apps/web/repo.tgz"))
            return response
        },
    ]
}

@Suite(.serialized) struct HTTPTests {
    @Test func interruptedUploadLeavesTheOldObject() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let key = "apps/web/repo.tgz"
        let put = try server.local.signedURL(.put, key: key, lifetime: 600)
        #expect(try await server.transfer("PUT", put, body: Data("old object".utf8)).status == 201)

        let head =
            "PUT \(TestServer.pathAndQuery(put)) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
            + "Content-Type: application/octet-stream\r\n\r\n"
        _ = try server.raw(Data(head.utf8) + Data("0123456789".utf8), closeEarly: true)

        // The server notices the closed connection; the temporary file goes away, the object stays.
        var cleaned = false
        for _ in 0..<100 {
            if server.temporaryFiles().isEmpty {
                cleaned = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(cleaned, "temporary files left: \(server.temporaryFiles())")
        let get = try await server.transfer("GET", try server.local.signedURL(.get, key: key, lifetime: 600))
        #expect(get.text == "old object")
        // A complete upload on the same URL still works afterwards.
        #expect(try await server.transfer("PUT", put, body: Data("new".utf8)).status == 200)
        #expect(
            try await server.transfer("GET", try server.local.signedURL(.get, key: key, lifetime: 600)).text == "new")
    }

    /// A client that sends part of the body and then goes silent is cut off after the idle
    /// timeout; its temporary file goes away and the old object stays.
    @Test func stalledUploadIsDroppedAfterTheIdleTimeout() async throws {
        let server = try await TestServer.start(idleTimeout: 1)
        defer { Task { await server.stop() } }
        let key = "apps/web/cache.tgz"
        let put = try server.local.signedURL(.put, key: key, lifetime: 600)
        #expect(try await server.transfer("PUT", put, body: Data("old".utf8)).status == 201)
        let head = "PUT \(TestServer.pathAndQuery(put)) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"
        let started = Date()
        let stall = Task.detached {
            try server.raw(Data(head.utf8) + Data("0123456789".utf8), holdOpenFor: .seconds(20))
        }
        _ = try await stall.value
        let waited = Date().timeIntervalSince(started)
        #expect(waited < 10, "the server kept a silent upload open for \(waited) s")
        for _ in 0..<40 where !server.temporaryFiles().isEmpty {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(server.temporaryFiles().isEmpty)
        #expect(
            try await server.transfer("GET", try server.local.signedURL(.get, key: key, lifetime: 60)).text == "old")
    }

    @Test func concurrentReleasesOverHTTPGetDistinctNumbers() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let slug = try #require(try await Scenarios.push(server)["slug"] as? [String: Any])
        let slugID = try #require(slug["id"] as? String)
        let versions = try await withThrowingTaskGroup(of: Int?.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let response = try await server.request(
                        "POST", "/v1/apps/web/releases", json: Scenarios.releaseBody(slugID))
                    return response.json["version"] as? Int
                }
            }
            return try await group.reduce(into: [Int?]()) { $0.append($1) }
        }
        #expect(versions.compactMap { $0 }.sorted() == Array(1...20))
    }

    @Test func unknownRoutesAnswerJSON404() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let response = try await server.request("GET", "/v1/nothing")
        #expect(response.status == 404)
    }
}
