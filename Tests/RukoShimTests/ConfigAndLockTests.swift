import Foundation
import Testing

@testable import RukoShim

@Suite("shim configuration")
struct ShimConfigTests {
    @Test("a file is read, the environment wins")
    func fileThenEnvironment() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/shim.conf"
        try """
        # comment
        api_url = http://127.0.0.1:5000/
        api_token = "file-token"

        state_dir = /var/lib/x
        lock_timeout = 2m
        socket = /run/x.sock
        """.write(toFile: path, atomically: true, encoding: .utf8)

        let fromFile = try ShimConfig.load(path: path, environment: [:])
        #expect(fromFile.apiURL == "http://127.0.0.1:5000")
        #expect(fromFile.apiToken == "file-token")
        #expect(fromFile.stateDirectory == "/var/lib/x")
        #expect(fromFile.lockTimeout == 120)
        #expect(fromFile.socketPath == "/run/x.sock")

        let overridden = try ShimConfig.load(
            path: path,
            environment: ["RUKO_API_URL": "http://api:1", "RUKO_API_TOKEN": "env-token", "RUKO_SHIM_LOCK_TIMEOUT": "5"])
        #expect(overridden.apiURL == "http://api:1")
        #expect(overridden.apiToken == "env-token")
        #expect(overridden.lockTimeout == 5)
        #expect(overridden.stateDirectory == "/var/lib/x")
    }

    @Test("the environment alone is enough")
    func environmentOnly() throws {
        let config = try ShimConfig.load(
            path: nil, environment: ["RUKO_API_URL": "https://api.example", "RUKO_API_TOKEN": "t"])
        let api = try config.requireAPI()
        #expect(api.url == "https://api.example")
        #expect(api.token == "t")
    }

    @Test("missing API settings give advice")
    func missingAPI() {
        #expect(throws: ShimError.self) { try ShimConfig().requireAPI() }
    }

    @Test(
        "bad lines are refused with the line number",
        arguments: [
            "api_url = ftp://x", "api_url = not a url", "lock_timeout = soon", "state_dir = relative",
            "no_equals_sign", "colour = blue", "http_attempts = 0",
        ])
    func badLines(line: String) {
        var config = ShimConfig()
        do {
            try config.apply(text: "# ok\n\(line)\n", source: "test.conf")
            Issue.record("accepted \(line)")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.message.hasPrefix("test.conf:2:"))
        }
    }

    @Test("an unreadable file is an error, not silently ignored")
    func unreadable() {
        #expect(throws: ShimError.self) { try ShimConfig.load(path: "/nonexistent/shim.conf", environment: [:]) }
    }

    @Test("rendered configuration reads back")
    func roundTrip() throws {
        var config = ShimConfig()
        config.apiURL = "http://127.0.0.1:9"
        config.apiToken = "tok"
        config.hooksDirectory = "/opt/ruko/hooks"
        config.lockTimeout = 3
        var back = ShimConfig()
        try back.apply(text: config.rendered(), source: "rendered")
        #expect(back == config)
    }

    @Test("durations", arguments: [("60", 60.0), ("1.5s", 1.5), ("2m", 120), ("1h", 3600), ("250ms", 0.25)])
    func durations(text: String, seconds: Double) {
        #expect(ShimConfig.parseDuration(text) == seconds)
    }
}

@Suite("per-app lock")
struct AppLockTests {
    @Test("a second holder waits, then is told a deploy is in progress")
    func contention() throws {
        let directory = try TemporaryDirectory()
        let first = try AppLock.acquire(app: "demo", stateDirectory: directory.path, timeout: 0)
        var waited = false
        let start = Date()
        do {
            _ = try AppLock.acquire(app: "demo", stateDirectory: directory.path, timeout: 0.3) { waited = true }
            Issue.record("took a held lock")
        } catch {
            #expect(error.message == "another deploy of demo is in progress; try again shortly")
            #expect(error.code == .locked)
        }
        #expect(waited)
        #expect(Date().timeIntervalSince(start) >= 0.3)
        // Another app is independent.
        _ = try AppLock.acquire(app: "other", stateDirectory: directory.path, timeout: 0)
        first.release()
        _ = try AppLock.acquire(app: "demo", stateDirectory: directory.path, timeout: 0)
    }

    @Test("a waiter gets the lock as soon as it is released")
    func handOver() throws {
        let directory = try TemporaryDirectory()
        let first = try AppLock.acquire(app: "demo", stateDirectory: directory.path, timeout: 0)
        let path = directory.path
        let releaser = Thread {
            Thread.sleep(forTimeInterval: 0.2)
            first.release()
        }
        releaser.start()
        let start = Date()
        _ = try AppLock.acquire(app: "demo", stateDirectory: path, timeout: 5)
        #expect(Date().timeIntervalSince(start) < 2)
    }

    @Test("a lock dies with its process: never stale")
    func diesWithProcess() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path + "/locks", withIntermediateDirectories: true)
        let lockPath = directory.path + "/locks/demo.lock"
        // flock(1) holds the lock in another process (-o: its `sleep` child does not inherit it);
        // killing that process must free the lock at once.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["-o", lockPath, "sleep", "5"]
        try holder.run()
        defer { if holder.isRunning { holder.terminate() } }
        var held = false
        for _ in 0..<100 {
            do {
                let probe = try AppLock.acquire(app: "demo", stateDirectory: directory.path, timeout: 0)
                probe.release()
                Thread.sleep(forTimeInterval: 0.02)
            } catch {
                held = true
                break
            }
        }
        #expect(held)
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        let start = Date()
        _ = try AppLock.acquire(app: "demo", stateDirectory: directory.path, timeout: 4)
        #expect(Date().timeIntervalSince(start) < 1)
    }
}

/// A directory removed when the value goes away.
final class TemporaryDirectory: Sendable {
    let path: String
    init() throws {
        let base = FileManager.default.temporaryDirectory.path + "/ruko-shim-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
