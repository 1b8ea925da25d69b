import Crypto
import Foundation

/// An OpenSSH public key: the algorithm name, the wire-format blob and an optional comment.
///
/// Parsed from one line of a `.pub` / `authorized_keys` file (`type base64 [comment]`). The
/// fingerprint is what `ssh-keygen -lf` prints: `SHA256:` + unpadded base64 of SHA-256(blob).
public struct SSHPublicKey: Equatable, Sendable {
    /// Key types OpenSSH accepts for user authentication.
    public static let knownTypes: Set<String> = [
        "ssh-ed25519", "ssh-rsa", "ssh-dss",
        "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ]

    /// The algorithm name, e.g. `ssh-ed25519`.
    public let type: String
    /// The key blob in base64, as it appears in the `.pub` file.
    public let base64: String
    /// The comment after the key, or the empty string.
    public let comment: String

    /// Parses `type base64 [comment]` and checks that the blob is valid and names the same type.
    public init(type: String, base64: String, comment: String = "") throws(RukoAPIError) {
        guard Self.knownTypes.contains(type) else {
            throw .invalidKey(
                "unsupported key type '\(type)' (expected one of \(Self.knownTypes.sorted().joined(separator: ", ")))")
        }
        guard let blob = Data(base64Encoded: base64), !blob.isEmpty else {
            throw .invalidKey("the key data is not valid base64")
        }
        guard let embedded = Self.leadingString(of: blob) else {
            throw .invalidKey("the key data is not an SSH public key blob")
        }
        guard embedded == type else {
            throw .invalidKey("the line says '\(type)' but the key data is a '\(embedded)' key")
        }
        self.type = type
        self.base64 = blob.base64EncodedString()
        self.comment = comment
    }

    /// Parses one line of a `.pub` file; blank lines and `#` comments are rejected.
    public init(line: String) throws(RukoAPIError) {
        let fields = line.split(maxSplits: 2, whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2 else {
            if line.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw .invalidKey("the line is empty")
            }
            throw .invalidKey("expected 'TYPE BASE64 [COMMENT]' (the contents of a .pub file)")
        }
        let comment = fields.count > 2 ? fields[2].trimmingCharacters(in: .whitespacesAndNewlines) : ""
        try self.init(type: String(fields[0]), base64: String(fields[1]), comment: comment)
    }

    /// Parses the contents of a `.pub` file: exactly one key line (comment lines and blank lines skipped).
    public init(fileContents: String) throws(RukoAPIError) {
        let lines = fileContents.split(whereSeparator: \.isNewline).map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard let first = lines.first else { throw .invalidKey("the file holds no key") }
        guard lines.count == 1 else {
            throw .invalidKey("the file holds \(lines.count) keys; add them one at a time")
        }
        try self.init(line: first)
    }

    /// `SHA256:` followed by the unpadded base64 of the SHA-256 of the key blob (like `ssh-keygen -lf`).
    public var fingerprint: String {
        Self.fingerprint(ofBase64: base64) ?? ""
    }

    /// The fingerprint of a base64 key blob, or nil when it is not base64.
    public static func fingerprint(ofBase64 base64: String) -> String? {
        guard let blob = Data(base64Encoded: base64) else { return nil }
        let digest = Data(SHA256.hash(data: blob)).base64EncodedString()
        return "SHA256:" + digest.replacingOccurrences(of: "=", with: "")
    }

    /// The line as it goes into `authorized_keys`.
    public var line: String {
        comment.isEmpty ? "\(type) \(base64)" : "\(type) \(base64) \(comment)"
    }

    /// The first length-prefixed string of an SSH wire-format blob.
    private static func leadingString(of blob: Data) -> String? {
        let bytes = [UInt8](blob)
        guard bytes.count >= 4 else { return nil }
        let length = bytes[0..<4].reduce(0) { ($0 << 8) | Int($1) }
        guard length > 0, length <= 64, bytes.count >= 4 + length else { return nil }
        return String(bytes: bytes[4..<(4 + length)], encoding: .utf8)
    }
}
