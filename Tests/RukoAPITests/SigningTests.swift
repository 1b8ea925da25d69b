import Crypto
import Foundation
import Hummingbird
import Testing

@testable import RukoAPI

@Suite struct URLSignerTests {
    let signer = URLSigner(key: SymmetricKey(data: Array(repeating: UInt8(7), count: 32)))
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func signsAndVerifies() throws {
        let expires = 1_700_000_600
        let sig = signer.signature(.put, key: "apps/x/repo.tgz", expires: expires)
        #expect(sig.count == 64)
        try signer.verify(.put, key: "apps/x/repo.tgz", expires: "\(expires)", signature: sig, now: now)
    }

    @Test func refusesOtherMethodKeyExpiryOrSecret() {
        let expires = 1_700_000_600
        let sig = signer.signature(.get, key: "apps/x/repo.tgz", expires: expires)
        #expect(throws: URLSigner.Failure.badSignature) {
            try signer.verify(.put, key: "apps/x/repo.tgz", expires: "\(expires)", signature: sig, now: now)
        }
        #expect(throws: URLSigner.Failure.badSignature) {
            try signer.verify(.get, key: "apps/y/repo.tgz", expires: "\(expires)", signature: sig, now: now)
        }
        #expect(throws: URLSigner.Failure.badSignature) {
            try signer.verify(.get, key: "apps/x/repo.tgz", expires: "\(expires + 1)", signature: sig, now: now)
        }
        let other = URLSigner(key: SymmetricKey(data: Array(repeating: UInt8(8), count: 32)))
        #expect(throws: URLSigner.Failure.badSignature) {
            try other.verify(.get, key: "apps/x/repo.tgz", expires: "\(expires)", signature: sig, now: now)
        }
        #expect(throws: URLSigner.Failure.self) {
            try signer.verify(.get, key: "apps/x/repo.tgz", expires: nil, signature: sig, now: now)
        }
        #expect(throws: URLSigner.Failure.self) {
            try signer.verify(.get, key: "apps/x/repo.tgz", expires: "\(expires)", signature: "zz", now: now)
        }
    }

    @Test func expires() throws {
        let expires = 1_700_000_600
        let sig = signer.signature(.get, key: "k", expires: expires)
        try signer.verify(
            .get, key: "k", expires: "\(expires)", signature: sig, now: Date(timeIntervalSince1970: 1_700_000_600))
        #expect(throws: URLSigner.Failure.expired) {
            try signer.verify(
                .get, key: "k", expires: "\(expires)", signature: sig, now: Date(timeIntervalSince1970: 1_700_000_601))
        }
    }

    @Test func localStorageURLsCarryAVerifiableSignature() throws {
        let storage = LocalStorage(
            root: "/nonexistent", signer: signer, publicURL: "http://127.0.0.1:9/",
            now: { Date(timeIntervalSince1970: 1_700_000_000) })
        let url = try storage.signedURL(.put, key: "apps/x/slugs/s-1.tgz", lifetime: 3600)
        let components = try #require(URLComponents(string: url))
        #expect(components.path == "/storage/apps/x/slugs/s-1.tgz")
        #expect(url.hasPrefix("http://127.0.0.1:9/storage/"))
        let items = Dictionary(uniqueKeysWithValues: (components.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        #expect(items["expires"] == "1700003600")
        try signer.verify(
            .put, key: "apps/x/slugs/s-1.tgz", expires: items["expires"], signature: items["sig"], now: now)
        #expect(throws: RukoAPIError.self) { try storage.signedURL(.get, key: "../etc/passwd", lifetime: 60) }
    }

    @Test func dataDirectorySecretsAreStable() throws {
        let directory = try TemporaryDirectory()
        let data = try DataDirectory(directory.path + "/nested/data")
        let token = try data.token()
        #expect(token.count == 64)
        #expect(try data.token() == token)
        let key = try data.signingKey()
        #expect(try data.signingKey() == key)
        var info = stat()
        #expect(stat(data.root + "/token", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
    }
}

@Suite struct LocalStorageTests {
    let directory: TemporaryDirectory
    let storage: LocalStorage

    init() throws {
        directory = try TemporaryDirectory()
        storage = LocalStorage(
            root: directory.path, signer: URLSigner(key: SymmetricKey(size: .bits256)), publicURL: "http://x")
    }

    func contents(_ key: String) -> String? {
        FileManager.default.contents(atPath: directory.path + "/" + key).map { String(decoding: $0, as: UTF8.self) }
    }

    func hiddenFiles() throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: directory.path).filter {
            $0.split(separator: "/").last?.hasPrefix(".") == true
        }
    }

    @Test func storesAndReplaces() async throws {
        let key = "apps/x/repo.tgz"
        #expect(try await !storage.exists(key: key))
        #expect(try await storage.store(key: key, expectedLength: 5, body: chunks(["hel", "lo"])) == false)
        #expect(contents(key) == "hello")
        #expect(try await storage.exists(key: key))
        #expect(try await storage.store(key: key, expectedLength: 3, body: chunks(["bye"])) == true)
        #expect(contents(key) == "bye")
        #expect(try hiddenFiles().isEmpty)
    }

    @Test func shortOrLongUploadLeavesTheOldObject() async throws {
        let key = "apps/x/cache.tgz"
        try await storage.store(key: key, expectedLength: 3, body: chunks(["old"]))
        await #expect(throws: RukoAPIError.self) {
            try await storage.store(key: key, expectedLength: 1000, body: chunks(["0123456789"]))
        }
        await #expect(throws: RukoAPIError.self) {
            try await storage.store(key: key, expectedLength: 2, body: chunks(["abc"]))
        }
        #expect(contents(key) == "old")
        #expect(try hiddenFiles().isEmpty)
    }

    @Test func failingStreamLeavesTheOldObject() async throws {
        struct Interrupted: Error {}
        let key = "apps/x/slugs/s-1.tgz"
        try await storage.store(key: key, expectedLength: 3, body: chunks(["old"]))
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        continuation.yield(ByteBuffer(string: "new data"))
        continuation.finish(throwing: Interrupted())
        await #expect(throws: Interrupted.self) {
            try await storage.store(key: key, expectedLength: 100, body: stream)
        }
        #expect(contents(key) == "old")
        #expect(try hiddenFiles().isEmpty)
    }

    func chunks(_ parts: [String]) -> AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            for part in parts { continuation.yield(ByteBuffer(string: part)) }
            continuation.finish()
        }
    }
}

@Suite struct SigV4Tests {
    /// AWS's documented example: "Authenticating Requests: Using Query Parameters (AWS Signature
    /// Version 4)" — a presigned GET of examplebucket/test.txt valid for 86400 s.
    @Test func awsPublishedPresignedGETExample() {
        let presigner = SigV4Presigner(
            accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1")
        let result = presigner.presign(
            method: "GET", scheme: "https", host: "examplebucket.s3.amazonaws.com", pathSegments: ["test.txt"],
            date: Date(timeIntervalSince1970: 1_369_353_600), expires: 86400)
        #expect(
            result.canonicalRequest == """
                GET
                /test.txt
                X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host
                host:examplebucket.s3.amazonaws.com

                host
                UNSIGNED-PAYLOAD
                """)
        #expect(
            result.stringToSign == """
                AWS4-HMAC-SHA256
                20130524T000000Z
                20130524/us-east-1/s3/aws4_request
                3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04
                """)
        #expect(result.signature == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        #expect(
            result.url
                == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        )
    }

    @Test func uriEncoding() {
        #expect(SigV4Presigner.encode("a b/c~d_e.f-g") == "a%20b%2Fc~d_e.f-g")
        #expect(SigV4Presigner.encode("é") == "%C3%A9")
    }

    @Test func s3StorageUsesPathStyleURLs() throws {
        let storage = try S3Storage(
            configuration: S3Configuration(
                endpoint: "http://127.0.0.1:9000", bucket: "ruko", region: "us-east-1", accessKeyID: "AK",
                secretAccessKey: "SK"),
            now: { Date(timeIntervalSince1970: 1_369_353_600) })
        let url = try storage.signedURL(.put, key: "apps/x/repo.tgz", lifetime: 3600)
        #expect(url.hasPrefix("http://127.0.0.1:9000/ruko/apps/x/repo.tgz?X-Amz-Algorithm=AWS4-HMAC-SHA256&"))
        #expect(url.contains("X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"))
        #expect(url.contains("X-Amz-Expires=3600"))
        let https = try S3Storage(
            configuration: S3Configuration(
                endpoint: "https://s3.eu-west-1.amazonaws.com:443", bucket: "b", region: "eu-west-1",
                accessKeyID: "AK", secretAccessKey: "SK"))
        #expect(https.host == "s3.eu-west-1.amazonaws.com")
        for endpoint in ["ftp://x", "http://", "http://h/path", "not a url"] {
            #expect(throws: RukoAPIError.self, "\(endpoint)") {
                try S3Storage(
                    configuration: S3Configuration(
                        endpoint: endpoint, bucket: "b", region: "r", accessKeyID: "a", secretAccessKey: "s"))
            }
        }
    }
}
