import Foundation
import GRDB

/// The SQLite database behind ruko-api: users, keys, apps, access, config vars, pushes, releases.
///
/// Opened as a GRDB `DatabasePool`, which puts the file in WAL mode, so the admin CLI and a
/// running server can use the same database at once. Every write runs in a `BEGIN IMMEDIATE`
/// transaction with a busy timeout, so concurrent writers queue instead of failing, and a
/// release number is read and used inside one transaction (plus a UNIQUE constraint).
public final class Store: Sendable {
    private let pool: DatabasePool
    /// The database file.
    public let path: String

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.foreignKeysEnabled = true
        configuration.label = "ruko-api"
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw RukoAPIError.io(operation: "open database", path: path, detail: error.description)
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        created_at TEXT NOT NULL
                    );
                    CREATE TABLE keys (
                        id INTEGER PRIMARY KEY,
                        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        type TEXT NOT NULL,
                        blob TEXT NOT NULL,
                        fingerprint TEXT NOT NULL UNIQUE,
                        comment TEXT NOT NULL,
                        created_at TEXT NOT NULL
                    );
                    CREATE INDEX keys_user ON keys(user_id);
                    CREATE TABLE apps (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        created_at TEXT NOT NULL
                    );
                    CREATE TABLE access (
                        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
                        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        level TEXT NOT NULL CHECK (level IN ('read', 'write')),
                        PRIMARY KEY (app_id, user_id)
                    );
                    CREATE TABLE config_vars (
                        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        PRIMARY KEY (app_id, key)
                    );
                    CREATE TABLE pushes (
                        id TEXT PRIMARY KEY,
                        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
                        user_id INTEGER NOT NULL REFERENCES users(id),
                        slug_id TEXT NOT NULL UNIQUE,
                        created_at TEXT NOT NULL
                    );
                    CREATE TABLE releases (
                        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
                        version INTEGER NOT NULL CHECK (version > 0),
                        slug_id TEXT NOT NULL,
                        process_types TEXT NOT NULL,
                        git_commit TEXT NOT NULL,
                        sha256 TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        buildpack TEXT NOT NULL,
                        stack TEXT NOT NULL,
                        description TEXT NOT NULL,
                        user TEXT,
                        config_vars TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        PRIMARY KEY (app_id, version)
                    );
                    CREATE TRIGGER releases_immutable BEFORE UPDATE ON releases
                    BEGIN SELECT RAISE(ABORT, 'releases are immutable'); END;
                    """)
        }
        return migrator
    }

    // MARK: Users and keys

    /// Adds a user; fails when the name is invalid or taken.
    public func addUser(_ name: String) throws {
        try Names.validateUser(name)
        try write { db in
            if try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE name = ?", arguments: [name]) != nil {
                throw RukoAPIError.alreadyExists(kind: "user", name: name, hint: "")
            }
            try db.execute(
                sql: "INSERT INTO users (name, created_at) VALUES (?, ?)", arguments: [name, Self.now()])
        }
    }

    /// All user names, sorted.
    public func users() throws -> [String] {
        try read { db in try String.fetchAll(db, sql: "SELECT name FROM users ORDER BY name") }
    }

    /// Registers `key` for `user`; a key can belong to one user only.
    @discardableResult
    public func addKey(user: String, key: SSHPublicKey) throws -> KeyRecord {
        try write { db in
            let userID = try Self.userID(db, user)
            let fingerprint = key.fingerprint
            if let owner = try String.fetchOne(
                db, sql: "SELECT users.name FROM keys JOIN users ON users.id = keys.user_id WHERE fingerprint = ?",
                arguments: [fingerprint])
            {
                throw RukoAPIError.alreadyExists(kind: "key", name: fingerprint, hint: "registered to user \(owner)")
            }
            try db.execute(
                sql: """
                    INSERT INTO keys (user_id, type, blob, fingerprint, comment, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [userID, key.type, key.base64, fingerprint, key.comment, Self.now()])
            return KeyRecord(
                user: user, type: key.type, key: key.base64, fingerprint: fingerprint, comment: key.comment)
        }
    }

    /// Every stored key with its owner, ordered by user then insertion.
    public func keys() throws -> [KeyRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT users.name AS user, type, blob, fingerprint, comment FROM keys
                    JOIN users ON users.id = keys.user_id ORDER BY users.name, keys.id
                    """
            ).map(Self.keyRecord)
        }
    }

    /// Finds the owner of a key by its type and base64 blob (an indexed lookup by fingerprint).
    public func lookupKey(type: String, base64: String) throws -> KeyRecord? {
        guard let fingerprint = SSHPublicKey.fingerprint(ofBase64: base64) else {
            throw RukoAPIError.invalidKey("the key data is not valid base64")
        }
        return try read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT users.name AS user, type, blob, fingerprint, comment FROM keys
                    JOIN users ON users.id = keys.user_id WHERE fingerprint = ? AND type = ?
                    """,
                arguments: [fingerprint, type]
            ).map(Self.keyRecord)
        }
    }

    // MARK: Apps and access

    /// Creates an app; fails when the name is invalid or taken.
    public func createApp(_ name: String) throws {
        try Names.validateApp(name)
        try write { db in
            if try Int64.fetchOne(db, sql: "SELECT id FROM apps WHERE name = ?", arguments: [name]) != nil {
                throw RukoAPIError.alreadyExists(kind: "app", name: name, hint: "")
            }
            try db.execute(sql: "INSERT INTO apps (name, created_at) VALUES (?, ?)", arguments: [name, Self.now()])
        }
    }

    /// All app names, sorted.
    public func apps() throws -> [String] {
        try read { db in try String.fetchAll(db, sql: "SELECT name FROM apps ORDER BY name") }
    }

    /// Gives `user` `level` access to `app`, replacing any earlier grant.
    public func grantAccess(app: String, user: String, level: AccessLevel) throws {
        try write { db in
            let appID = try Self.appID(db, app)
            let userID = try Self.userID(db, user)
            try db.execute(
                sql: """
                    INSERT INTO access (app_id, user_id, level) VALUES (?, ?, ?)
                    ON CONFLICT (app_id, user_id) DO UPDATE SET level = excluded.level
                    """,
                arguments: [appID, userID, level.rawValue])
        }
    }

    /// The access `user` has to `app` (nil: none, or no such user). Throws `unknownApp`.
    public func access(app: String, user: String) throws -> AccessLevel? {
        try read { db in
            let appID = try Self.appID(db, app)
            let level = try String.fetchOne(
                db,
                sql:
                    "SELECT level FROM access JOIN users ON users.id = access.user_id WHERE app_id = ? AND users.name = ?",
                arguments: [appID, user])
            return level.flatMap(AccessLevel.init(rawValue:))
        }
    }

    /// Checks that `user` may do `wanted` on `app`, throwing the contract's errors otherwise.
    public func authorize(app: String, user: String, wanted: AccessLevel) throws {
        switch (try access(app: app, user: user), wanted) {
        case (nil, _): throw RukoAPIError.notAuthorized
        case (.read, .write): throw RukoAPIError.readOnly
        default: return
        }
    }

    // MARK: Config vars

    /// Sets config vars (validated keys) in one transaction.
    public func setConfig(app: String, vars: [String: String]) throws {
        for key in vars.keys { try Names.validateConfigKey(key) }
        try write { db in
            let appID = try Self.appID(db, app)
            for (key, value) in vars {
                try db.execute(
                    sql: """
                        INSERT INTO config_vars (app_id, key, value) VALUES (?, ?, ?)
                        ON CONFLICT (app_id, key) DO UPDATE SET value = excluded.value
                        """,
                    arguments: [appID, key, value])
            }
        }
    }

    /// Removes config vars; unknown keys are not an error. Returns the keys that were removed.
    @discardableResult
    public func unsetConfig(app: String, keys: [String]) throws -> [String] {
        for key in keys { try Names.validateConfigKey(key) }
        return try write { db in
            let appID = try Self.appID(db, app)
            var removed: [String] = []
            for key in keys {
                try db.execute(sql: "DELETE FROM config_vars WHERE app_id = ? AND key = ?", arguments: [appID, key])
                if db.changesCount > 0 { removed.append(key) }
            }
            return removed
        }
    }

    /// The app's config vars.
    public func config(app: String) throws -> [String: String] {
        try read { db in try Self.config(db, appID: try Self.appID(db, app)) }
    }

    // MARK: Pushes and releases

    /// Records a push by `user` (who must have write access) and allocates its push and slug ids.
    public func createPush(app: String, user: String) throws -> Push {
        try write { db in
            let appID = try Self.appID(db, app)
            guard let userID = try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE name = ?", arguments: [user])
            else { throw RukoAPIError.notAuthorized }
            let level = try String.fetchOne(
                db, sql: "SELECT level FROM access WHERE app_id = ? AND user_id = ?", arguments: [appID, userID])
            switch level {
            case nil: throw RukoAPIError.notAuthorized
            case AccessLevel.read.rawValue: throw RukoAPIError.readOnly
            default: break
            }
            let push = Push(id: "p-" + Self.randomHex(8), slugID: "s-" + Self.randomHex(8), app: app, user: user)
            try db.execute(
                sql: "INSERT INTO pushes (id, app_id, user_id, slug_id, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [push.id, appID, userID, push.slugID, Self.now()])
            return push
        }
    }

    /// Creates the next release of `app`: number allocation, config snapshot and insert in one
    /// IMMEDIATE transaction, so concurrent callers (threads or processes) get distinct numbers.
    public func createRelease(app: String, _ new: NewRelease) throws -> Release {
        try new.validate()
        return try write { db in
            let appID = try Self.appID(db, app)
            let pusher = try String.fetchOne(
                db,
                sql: "SELECT users.name FROM pushes JOIN users ON users.id = pushes.user_id "
                    + "WHERE pushes.app_id = ? AND pushes.slug_id = ?",
                arguments: [appID, new.slugID])
            guard let pusher else { throw RukoAPIError.unknownSlug(app: app, slugID: new.slugID) }
            let version =
                try Int.fetchOne(
                    db, sql: "SELECT COALESCE(MAX(version), 0) + 1 FROM releases WHERE app_id = ?", arguments: [appID])
                ?? 1
            let release = Release(
                version: version, name: "v\(version)", slugID: new.slugID, processTypes: new.processTypes,
                commit: new.commit, sha256: new.sha256, size: new.size, buildpack: new.buildpack, stack: new.stack,
                description: new.description ?? "Deploy \(new.commit.prefix(7))", user: new.user ?? pusher,
                configVars: try Self.config(db, appID: appID), createdAt: Self.now())
            try db.execute(
                sql: """
                    INSERT INTO releases (app_id, version, slug_id, process_types, git_commit, sha256, size,
                        buildpack, stack, description, user, config_vars, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    appID, version, release.slugID, try Self.json(release.processTypes), release.commit,
                    release.sha256, release.size, release.buildpack, release.stack, release.description,
                    release.user, try Self.json(release.configVars), release.createdAt,
                ])
            return release
        }
    }

    /// All releases of `app`, newest first.
    public func releases(app: String) throws -> [Release] {
        try read { db in
            let appID = try Self.appID(db, app)
            return try Row.fetchAll(
                db, sql: "SELECT * FROM releases WHERE app_id = ? ORDER BY version DESC", arguments: [appID]
            ).map(Self.release)
        }
    }

    /// One release of `app`; throws `unknownRelease` when absent.
    public func release(app: String, version: Int) throws -> Release {
        try read { db in
            let appID = try Self.appID(db, app)
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM releases WHERE app_id = ? AND version = ?", arguments: [appID, version])
            else { throw RukoAPIError.unknownRelease(app: app, version: version) }
            return try Self.release(row)
        }
    }

    // MARK: Helpers

    private func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                guard let result else { throw RukoAPIError.io(operation: "write", path: path, detail: "no result") }
                return result
            }
        } catch let error as DatabaseError {
            throw RukoAPIError.io(operation: "write database", path: path, detail: error.description)
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read(body)
        } catch let error as DatabaseError {
            throw RukoAPIError.io(operation: "read database", path: path, detail: error.description)
        }
    }

    private static func appID(_ db: Database, _ name: String) throws -> Int64 {
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM apps WHERE name = ?", arguments: [name]) else {
            throw RukoAPIError.unknownApp(name)
        }
        return id
    }

    private static func userID(_ db: Database, _ name: String) throws -> Int64 {
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE name = ?", arguments: [name]) else {
            throw RukoAPIError.unknownUser(name)
        }
        return id
    }

    private static func config(_ db: Database, appID: Int64) throws -> [String: String] {
        var vars: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT key, value FROM config_vars WHERE app_id = ?", arguments: [appID])
        {
            vars[row["key"]] = row["value"]
        }
        return vars
    }

    private static func keyRecord(_ row: Row) -> KeyRecord {
        KeyRecord(
            user: row["user"], type: row["type"], key: row["blob"], fingerprint: row["fingerprint"],
            comment: row["comment"])
    }

    private static func release(_ row: Row) throws -> Release {
        let version: Int = row["version"]
        return Release(
            version: version, name: "v\(version)", slugID: row["slug_id"],
            processTypes: try dictionary(row["process_types"]), commit: row["git_commit"], sha256: row["sha256"],
            size: row["size"], buildpack: row["buildpack"], stack: row["stack"], description: row["description"],
            user: row["user"], configVars: try dictionary(row["config_vars"]), createdAt: row["created_at"])
    }

    private static func json(_ value: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static func dictionary(_ text: String) throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
    }

    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }

    static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }
            .joined()
    }
}
