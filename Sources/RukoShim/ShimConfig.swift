import Foundation
import RukoSandbox

/// The shim's own configuration.
///
/// Read from a file of `key = value` lines (`#` comments, blank lines ignored; default
/// `/etc/ruko/shim.conf`), then overridden by `RUKO_API_URL` / `RUKO_API_TOKEN` (and the other
/// `RUKO_SHIM_*` variables) from the environment. Unknown keys are an error, so a typo is not
/// silently ignored.
public struct ShimConfig: Sendable, Equatable {
    /// The default location of the configuration file.
    public static let defaultPath = "/etc/ruko/shim.conf"

    /// Base URL of ruko-api, e.g. `http://127.0.0.1:5000`.
    public var apiURL: String?
    /// Bearer token for ruko-api (`ruko-api token --data DIR`).
    public var apiToken: String?
    /// Where per-push work directories and the per-app lock files live.
    public var stateDirectory: String = "/var/lib/ruko/shim"
    /// How long a push waits for another deploy of the same app, in seconds.
    public var lockTimeout: Double = 60
    /// The daemon's unix socket.
    public var socketPath: String = "/run/ruko/shim.sock"
    /// The directory with the git hooks mounted into each push (default: found next to the binary).
    public var hooksDirectory: String?
    /// The account sshd logs git users in as; the only uid (besides root) the daemon serves.
    public var loginUser: String = "git"
    /// The rootfs template git runs in.
    public var template: String = "default"
    /// The directory of installed buildpacks handed to the builder (nil: the builder's default).
    public var buildpacksDirectory: String?
    /// Run sandboxes even where cgroup controllers for the limits are missing (hybrid hosts).
    public var allowMissingControllers: Bool = false
    /// Seconds an HTTP call to the API may take before it is retried.
    public var httpTimeout: Double = 30
    /// How many times an idempotent call is tried in all.
    public var httpAttempts: Int = 4
    /// The largest pack a push may send (git's `receive.maxInputSize`), in bytes: 1 GiB, like
    /// Heroku's repository limit. Larger pushes are refused by git before anything is stored.
    public var maxPushSize: UInt64 = 1 << 30

    public init() {}

    /// Loads the file at `path` (when given or when the default exists) and applies the
    /// environment on top.
    public static func load(path: String?, environment: [String: String]) throws(ShimError) -> ShimConfig {
        var config = ShimConfig()
        let file = path ?? environment["RUKO_SHIM_CONFIG"]
        if let file {
            try config.apply(contentsOf: file)
        } else if FileManager.default.isReadableFile(atPath: defaultPath) {
            try config.apply(contentsOf: defaultPath)
        }
        try config.apply(environment: environment)
        return config
    }

    /// Applies one configuration file.
    public mutating func apply(contentsOf path: String) throws(ShimError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ShimError(
                "cannot read the shim configuration \(path): \(error.localizedDescription); "
                    + "pass --config PATH or set RUKO_API_URL and RUKO_API_TOKEN",
                code: .configuration)
        }
        try apply(text: text, source: path)
    }

    /// Applies configuration text (`key = value` lines).
    public mutating func apply(text: String, source: String) throws(ShimError) {
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ShimError("\(source):\(index + 1): expected `key = value`, got `\(line)`", code: .configuration)
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.first == "\"", value.last == "\"" {
                value = String(value.dropFirst().dropLast())
            }
            try set(key: key, value: value, source: "\(source):\(index + 1)")
        }
    }

    /// Applies `RUKO_API_URL`, `RUKO_API_TOKEN`, `RUKO_SHIM_STATE_DIR`, `RUKO_SHIM_LOCK_TIMEOUT`,
    /// `RUKO_SHIM_SOCKET`, `RUKO_HOOKS_DIR`, `RUKO_SHIM_MAX_PUSH_SIZE` when set.
    public mutating func apply(environment: [String: String]) throws(ShimError) {
        let names: [(String, String)] = [
            ("RUKO_API_URL", "api_url"), ("RUKO_API_TOKEN", "api_token"),
            ("RUKO_SHIM_STATE_DIR", "state_dir"), ("RUKO_SHIM_LOCK_TIMEOUT", "lock_timeout"),
            ("RUKO_SHIM_SOCKET", "socket"), ("RUKO_HOOKS_DIR", "hooks_dir"),
            ("RUKO_SHIM_MAX_PUSH_SIZE", "max_push_size"),
        ]
        for (variable, key) in names {
            if let value = environment[variable], !value.isEmpty {
                try set(key: key, value: value, source: "$\(variable)")
            }
        }
    }

    private mutating func set(key: String, value: String, source: String) throws(ShimError) {
        switch key {
        case "api_url":
            guard let url = URL(string: value), let scheme = url.scheme, ["http", "https"].contains(scheme),
                url.host != nil
            else {
                throw ShimError("\(source): api_url must be an http(s) URL, got `\(value)`", code: .configuration)
            }
            apiURL = value.hasSuffix("/") ? String(value.dropLast()) : value
        case "api_token", "token": apiToken = value
        case "state_dir": stateDirectory = try absolute(value, key: key, source: source)
        case "socket": socketPath = try absolute(value, key: key, source: source)
        case "hooks_dir": hooksDirectory = try absolute(value, key: key, source: source)
        case "buildpacks_dir": buildpacksDirectory = try absolute(value, key: key, source: source)
        case "login_user": loginUser = value
        case "template": template = value
        case "allow_missing_controllers":
            guard let flag = ["true": true, "yes": true, "1": true, "false": false, "no": false, "0": false][value]
            else {
                throw ShimError("\(source): allow_missing_controllers must be true or false", code: .configuration)
            }
            allowMissingControllers = flag
        case "lock_timeout": lockTimeout = try seconds(value, key: key, source: source)
        case "http_timeout": httpTimeout = try seconds(value, key: key, source: source)
        case "http_attempts":
            guard let attempts = Int(value), (1...20).contains(attempts) else {
                throw ShimError("\(source): http_attempts must be 1…20, got `\(value)`", code: .configuration)
            }
            httpAttempts = attempts
        case "max_push_size":
            guard let size = ValueParser.size(value), size > 0 else {
                throw ShimError(
                    "\(source): max_push_size must be a size like 500M or 1G, got `\(value)`", code: .configuration)
            }
            maxPushSize = size
        default:
            throw ShimError(
                "\(source): unknown key `\(key)` (known: api_url, api_token, state_dir, socket, hooks_dir, "
                    + "buildpacks_dir, login_user, template, allow_missing_controllers, lock_timeout, http_timeout, http_attempts, "
                    + "max_push_size)",
                code: .configuration)
        }
    }

    private func absolute(_ value: String, key: String, source: String) throws(ShimError) -> String {
        guard value.hasPrefix("/") else {
            throw ShimError("\(source): \(key) must be an absolute path, got `\(value)`", code: .configuration)
        }
        return value
    }

    private func seconds(_ value: String, key: String, source: String) throws(ShimError) -> Double {
        guard let parsed = ShimConfig.parseDuration(value), parsed >= 0 else {
            throw ShimError(
                "\(source): \(key) must be a duration like 60, 60s, 2m or 1h, got `\(value)`", code: .configuration)
        }
        return parsed
    }

    /// Parses `90`, `90s`, `2m`, `1h`, `500ms` into seconds.
    public static func parseDuration(_ text: String) -> Double? {
        ValueParser.duration(text).map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
    }

    /// The API URL and token, or a clear error saying where to put them.
    public func requireAPI() throws(ShimError) -> (url: String, token: String) {
        guard let apiURL, let apiToken, !apiToken.isEmpty else {
            throw ShimError(
                "the shim has no API configured: set api_url and api_token in \(ShimConfig.defaultPath) "
                    + "(or --config PATH), or RUKO_API_URL and RUKO_API_TOKEN",
                code: .configuration)
        }
        return (apiURL, apiToken)
    }

    /// Renders the configuration as a file `load` reads back.
    public func rendered() -> String {
        var lines = ["# ruko-shim configuration (see docs/shim.md)"]
        if let apiURL { lines.append("api_url = \(apiURL)") }
        if let apiToken { lines.append("api_token = \(apiToken)") }
        lines.append("state_dir = \(stateDirectory)")
        lines.append("socket = \(socketPath)")
        if let hooksDirectory { lines.append("hooks_dir = \(hooksDirectory)") }
        if let buildpacksDirectory { lines.append("buildpacks_dir = \(buildpacksDirectory)") }
        lines.append("login_user = \(loginUser)")
        lines.append("template = \(template)")
        lines.append("allow_missing_controllers = \(allowMissingControllers)")
        lines.append("lock_timeout = \(lockTimeout)")
        lines.append("http_timeout = \(httpTimeout)")
        lines.append("http_attempts = \(httpAttempts)")
        lines.append("max_push_size = \(maxPushSize)")
        return lines.joined(separator: "\n") + "\n"
    }
}
