import ArgumentParser
import Foundation
import Logging
import RukoAPI

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@main
struct RukoAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ruko-api",
        abstract: "The ruko reference control plane: an HTTP API over SQLite, and its admin commands.",
        discussion: "`serve` runs the HTTP API; every other subcommand administers the same data directory directly "
            + "(it is safe to run them while the server is up). See docs/api.md.",
        subcommands: [
            Serve.self, UsersAdd.self, Users.self, KeysAdd.self, Keys.self, AppsCreate.self, Apps.self,
            AccessAdd.self, ConfigSet.self, ConfigUnset.self, ConfigShow.self, ConfigDump.self,
            Releases.self, ReleasesInfo.self, Token.self,
        ])
}

struct DataOption: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The data directory (database, token, secrets, local storage).", valueName: "DIR"))
    var data: String

    func directory() throws -> DataDirectory { try DataDirectory(data) }
    func store() throws -> Store { try directory().openStore() }
}

/// Reports an admin error the way the rest of ruko does and exits non-zero.
struct Failure: Error, CustomStringConvertible {
    var description: String
}

func admin<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as RukoAPIError {
        throw Failure(description: error.description)
    }
}

// MARK: serve

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP API.")

    enum Backend: String, ExpressibleByArgument, CaseIterable {
        case local, s3
    }

    @OptionGroup var data: DataOption

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "HOST:PORT"))
    var listen: String = "127.0.0.1:5000"

    @Option(name: .customLong("public-url"), help: "Base of the URLs the API hands out (default: http://LISTEN).")
    var publicURL: String?

    @Option(help: "Storage backend: local (files in DIR/storage, signed URLs on this server) or s3.")
    var storage: Backend = .local

    @Option(name: .customLong("url-lifetime"), help: "Lifetime of signed storage URLs, in seconds.")
    var urlLifetime: Int = 3600

    @Option(
        name: .customLong("idle-timeout"),
        help: "Seconds a connection may stay silent, also mid-upload, before it is closed.")
    var idleTimeout: Double = 300

    @Option(name: .customLong("s3-endpoint"), help: "S3 endpoint, http(s)://host[:port] (env RUKO_S3_ENDPOINT).")
    var s3Endpoint: String?
    @Option(name: .customLong("s3-bucket"), help: "S3 bucket (env RUKO_S3_BUCKET).")
    var s3Bucket: String?
    @Option(name: .customLong("s3-region"), help: "S3 region (env RUKO_S3_REGION, default us-east-1).")
    var s3Region: String?
    @Option(name: .customLong("s3-access-key-id"), help: "S3 access key id (env RUKO_S3_ACCESS_KEY_ID).")
    var s3AccessKeyID: String?
    @Option(
        name: .customLong("s3-secret-access-key"),
        help: "S3 secret access key (env RUKO_S3_SECRET_ACCESS_KEY; prefer the env or DIR/s3.json).")
    var s3SecretAccessKey: String?

    @Option(help: "Largest object a storage PUT may store, in bytes (local storage; default 2 GiB).")
    var maxObjectSize: Int64 = 2 << 30

    func validate() throws {
        guard maxObjectSize > 0 else { throw ValidationError("--max-object-size must be above 0 bytes") }
        guard (1...604_800).contains(urlLifetime) else {
            throw ValidationError("--url-lifetime must be between 1 and 604800 seconds")
        }
        _ = try parseListen()
        guard idleTimeout > 0, idleTimeout <= 86400 else {
            throw ValidationError("--idle-timeout must be between 0 and 86400 seconds")
        }
        if let publicURL, !(publicURL.hasPrefix("http://") || publicURL.hasPrefix("https://")) {
            throw ValidationError("--public-url must start with http:// or https:// (got '\(publicURL)')")
        }
    }

    func parseListen() throws -> (host: String, port: Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (1...65535).contains(port), colon != listen.startIndex
        else {
            throw ValidationError(
                "--listen must be HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:5000 (got '\(listen)')")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    func run() async throws {
        let (host, port) = try parseListen()
        let directory = try data.directory()
        let store = try admin { try directory.openStore() }
        let token = try admin { try directory.token() }
        let listenURL = "http://\(listen)"
        let settings = ServerSettings(
            publicURL: publicURL ?? listenURL, token: token, urlLifetime: urlLifetime, idleTimeout: idleTimeout,
            maxObjectSize: maxObjectSize)
        let backend: any ObjectStorage
        switch storage {
        case .local:
            let key = try admin { try directory.signingKey() }
            backend = LocalStorage(
                root: directory.storagePath, signer: URLSigner(key: key), publicURL: settings.publicURL)
        case .s3:
            backend = try S3Storage(configuration: try s3Configuration(directory))
        }
        var logger = Logger(label: "ruko-api")
        logger.logLevel = .info
        let server = APIServer(store: store, storage: backend, settings: settings)
        try await server.run(host: host, port: port, handleSignals: true, logger: logger) { bound in
            FileHandle.standardError.write(
                Data(
                    "ruko-api: listening on \(host):\(bound), storage \(storage.rawValue), data \(directory.root)\n"
                        .utf8))
        }
    }

    /// Flags win over RUKO_S3_* variables, which win over DIR/s3.json.
    func s3Configuration(_ directory: DataDirectory) throws -> S3Configuration {
        let environment = ProcessInfo.processInfo.environment
        let file = try S3Configuration.load(path: directory.s3ConfigPath)
        func pick(_ flag: String?, _ variable: String, _ fromFile: String?, _ what: String) throws -> String {
            if let flag, !flag.isEmpty { return flag }
            if let value = environment[variable], !value.isEmpty { return value }
            if let fromFile, !fromFile.isEmpty { return fromFile }
            throw ValidationError(
                "--storage s3 needs the \(what): pass it as a flag, set \(variable), or write \(directory.s3ConfigPath)"
            )
        }
        return S3Configuration(
            endpoint: try pick(s3Endpoint, "RUKO_S3_ENDPOINT", file?.endpoint, "endpoint"),
            bucket: try pick(s3Bucket, "RUKO_S3_BUCKET", file?.bucket, "bucket"),
            region: (try? pick(s3Region, "RUKO_S3_REGION", file?.region, "region")) ?? "us-east-1",
            accessKeyID: try pick(s3AccessKeyID, "RUKO_S3_ACCESS_KEY_ID", file?.accessKeyID, "access key id"),
            secretAccessKey: try pick(
                s3SecretAccessKey, "RUKO_S3_SECRET_ACCESS_KEY", file?.secretAccessKey, "secret access key"))
    }
}

// MARK: users and keys

struct UsersAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "users:add", abstract: "Add a user.")
    @OptionGroup var data: DataOption
    @Argument(help: "User name ([a-z][a-z0-9_-]{0,31}).") var name: String

    func run() throws {
        try admin { try data.store().addUser(name) }
        print("Added user \(name)")
    }
}

struct Users: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "users", abstract: "List users.")
    @OptionGroup var data: DataOption

    func run() throws {
        for name in try admin({ try data.store().users() }) { print(name) }
    }
}

struct KeysAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys:add", abstract: "Register an SSH public key (a .pub file, or - for stdin) for a user.")
    @OptionGroup var data: DataOption
    @Argument(help: "User name.") var name: String
    @Argument(help: "File holding one OpenSSH public key line.") var pubkeyFile: String

    func run() throws {
        let contents: String
        if pubkeyFile == "-" {
            contents = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: pubkeyFile) else {
                throw Failure(description: "cannot read \(pubkeyFile): no such file or not readable")
            }
            contents = String(decoding: data, as: UTF8.self)
        }
        let record = try admin {
            let key = try SSHPublicKey(fileContents: contents)
            return try data.store().addKey(user: name, key: key)
        }
        print("Added \(record.type) key \(record.fingerprint) for \(name)")
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "List keys with their owners.")
    @OptionGroup var data: DataOption

    func run() throws {
        for key in try admin({ try data.store().keys() }) {
            print("\(key.user)\t\(key.type)\t\(key.fingerprint)\t\(key.comment)")
        }
    }
}

// MARK: apps and access

struct AppsCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apps:create", abstract: "Create an app.")
    @OptionGroup var data: DataOption
    @Argument(help: "App name ([a-z][a-z0-9-]{0,29}).") var app: String

    func run() throws {
        try admin { try data.store().createApp(app) }
        print("Created app \(app)")
    }
}

struct Apps: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apps", abstract: "List apps.")
    @OptionGroup var data: DataOption

    func run() throws {
        for app in try admin({ try data.store().apps() }) { print(app) }
    }
}

extension AccessLevel: EnumerableFlag {
    public static func help(for value: AccessLevel) -> ArgumentHelp? {
        switch value {
        case .read: return "May fetch (git clone/fetch)."
        case .write: return "May push (implies read)."
        }
    }
}

struct AccessAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access:add", abstract: "Give a user read (fetch) or write (push) access to an app.")
    @OptionGroup var data: DataOption
    @Argument(help: "App name.") var app: String
    @Argument(help: "User name.") var name: String
    @Flag(help: "Access level.") var level: AccessLevel

    func run() throws {
        try admin { try data.store().grantAccess(app: app, user: name, level: level) }
        print("Gave \(name) \(level.rawValue) access to \(app)")
    }
}

// MARK: config

struct ConfigSet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config:set", abstract: "Set config vars (KEY=VALUE…) in one transaction.")
    @OptionGroup var data: DataOption
    @Argument(help: "App name.") var app: String
    @Argument(help: "KEY=VALUE pairs.") var pairs: [String]

    func validate() throws {
        guard !pairs.isEmpty else { throw ValidationError("give at least one KEY=VALUE") }
    }

    func run() throws {
        var vars: [String: String] = [:]
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "=") else {
                throw Failure(description: "'\(pair)' is not KEY=VALUE")
            }
            let key = String(pair[..<equals])
            try admin { try Names.validateConfigKey(key) }
            vars[key] = String(pair[pair.index(after: equals)...])
        }
        try admin { try data.store().setConfig(app: app, vars: vars) }
        print("Set \(vars.keys.sorted().joined(separator: ", ")) on \(app)")
    }
}

struct ConfigUnset: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config:unset", abstract: "Remove config vars.")
    @OptionGroup var data: DataOption
    @Argument(help: "App name.") var app: String
    @Argument(help: "Keys to remove.") var keys: [String]

    func validate() throws {
        guard !keys.isEmpty else { throw ValidationError("give at least one KEY") }
    }

    func run() throws {
        let removed = try admin { try data.store().unsetConfig(app: app, keys: keys) }
        let missing = keys.filter { !removed.contains($0) }
        print("Unset \(removed.isEmpty ? "nothing" : removed.joined(separator: ", ")) on \(app)")
        if !missing.isEmpty {
            FileHandle.standardError.write(Data("note: not set: \(missing.joined(separator: ", "))\n".utf8))
        }
    }
}

struct ConfigShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Show an app's config vars.")
    @OptionGroup var data: DataOption
    @Argument(help: "App name.") var app: String

    func run() throws {
        let vars = try admin { try data.store().config(app: app) }
        let width = vars.keys.map(\.count).max() ?? 0
        for key in vars.keys.sorted() {
            print(key + ":" + String(repeating: " ", count: width - key.count + 1) + (vars[key] ?? ""))
        }
    }
}

struct ConfigDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config:dump", abstract: "Print an app's config vars as a foreman .env file.")
    @OptionGroup var data: DataOption
    @Argument(help: "App name.") var app: String

    func run() throws {
        let text = try admin { try DotEnv.format(try data.store().config(app: app)) }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

// MARK: releases

struct Releases: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "releases", abstract: "List releases, newest first.")
    @OptionGroup var data: DataOption
    @Argument(help: "App name.") var app: String

    func run() throws {
        let releases = try admin { try data.store().releases(app: app) }
        if releases.isEmpty { print("\(app) has no releases yet") }
        for release in releases {
            print(
                "\(release.name)\t\(release.createdAt)\t\(release.commit.prefix(7))\t\(release.buildpack)\t\(release.size)\t\(release.description)"
            )
        }
    }
}

struct ReleasesInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "releases:info", abstract: "Show one release (as JSON).")
    @OptionGroup var data: DataOption
    @Argument(help: "App name.") var app: String
    @Argument(help: "Release, e.g. v3.") var version: String

    func run() throws {
        let release = try admin {
            try data.store().release(app: app, version: try Names.parseVersion(version))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(release), as: UTF8.self))
    }
}

struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Print the bearer token the shim uses (generated on first use).")
    @OptionGroup var data: DataOption

    func run() throws {
        print(try admin { try data.directory().token() })
    }
}
