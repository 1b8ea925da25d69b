import Foundation
import Testing

@testable import RukoAPI

/// The built `ruko-api` binary: `$RUKO_BIN_DIR/ruko-api`, else next to the test bundle.
func rukoAPIBinary() -> String? {
    var candidates: [String] = []
    if let dir = ProcessInfo.processInfo.environment["RUKO_BIN_DIR"] { candidates.append(dir + "/ruko-api") }
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    candidates.append(testBinary.appendingPathComponent("ruko-api").path)
    candidates.append(testBinary.deletingLastPathComponent().appendingPathComponent("ruko-api").path)
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func cli(_ arguments: [String]) throws -> CLIResult {
    let binary = try #require(rukoAPIBinary())
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLIResult(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self))
}

@Suite(.enabled(if: rukoAPIBinary() != nil, "needs the built ruko-api (swift build --product ruko-api)"))
struct CLITests {
    let directory: TemporaryDirectory
    let data: String

    init() throws {
        directory = try TemporaryDirectory()
        data = directory.path + "/data"
    }

    func run(_ arguments: String...) throws -> CLIResult {
        try cli(arguments + ["--data", data])
    }

    @Test func adminFlow() throws {
        #expect(try run("users:add", "alice").stdout == "Added user alice\n")
        let keyFile = directory.path + "/id.pub"
        try (Fixture.ed25519 + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        let added = try run("keys:add", "alice", keyFile)
        #expect(added.status == 0)
        #expect(added.stdout == "Added ssh-ed25519 key \(Fixture.ed25519Fingerprint) for alice\n")
        #expect(try run("apps:create", "web").status == 0)
        #expect(try run("access:add", "web", "alice", "--write").status == 0)
        let values = ["PLAIN": "v", "QUOTE": "it's \"x\"", "MULTI": "a\nb", "SPACE": " lead", "EMPTY": ""]
        let set = try cli(["config:set", "web"] + values.map { "\($0.key)=\($0.value)" } + ["--data", data])
        #expect(set.status == 0, "\(set.stderr)")
        let dump = try run("config:dump", "web")
        #expect(dump.status == 0)
        #expect(DotEnv.parse(dump.stdout) == values)
        #expect(try run("config:unset", "web", "EMPTY").status == 0)
        #expect(try run("config", "web").stdout.contains("PLAIN: v\n"))
        let token = try run("token")
        #expect(token.stdout.count == 65)
        #expect(try run("token").stdout == token.stdout)
        #expect(try run("releases", "web").stdout == "web has no releases yet\n")
        let store = try Store(path: data + "/ruko.sqlite")
        #expect(try store.access(app: "web", user: "alice") == .write)
        #expect(try store.config(app: "web")["MULTI"] == "a\nb")

        let push = try store.createPush(app: "web", user: "alice")
        _ = try store.createRelease(app: "web", Fixture.newRelease(push.slugID))
        #expect(try run("releases", "web").stdout.hasPrefix("v1\t"))
        let info = try run("releases:info", "web", "v1")
        #expect(info.status == 0)
        let release = try JSONDecoder().decode(Release.self, from: Data(info.stdout.utf8))
        #expect(release.configVars["QUOTE"] == "it's \"x\"")
    }

    @Test func badInputFailsClearly() throws {
        #expect(try run("users:add", "alice").status == 0)
        #expect(try run("apps:create", "web").status == 0)
        let garbage = directory.path + "/garbage.pub"
        try "ssh-ed25519 !!!\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["apps:create", "1app"], "invalid app name '1app'"),
            (["apps:create", "web"], "app 'web' already exists"),
            (["users:add", "Bob"], "invalid user name 'Bob'"),
            (["keys:add", "alice", directory.path + "/missing.pub"], "cannot read"),
            (["keys:add", "alice", garbage], "invalid SSH public key: the key data is not valid base64"),
            (["keys:add", "nobody", garbage], "invalid SSH public key"),
            (["access:add", "web", "carol", "--read"], "unknown user 'carol'"),
            (["access:add", "nope", "alice", "--read"], "unknown app"),
            (["access:add", "web", "alice"], "Missing one of: '--read', '--write'"),
            (["config:set", "web", "NOEQUALS"], "'NOEQUALS' is not KEY=VALUE"),
            (["config:set", "web", "1A=x"], "invalid config var name '1A'"),
            (["config", "nope"], "unknown app"),
            (["releases:info", "web", "vx"], "invalid release 'vx'"),
            (["releases:info", "web", "v3"], "unknown release v3 of app web"),
            (["serve", "--listen", "localhost"], "--listen must be HOST:PORT"),
            (["serve", "--listen", "127.0.0.1:0"], "--listen must be HOST:PORT"),
            (["serve", "--listen", "127.0.0.1:5000", "--public-url", "ftp://x"], "--public-url must start with"),
        ]
        for (arguments, message) in cases {
            let result = try cli(arguments + ["--data", data])
            #expect(result.status != 0, "\(arguments) exited 0")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        #expect(try run("config:set", "web", "K=it's \\n").status == 0)
        let dump = try run("config:dump", "web")
        #expect(dump.status != 0)
        #expect(dump.stderr.contains("foreman"))
    }

    @Test func s3NeedsItsSettings() throws {
        let result = try cli(["serve", "--storage", "s3", "--listen", "127.0.0.1:1", "--data", data])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--storage s3 needs the endpoint"))
    }

    /// The admin CLI writes while the server serves: both see each other's writes, nobody fails.
    @Test func cliAndServerShareTheDatabase() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let root = server.data.root
        let set = try cli(["config:set", "web", "FROM_CLI=yes", "--data", root])
        #expect(set.status == 0, "\(set.stderr)")
        let push = try await Scenarios.push(server)
        #expect((push["env"] as? [String: String])?["FROM_CLI"] == "yes")
        let slugID = try #require((push["slug"] as? [String: Any])?["id"] as? String)

        let failures = Locked<[String]>([])
        async let releases: [Int] = withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<15 {
                group.addTask {
                    let response = try await server.request(
                        "POST", "/v1/apps/web/releases", json: Scenarios.releaseBody(slugID))
                    return response.status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<6 {
                group.addTask {
                    do {
                        let result = try cli(["config:set", "web", "N\(index)=\(index)", "--data", root])
                        if result.status != 0 { failures.withLock { $0.append(result.stderr) } }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
        #expect(try await releases.allSatisfy { $0 == 201 })
        #expect(failures.value.isEmpty)
        let config = try server.store.config(app: "web")
        #expect((0..<6).allSatisfy { config["N\($0)"] == "\($0)" })
        let listed = try cli(["releases", "web", "--data", root])
        #expect(listed.stdout.split(separator: "\n").count == 15)
    }
}
