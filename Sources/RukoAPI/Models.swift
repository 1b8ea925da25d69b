import Foundation

/// How much an SSH user may do with an app.
public enum AccessLevel: String, Codable, Sendable, CaseIterable {
    /// May fetch (`git fetch`/`clone`).
    case read
    /// May push; implies read.
    case write
}

/// A stored SSH key and its owner, as returned by `GET /v1/keys` and `POST /v1/keys/lookup`.
public struct KeyRecord: Codable, Equatable, Sendable {
    /// The owning user.
    public var user: String
    /// The key algorithm, e.g. `ssh-ed25519`.
    public var type: String
    /// The key blob in base64.
    public var key: String
    /// `SHA256:…` as printed by `ssh-keygen -lf`.
    public var fingerprint: String
    /// The comment from the `.pub` file.
    public var comment: String
}

/// A push the API has handed storage URLs for; its slug id is what a release may reference.
public struct Push: Equatable, Sendable {
    /// `p-` + 16 hex digits.
    public var id: String
    /// `s-` + 16 hex digits.
    public var slugID: String
    /// The app pushed to.
    public var app: String
    /// The pushing user.
    public var user: String
}

/// What a client sends to create a release (`POST /v1/apps/{app}/releases`).
public struct NewRelease: Codable, Equatable, Sendable {
    public var slugID: String
    public var processTypes: [String: String]
    public var commit: String
    public var sha256: String
    public var size: Int64
    public var buildpack: String
    public var stack: String
    public var description: String?
    public var user: String?

    /// Creates the body of a release request.
    public init(
        slugID: String, processTypes: [String: String], commit: String, sha256: String, size: Int64,
        buildpack: String, stack: String, description: String? = nil, user: String? = nil
    ) {
        self.slugID = slugID
        self.processTypes = processTypes
        self.commit = commit
        self.sha256 = sha256
        self.size = size
        self.buildpack = buildpack
        self.stack = stack
        self.description = description
        self.user = user
    }

    enum CodingKeys: String, CodingKey {
        case slugID = "slug_id"
        case processTypes = "process_types"
        case commit, sha256, size, buildpack, stack, description, user
    }

    /// Checks field shapes; the message names the field at fault.
    public func validate() throws(RukoAPIError) {
        let hex = Set("0123456789abcdef")
        guard sha256.count == 64, sha256.allSatisfy({ hex.contains($0) }) else {
            throw .badRequest("sha256 must be 64 lowercase hex digits")
        }
        guard size >= 0 else { throw .badRequest("size must not be negative") }
        guard !commit.isEmpty, commit.count <= 64, commit.allSatisfy({ hex.contains($0) }) else {
            throw .badRequest("commit must be a hex git object id")
        }
        for name in processTypes.keys {
            guard !name.isEmpty, name.count <= 63,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            else {
                throw .badRequest("process type names are letters, digits, '_' and '-' (got '\(name)')")
            }
        }
        guard !buildpack.isEmpty else { throw .badRequest("buildpack must not be empty") }
        guard !stack.isEmpty else { throw .badRequest("stack must not be empty") }
    }
}

/// An immutable, numbered release of an app.
public struct Release: Codable, Equatable, Sendable {
    public var version: Int
    public var name: String
    public var slugID: String
    public var processTypes: [String: String]
    public var commit: String
    public var sha256: String
    public var size: Int64
    public var buildpack: String
    public var stack: String
    public var description: String
    public var user: String?
    /// The app's config vars at the moment the release was created.
    public var configVars: [String: String]
    /// RFC 3339, UTC.
    public var createdAt: String

    enum CodingKeys: String, CodingKey {
        case version, name
        case slugID = "slug_id"
        case processTypes = "process_types"
        case commit, sha256, size, buildpack, stack, description, user
        case configVars = "config_vars"
        case createdAt = "created_at"
    }
}
