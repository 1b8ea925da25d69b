import Foundation

/// Everything that can go wrong in the ruko-api control plane, with a message a person can act on.
///
/// Each case maps to one HTTP status (``httpStatus``) so that the server and the admin CLI report
/// the same words.
public enum RukoAPIError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A name (app, user, config key, release version…) does not follow its rule.
    case invalidName(kind: String, value: String, rule: String)
    /// An SSH public key line could not be parsed.
    case invalidKey(String)
    /// A request body or argument is malformed.
    case badRequest(String)
    /// The named app does not exist.
    case unknownApp(String)
    /// The named user does not exist.
    case unknownUser(String)
    /// The release does not exist.
    case unknownRelease(app: String, version: Int)
    /// The object does not exist in storage.
    case unknownObject(String)
    /// Something with that name already exists.
    case alreadyExists(kind: String, name: String, hint: String)
    /// The user has no access to the app.
    case notAuthorized
    /// The user has read access and asked for write.
    case readOnly
    /// A slug id the API never handed out for that app.
    case unknownSlug(app: String, slugID: String)
    /// A config value cannot be written in the requested format.
    case unrepresentable(String)
    /// A file or database operation failed.
    case io(operation: String, path: String, detail: String)

    public var description: String {
        switch self {
        case .invalidName(let kind, let value, let rule):
            return "invalid \(kind) \(Self.quoted(value)): \(rule)"
        case .invalidKey(let reason):
            return "invalid SSH public key: \(reason)"
        case .badRequest(let reason):
            return reason
        case .unknownApp:
            return "unknown app"
        case .unknownUser(let name):
            return "unknown user \(Self.quoted(name)) (add it with `ruko-api users:add \(name)`)"
        case .unknownRelease(let app, let version):
            return "unknown release v\(version) of app \(app)"
        case .unknownObject(let key):
            return "no object stored at \(key)"
        case .alreadyExists(let kind, let name, let hint):
            return "\(kind) \(Self.quoted(name)) already exists\(hint.isEmpty ? "" : " (\(hint))")"
        case .notAuthorized:
            return "not an authorized user"
        case .readOnly:
            return "read-only access"
        case .unknownSlug(let app, let slugID):
            return "slug \(Self.quoted(slugID)) was not issued for app \(app) (request a push first)"
        case .unrepresentable(let reason):
            return reason
        case .io(let operation, let path, let detail):
            return "\(operation) \(path): \(detail)"
        }
    }

    /// The HTTP status code this error is reported with.
    public var httpStatus: Int {
        switch self {
        case .invalidName, .invalidKey, .badRequest, .unrepresentable: return 400
        case .unknownApp, .unknownUser, .unknownRelease, .unknownObject: return 404
        case .alreadyExists: return 409
        case .notAuthorized, .readOnly: return 403
        case .unknownSlug: return 422
        case .io: return 500
        }
    }

    static func quoted(_ value: String) -> String {
        let shown = value.count > 64 ? String(value.prefix(64)) + "…" : value
        return "'" + shown + "'"
    }

    /// An I/O error built from the current `errno`.
    static func posix(_ operation: String, _ path: String, _ code: Int32 = errno) -> RukoAPIError {
        .io(operation: operation, path: path, detail: "\(String(cString: strerror(code))) (errno \(code))")
    }
}
