import Crypto
import Foundation

/// AWS Signature Version 4 query-string presigning ("authenticating requests: using query
/// parameters"), as documented by AWS for S3. Payload is `UNSIGNED-PAYLOAD`; only `host` is signed.
public struct SigV4Presigner: Sendable {
    /// The access key id (`AKIA…`).
    public var accessKeyID: String
    /// The secret access key.
    public var secretAccessKey: String
    /// The region, e.g. `us-east-1`.
    public var region: String
    /// The service, `s3`.
    public var service: String

    /// A presigner for `service` in `region`.
    public init(accessKeyID: String, secretAccessKey: String, region: String, service: String = "s3") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.region = region
        self.service = service
    }

    /// The parts of a presigned request, kept for tests and debugging.
    public struct Presigned: Sendable {
        /// The full URL to hand out.
        public var url: String
        /// The canonical request that was signed.
        public var canonicalRequest: String
        /// The string to sign.
        public var stringToSign: String
        /// The hex signature (`X-Amz-Signature`).
        public var signature: String
    }

    /// Presigns `method` on `scheme://host/path`.
    ///
    /// - Parameters:
    ///   - host: the `Host` header the client will send (`host` or `host:port` for non-default ports).
    ///   - pathSegments: the unencoded path segments (`[bucket, "dir", "file"]` for path-style URLs).
    ///   - date: the signing time.
    ///   - expires: lifetime in seconds (1…604800).
    public func presign(
        method: String, scheme: String, host: String, pathSegments: [String], date: Date, expires: Int
    ) -> Presigned {
        let timestamp = Self.amzDate(date)
        let day = String(timestamp.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let query: [(String, String)] = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "\(accessKeyID)/\(scope)"),
            ("X-Amz-Date", timestamp),
            ("X-Amz-Expires", String(expires)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        let encodedPairs: [String] = query.map { (name: String, value: String) -> String in
            Self.encode(name) + "=" + Self.encode(value)
        }
        // Names are distinct, so sorting "name=value" strings by the name part is enough.
        let canonicalQuery = encodedPairs.sorted { (a: String, b: String) -> Bool in
            a.prefix(while: { $0 != "=" }) < b.prefix(while: { $0 != "=" })
        }.joined(separator: "&")
        let canonicalURI = "/" + pathSegments.map { Self.encode($0) }.joined(separator: "/")
        let canonicalRequest = [
            method, canonicalURI, canonicalQuery, "host:\(host)\n", "host", "UNSIGNED-PAYLOAD",
        ].joined(separator: "\n")
        let stringToSign = [
            "AWS4-HMAC-SHA256", timestamp, scope, Data(SHA256.hash(data: Data(canonicalRequest.utf8))).hex,
        ].joined(separator: "\n")
        var key = SymmetricKey(data: Data(("AWS4" + secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = Data(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key)).hex
        let url = "\(scheme)://\(host)\(canonicalURI)?\(canonicalQuery)&X-Amz-Signature=\(signature)"
        return Presigned(
            url: url, canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature)
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// AWS URI encoding: everything but `A-Z a-z 0-9 - _ . ~` as `%XX` (uppercase hex).
    public static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
