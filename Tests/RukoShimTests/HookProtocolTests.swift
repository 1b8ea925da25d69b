import Foundation
import Synchronization
import Testing

@testable import RukoShim

/// The real hook scripts (hooks/) against the shim's end of the channel, with real git; no root.
@Suite("hook protocol")
struct HookProtocolTests {
    static let hooks: String = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.path + "/hooks/pre-receive") {
                return directory.path + "/hooks"
            }
            directory = directory.deletingLastPathComponent()
        }
        return "/nonexistent"
    }()

    /// A repository with one commit on main; returns (git dir, commit).
    func repository(in directory: String) throws -> (String, String) {
        let work = directory + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try "web: ./run\n".write(toFile: work + "/Procfile", atomically: true, encoding: .utf8)
        let env = [
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e",
        ]
        for arguments in [["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "one"]] {
            let result = try run("/usr/bin/git", arguments, cwd: work, env: env)
            #expect(result.status == 0, "\(result.output)")
        }
        let head = try run("/usr/bin/git", ["rev-parse", "HEAD"], cwd: work, env: [:]).output
        return (work + "/.git", head.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func run(
        _ path: String, _ arguments: [String], cwd: String, env: [String: String], input: String? = nil
    ) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = Pipe()
        let err = Pipe()
        let stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let errorData = err.fileHandleForReading.readDataToEndOfFile()
        let outputData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: outputData, as: UTF8.self),
            String(decoding: errorData, as: UTF8.self)
        )
    }

    /// Runs `hook` with `stdin` while `serve` answers on the shim side; the hook's result.
    func exchange(
        hook: String, stdin: String, gitDir: String, channel: HookChannel,
        serve: @escaping @Sendable (HookChannel) -> Void
    ) throws -> (status: Int32, output: String, error: String) {
        let done = DispatchSemaphore(value: 0)
        Thread {
            serve(channel)
            done.signal()
        }.start()
        let result = try run(
            "\(Self.hooks)/\(hook)", [], cwd: gitDir,
            env: ["GIT_DIR": gitDir, "RUKO_CHANNEL": channel.directory], input: stdin)
        channel.stop()
        done.wait()
        return result
    }

    @Test("pre-receive: refs and the checked-out deploy revision reach the shim; output streams back; ok accepts")
    func accept() throws {
        let directory = try TemporaryDirectory()
        let (gitDir, head) = try repository(in: directory.path)
        let channel = try HookChannel(directory: directory.path + "/channel", uid: getuid(), gid: getgid())
        let zero = String(repeating: "0", count: 40)
        let seen = Mutex<[String]>([])
        let result = try exchange(
            hook: "pre-receive", stdin: "\(zero) \(head) refs/heads/main\n\(zero) \(head) refs/heads/topic\n",
            gitDir: gitDir, channel: channel
        ) { channel in
            guard (try? channel.next()) == .preReceive else { return }
            let updates = (try? channel.refUpdates()) ?? []
            let procfile = try? String(contentsOfFile: channel.sourceDirectory + "/Procfile", encoding: .utf8)
            seen.withLock { $0 = updates.map(\.ref) + [procfile ?? "none"] }
            channel.answer { out in
                out.line("-----> Building")
                out.line("       step 2")
                return true
            }
        }
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error == "-----> Building\n       step 2\n")
        #expect(seen.withLock { $0 } == ["refs/heads/main", "refs/heads/topic", "web: ./run\n"])
    }

    @Test("pre-receive: a fail verdict rejects (exit 1)")
    func reject() throws {
        let directory = try TemporaryDirectory()
        let (gitDir, head) = try repository(in: directory.path)
        let channel = try HookChannel(directory: directory.path + "/channel", uid: getuid(), gid: getgid())
        let result = try exchange(
            hook: "pre-receive", stdin: "\(String(repeating: "0", count: 40)) \(head) refs/heads/main\n",
            gitDir: gitDir, channel: channel
        ) { channel in
            guard (try? channel.next()) == .preReceive else { return }
            channel.answer { out in
                out.line(" !     Push rejected")
                return false
            }
        }
        #expect(result.status == 1)
        #expect(result.error.contains(" !     Push rejected"))
    }

    @Test("pre-receive without the deploy branch checks nothing out; post-receive asks after it")
    func noDeployThenPost() throws {
        let directory = try TemporaryDirectory()
        let (gitDir, head) = try repository(in: directory.path)
        let channel = try HookChannel(directory: directory.path + "/channel", uid: getuid(), gid: getgid())
        let phases = Mutex<[String]>([])
        let pre = try exchange(
            hook: "pre-receive", stdin: "\(String(repeating: "0", count: 40)) \(head) refs/heads/topic\n",
            gitDir: gitDir, channel: channel
        ) { channel in
            guard let phase = try? channel.next() else { return }
            let checkedOut = FileManager.default.fileExists(atPath: channel.sourceDirectory)
            phases.withLock { $0.append("\(phase.rawValue) src=\(checkedOut)") }
            channel.answer { _ in true }
        }
        #expect(pre.status == 0, "\(pre.error)")
        let channel2 = try HookChannel(directory: directory.path + "/channel2", uid: getuid(), gid: getgid())
        let post = try exchange(hook: "post-receive", stdin: "x y z\n", gitDir: gitDir, channel: channel2) { channel in
            guard let phase = try? channel.next() else { return }
            phases.withLock { $0.append(phase.rawValue) }
            channel.answer { out in
                out.line("-----> Launching... done, v7")
                return true
            }
        }
        #expect(post.status == 0)
        #expect(post.error == "-----> Launching... done, v7\n")
        #expect(phases.withLock { $0 } == ["pre-receive src=false", "post-receive"])
    }

    @Test("stop() ends the wait when no hook ever comes (nothing to update)")
    func stopWithoutHook() throws {
        let directory = try TemporaryDirectory()
        let channel = try HookChannel(directory: directory.path + "/channel", uid: getuid(), gid: getgid())
        let result = Mutex<HookPhase?>(.preReceive)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let phase = try? channel.next()
            result.withLock { $0 = phase }
            done.signal()
        }.start()
        usleep(100_000)
        channel.stop()
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(result.withLock { $0 } == nil)
    }

    @Test("an unknown request from the hook side is an error")
    func unknownRequest() throws {
        let directory = try TemporaryDirectory()
        let channel = try HookChannel(directory: directory.path + "/channel", uid: getuid(), gid: getgid())
        let writer = Thread {
            let fd = open(directory.path + "/channel/request", O_WRONLY)
            _ = "rm -rf /\n".withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
        writer.start()
        #expect(throws: ShimError.self) { try channel.next() }
    }

    @Test(
        "ref update lines",
        arguments: [
            ("\(String(repeating: "0", count: 40)) \(String(repeating: "a", count: 40)) refs/heads/main", true),
            ("\(String(repeating: "1", count: 64)) \(String(repeating: "f", count: 64)) refs/tags/v1", true),
            ("\(String(repeating: "0", count: 40)) \(String(repeating: "A", count: 40)) refs/heads/main", false),
            ("\(String(repeating: "0", count: 40)) \(String(repeating: "a", count: 39)) refs/heads/main", false),
            ("\(String(repeating: "0", count: 40)) \(String(repeating: "a", count: 40)) HEAD", false),
            ("\(String(repeating: "0", count: 40)) \(String(repeating: "a", count: 40)) refs/heads/../x", false),
            ("\(String(repeating: "0", count: 40)) \(String(repeating: "a", count: 40)) refs/heads/a b", false),
            ("", false),
        ])
    func refLines(line: String, valid: Bool) {
        #expect((RefUpdate.parse(Substring(line)) != nil) == valid)
    }

    @Test("a delete is recognised")
    func delete() throws {
        let update = try #require(
            RefUpdate.parse(
                Substring("\(String(repeating: "a", count: 40)) \(String(repeating: "0", count: 40)) refs/heads/main")))
        #expect(update.isDelete)
    }
}
