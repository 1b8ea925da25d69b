import Foundation
import Testing

@testable import RukoAPI

@Suite struct StoreTests {
    let directory: TemporaryDirectory
    let store: Store

    init() throws {
        directory = try TemporaryDirectory()
        store = try Store(path: directory.path + "/ruko.sqlite")
    }

    /// alice (write), bob (read) on app `web`.
    func seed() throws {
        try store.addUser("alice")
        try store.addUser("bob")
        try store.createApp("web")
        try store.grantAccess(app: "web", user: "alice", level: .write)
        try store.grantAccess(app: "web", user: "bob", level: .read)
    }

    @Test func usersAreUniqueAndValidated() throws {
        try store.addUser("alice")
        #expect(throws: RukoAPIError.alreadyExists(kind: "user", name: "alice", hint: "")) {
            try store.addUser("alice")
        }
        #expect(throws: RukoAPIError.self) { try store.addUser("Alice") }
        try store.addUser("bob")
        #expect(try store.users() == ["alice", "bob"])
    }

    @Test func keysBelongToOneUserAndLookUpByBlob() throws {
        try store.addUser("alice")
        try store.addUser("bob")
        let record = try store.addKey(user: "alice", key: try SSHPublicKey(line: Fixture.ed25519))
        #expect(record.fingerprint == Fixture.ed25519Fingerprint)
        try store.addKey(user: "bob", key: try SSHPublicKey(line: Fixture.rsa))
        #expect(throws: RukoAPIError.self) {
            try store.addKey(user: "bob", key: try SSHPublicKey(line: Fixture.ed25519))
        }
        #expect(throws: RukoAPIError.unknownUser("carol")) {
            try store.addKey(user: "carol", key: try SSHPublicKey(line: Fixture.ecdsa))
        }
        let blob = String(Fixture.ed25519.split(separator: " ")[1])
        let found = try store.lookupKey(type: "ssh-ed25519", base64: blob)
        #expect(found?.user == "alice")
        #expect(found?.comment == "alice@x")
        #expect(try store.lookupKey(type: "ssh-rsa", base64: blob) == nil)
        let otherBlob = String(Fixture.ecdsa.split(separator: " ")[1])
        #expect(try store.lookupKey(type: "ecdsa-sha2-nistp256", base64: otherBlob) == nil)
        #expect(try store.keys().map(\.user) == ["alice", "bob"])
    }

    @Test func appsAndAccess() throws {
        try seed()
        #expect(throws: RukoAPIError.alreadyExists(kind: "app", name: "web", hint: "")) { try store.createApp("web") }
        #expect(try store.access(app: "web", user: "alice") == .write)
        #expect(try store.access(app: "web", user: "bob") == .read)
        #expect(try store.access(app: "web", user: "nobody") == nil)
        #expect(throws: RukoAPIError.unknownApp("nope")) { try store.access(app: "nope", user: "alice") }
        try store.authorize(app: "web", user: "alice", wanted: .write)
        try store.authorize(app: "web", user: "bob", wanted: .read)
        #expect(throws: RukoAPIError.readOnly) { try store.authorize(app: "web", user: "bob", wanted: .write) }
        #expect(throws: RukoAPIError.notAuthorized) { try store.authorize(app: "web", user: "eve", wanted: .read) }
        try store.grantAccess(app: "web", user: "bob", level: .write)
        try store.authorize(app: "web", user: "bob", wanted: .write)
        #expect(throws: RukoAPIError.unknownUser("eve")) {
            try store.grantAccess(app: "web", user: "eve", level: .read)
        }
        #expect(try store.apps() == ["web"])
    }

    @Test func configSetUnset() throws {
        try seed()
        try store.setConfig(app: "web", vars: ["A": "1", "B": "two words"])
        try store.setConfig(app: "web", vars: ["A": "3"])
        #expect(try store.config(app: "web") == ["A": "3", "B": "two words"])
        #expect(try store.unsetConfig(app: "web", keys: ["B", "MISSING"]) == ["B"])
        #expect(try store.config(app: "web") == ["A": "3"])
        #expect(throws: RukoAPIError.self) { try store.setConfig(app: "web", vars: ["BAD-KEY": "x"]) }
        #expect(throws: RukoAPIError.unknownApp("nope")) { try store.setConfig(app: "nope", vars: ["A": "1"]) }
    }

    @Test func releasesSnapshotConfigAndAreNumbered() throws {
        try seed()
        try store.setConfig(app: "web", vars: ["COLOR": "blue"])
        let push = try store.createPush(app: "web", user: "alice")
        #expect(push.id.hasPrefix("p-") && push.slugID.hasPrefix("s-"))
        let first = try store.createRelease(app: "web", Fixture.newRelease(push.slugID))
        try store.setConfig(app: "web", vars: ["COLOR": "red", "NEW": "1"])
        let second = try store.createRelease(app: "web", Fixture.newRelease(push.slugID, description: "again"))
        #expect(first.version == 1 && first.name == "v1")
        #expect(second.version == 2)
        #expect(try store.release(app: "web", version: 1).configVars == ["COLOR": "blue"])
        #expect(try store.release(app: "web", version: 2).configVars == ["COLOR": "red", "NEW": "1"])
        #expect(try store.release(app: "web", version: 2).description == "again")
        #expect(try store.release(app: "web", version: 1).description == "Deploy 0123456")
        #expect(try store.release(app: "web", version: 1).user == "alice")
        #expect(try store.releases(app: "web").map(\.version) == [2, 1])
        let stored = try store.release(app: "web", version: 1)
        #expect(stored == first)
        #expect(throws: RukoAPIError.unknownRelease(app: "web", version: 3)) {
            try store.release(app: "web", version: 3)
        }
    }

    @Test func pushesNeedWriteAccessAndReleasesNeedAnIssuedSlug() throws {
        try seed()
        #expect(throws: RukoAPIError.readOnly) { try store.createPush(app: "web", user: "bob") }
        #expect(throws: RukoAPIError.notAuthorized) { try store.createPush(app: "web", user: "eve") }
        #expect(throws: RukoAPIError.unknownApp("nope")) { try store.createPush(app: "nope", user: "alice") }
        #expect(throws: RukoAPIError.unknownSlug(app: "web", slugID: "s-forged")) {
            try store.createRelease(app: "web", Fixture.newRelease("s-forged"))
        }
        try store.createApp("other")
        try store.grantAccess(app: "other", user: "alice", level: .write)
        let otherPush = try store.createPush(app: "other", user: "alice")
        #expect(throws: RukoAPIError.unknownSlug(app: "web", slugID: otherPush.slugID)) {
            try store.createRelease(app: "web", Fixture.newRelease(otherPush.slugID))
        }
        var bad = Fixture.newRelease(otherPush.slugID)
        bad.sha256 = "xyz"
        #expect(throws: RukoAPIError.self) { try store.createRelease(app: "other", bad) }
    }

    /// Two independent connections pools on one file (as the CLI and the server would be), eight
    /// threads, 80 releases: every number 1…80 is used exactly once.
    @Test func releaseNumbersAreUniqueUnderConcurrency() throws {
        try seed()
        let push = try store.createPush(app: "web", user: "alice")
        let second = try Store(path: directory.path + "/ruko.sqlite")
        let stores = [store, second]
        let results = Locked<[Int]>([])
        let failures = Locked<[String]>([])
        let threads = 8
        let perThread = 10
        let done = DispatchGroup()
        for index in 0..<threads {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                for _ in 0..<perThread {
                    do {
                        let release = try stores[index % 2].createRelease(app: "web", Fixture.newRelease(push.slugID))
                        results.withLock { $0.append(release.version) }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
            thread.start()
        }
        done.wait()
        #expect(failures.value.isEmpty)
        #expect(results.value.sorted() == Array(1...(threads * perThread)))
        #expect(try second.releases(app: "web").count == threads * perThread)
    }

    @Test func databaseIsInWALMode() throws {
        try store.addUser("alice")
        #expect(FileManager.default.fileExists(atPath: directory.path + "/ruko.sqlite-wal"))
    }
}

/// A value behind a lock, for collecting results from threads.
final class Locked<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()

    init(_ value: Value) { stored = value }

    var value: Value { lock.withLock { stored } }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.withLock { body(&stored) }
    }
}

@Suite struct ReleaseImmutabilityTests {
    /// Even a direct SQL UPDATE (here from python3's sqlite3) is refused by the trigger.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "needs python3"))
    func releasesCannotBeUpdated() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/ruko.sqlite"
        let store = try Store(path: path)
        try store.addUser("alice")
        try store.createApp("web")
        try store.grantAccess(app: "web", user: "alice", level: .write)
        let push = try store.createPush(app: "web", user: "alice")
        _ = try store.createRelease(app: "web", Fixture.newRelease(push.slugID))
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            try:
                db.execute("UPDATE releases SET size = 1")
                db.commit()
            except sqlite3.DatabaseError as error:
                print(error)
                sys.exit(3)
            """
        let (status, output) = try OpenAPITests.python(["-c", script, path])
        #expect(status == 3)
        #expect(output.contains("releases are immutable"))
        #expect(try store.release(app: "web", version: 1).size == 1234)
    }
}
