/// The git service a client asked for over SSH.
public enum GitService: String, Sendable, Equatable {
    /// `git push`: needs write access.
    case receivePack = "git-receive-pack"
    /// `git clone` / `git fetch`: needs read access.
    case uploadPack = "git-upload-pack"

    /// The access the service needs.
    public var access: Access {
        switch self {
        case .receivePack: .write
        case .uploadPack: .read
        }
    }

    /// The git subcommand (`receive-pack`, `upload-pack`).
    public var gitSubcommand: String {
        switch self {
        case .receivePack: "receive-pack"
        case .uploadPack: "upload-pack"
        }
    }
}

/// Access levels the API grants a user on an app.
public enum Access: String, Sendable, Equatable, Codable {
    case read
    case write
}

/// A validated `SSH_ORIGINAL_COMMAND`: one git service on one app, nothing else.
public struct SSHCommand: Sendable, Equatable {
    public var service: GitService
    public var app: String

    public init(service: GitService, app: String) {
        self.service = service
        self.app = app
    }

    /// The access this command needs.
    public var access: Access { service.access }

    /// The canonical form (`git-receive-pack 'app.git'`), what the daemon is handed.
    public var canonical: String { "\(service.rawValue) '\(app).git'" }

    /// Parses the command a client sent, strictly.
    ///
    /// Accepted, byte for byte as git sends them: `git-receive-pack 'APP.git'`,
    /// `git-upload-pack 'APP.git'`, the `git receive-pack` / `git upload-pack` spellings, with an
    /// optional leading `/` before the name and an optional `.git` suffix. `APP` must match
    /// `[a-z][a-z0-9-]*` (at most 63 characters). Anything else — other commands, extra
    /// arguments, shell metacharacters, `..`, slashes, unquoted or double-quoted paths, control
    /// characters — is refused. The string is never handed to a shell.
    public static func parse(_ raw: String?) throws(ShimError) -> SSHCommand {
        guard let raw, !raw.isEmpty else {
            throw ShimError(
                "interactive sessions are not available; use git push / git clone", code: .badCommand)
        }
        let bytes = Array(raw.utf8)
        guard bytes.count <= 200 else { throw ShimError("command too long", code: .badCommand) }
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else {
            throw ShimError("command contains control or non-ASCII characters", code: .badCommand)
        }

        let service: GitService
        let rest: Substring
        if let tail = raw.droppingPrefix("git-receive-pack ") ?? raw.droppingPrefix("git receive-pack ") {
            service = .receivePack
            rest = tail
        } else if let tail = raw.droppingPrefix("git-upload-pack ") ?? raw.droppingPrefix("git upload-pack ") {
            service = .uploadPack
            rest = tail
        } else {
            throw ShimError(
                "unknown command; only git-receive-pack and git-upload-pack are served", code: .badCommand)
        }

        // Exactly one single-quoted argument, nothing after the closing quote.
        guard rest.count >= 2, rest.first == "'", rest.last == "'" else {
            throw ShimError("the repository path must be a single quoted argument", code: .badCommand)
        }
        var path = rest.dropFirst().dropLast()
        if path.first == "/" { path = path.dropFirst() }
        if path.hasSuffix(".git") { path = path.dropLast(4) }
        let app = String(path)
        guard isValidAppName(app) else {
            throw ShimError(
                "invalid app name; expected a plain name like 'my-app.git' ([a-z][a-z0-9-]*)", code: .badCommand)
        }
        return SSHCommand(service: service, app: app)
    }

    /// `[a-z][a-z0-9-]*`, 1–63 characters (a DNS label, so it fits in host names).
    public static func isValidAppName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 63, first >= 0x61, first <= 0x7a else {
            return false
        }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }
    }

    /// User ids as the API issues them: `[A-Za-z0-9][A-Za-z0-9._@+-]*`, at most 64 characters.
    /// They end up inside an authorized_keys `command="…"` option, so nothing that could
    /// terminate the quoting or reach a shell is allowed.
    public static func isValidUserID(_ user: String) -> Bool {
        let bytes = Array(user.utf8)
        guard let first = bytes.first, bytes.count <= 64, isAlnum(first) else { return false }
        return bytes.allSatisfy {
            isAlnum($0) || $0 == 0x2e || $0 == 0x5f || $0 == 0x40 || $0 == 0x2b || $0 == 0x2d
        }
    }

    private static func isAlnum(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39)
    }
}

extension String {
    fileprivate func droppingPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? self.dropFirst(prefix.count) : nil
    }
}
