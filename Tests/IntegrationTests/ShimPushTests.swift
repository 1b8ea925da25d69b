import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// git push / clone over a real sshd into ruko-shim and a real ruko-api (root: sshd, sandbox).
@Suite(
    "ruko-shim end to end (real sshd, git, ruko-api)", .serialized,
    .enabled(if: shimIntegrationAvailable, "requires root, /usr/sbin/sshd and built ruko-shim + ruko-api"))
struct ShimPushTests {
    @Test("the first push builds and creates v1 with the right process types and slug")
    func firstPush() throws {
        let cluster = try ShimCluster()
        let source = try cluster.workTree(example: "procfile")
        let push = try cluster.git("alice", ["push", cluster.remote, "main"], cwd: source)
        #expect(push.status == 0, "\(push.output)\n\(cluster.log())")
        #expect(push.output.contains("remote: -----> Launching... done, v1"))
        #expect(push.output.contains("Procfile declares types"))

        let release = try cluster.release("v1")
        #expect((release["process_types"] as? [String: String]) == ["web": "python3 server.py"])
        let head = try cluster.git("alice", ["rev-parse", "HEAD"], cwd: source).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(release["commit"] as? String == head)

        // The stored slug holds the app as pushed.
        let slugID = try #require(release["slug_id"] as? String)
        let slug = try #require(cluster.storedObject("apps/demo/slugs/\(slugID).tgz"))
        let unpacked = cluster.root + "/slug"
        try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
        try slug.write(to: URL(fileURLWithPath: cluster.root + "/slug.tgz"))
        try cluster.check(runCommand("/usr/bin/tar", ["-xzf", cluster.root + "/slug.tgz", "-C", unpacked]))
        for file in ["Procfile", "server.py"] {
            let inSlug = FileManager.default.contents(atPath: "\(unpacked)/app/\(file)")
            #expect(inSlug != nil && inSlug == FileManager.default.contents(atPath: "\(source)/\(file)"), "\(file)")
        }
        #expect(release["sha256"] as? String != nil)

        // The stored repository has the commit: a fresh clone checks out main.
        let clone = cluster.root + "/clone"
        let cloned = try cluster.git("alice", ["clone", "-q", cluster.remote, clone])
        #expect(cloned.status == 0, "\(cloned.output)")
        #expect(try cluster.git("alice", ["rev-parse", "HEAD"], cwd: clone).output.contains(head))
        // No hooks are stored with the repository.
        let stored = try #require(cluster.storedObject("apps/demo/repo.tgz"))
        try stored.write(to: URL(fileURLWithPath: cluster.root + "/repo.tgz"))
        let listing = try runCommand("/usr/bin/tar", ["-tzf", cluster.root + "/repo.tgz"]).output
        #expect(!listing.contains("hooks/pre-receive"))
    }

    @Test("a second push reuses the cache and creates v2 with a config snapshot; other branches are stored only")
    func secondPush() throws {
        let cluster = try ShimCluster()
        // A buildpack that reports whether the cache survived from the previous build.
        let buildpack = cluster.root + "/bp-cache"
        try FileManager.default.createDirectory(atPath: buildpack + "/bin", withIntermediateDirectories: true)
        let scripts = [
            "detect": "#!/bin/sh\necho Cachetest\n",
            "compile": """
            #!/bin/sh
            if [ -f "$2/stamp" ]; then echo "cache: hit $(cat "$2/stamp")"; else echo "cache: miss"; fi
            date +%s > "$2/stamp"

            """,
            "release": "#!/bin/sh\necho '---'\necho 'default_process_types:'\necho '  worker: sleep 1'\n",
        ]
        for (name, text) in scripts {
            try text.write(toFile: "\(buildpack)/bin/\(name)", atomically: true, encoding: .utf8)
            chmod("\(buildpack)/bin/\(name)", 0o755)
        }
        try cluster.admin("config:set", "demo", "BUILDPACK_URL=\(buildpack)", "GREETING=hello")
        let source = try cluster.workTree(files: ["Procfile": "web: ./serve\n", "serve": "#!/bin/sh\n"])
        let first = try cluster.git("alice", ["push", cluster.remote, "main"], cwd: source)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("cache: miss"))
        #expect(first.output.contains("done, v1"))

        try cluster.admin("config:set", "demo", "GREETING=again")
        try "more\n".write(toFile: source + "/README", atomically: true, encoding: .utf8)
        try cluster.check(cluster.git("alice", ["add", "README"], cwd: source))
        try cluster.check(cluster.git("alice", ["commit", "-q", "-m", "second"], cwd: source))
        let second = try cluster.git("alice", ["push", cluster.remote, "main"], cwd: source)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("cache: hit"))
        #expect(second.output.contains("done, v2"))
        let release = try cluster.release("v2")
        #expect((release["config_vars"] as? [String: String])?["GREETING"] == "again")
        #expect((release["process_types"] as? [String: String]) == ["web": "./serve", "worker": "sleep 1"])

        // A push to another branch is stored without a deploy.
        let branch = try cluster.git("alice", ["push", cluster.remote, "main:feature"], cwd: source)
        #expect(branch.status == 0, "\(branch.output)")
        #expect(branch.output.contains("without a deploy"))
        #expect(try cluster.remoteRefs().contains("refs/heads/feature"))
        #expect((try? cluster.release("v3")) == nil)
    }

    @Test("no access: refused, exit non-zero, remote refs unchanged; read-only: clone yes, push no")
    func access() throws {
        let cluster = try ShimCluster()
        let source = try cluster.workTree(example: "procfile")
        try cluster.check(cluster.git("alice", ["push", cluster.remote, "main"], cwd: source))
        let before = try cluster.remoteRefs()
        try "x".write(toFile: source + "/x", atomically: true, encoding: .utf8)
        try cluster.check(cluster.git("alice", ["add", "x"], cwd: source))
        try cluster.check(cluster.git("alice", ["commit", "-q", "-m", "x"], cwd: source))

        let eve = try cluster.git("eve", ["push", cluster.remote, "main"], cwd: source)
        #expect(eve.status != 0)
        #expect(eve.output.contains(" !  not an authorized user"), "\(eve.output)")
        let eveClone = try cluster.git("eve", ["clone", cluster.remote, cluster.root + "/eve-clone"])
        #expect(eveClone.status != 0)
        #expect(eveClone.output.contains(" !  not an authorized user"))

        let bobPush = try cluster.git("bob", ["push", cluster.remote, "main"], cwd: source)
        #expect(bobPush.status != 0)
        #expect(bobPush.output.contains(" !  read-only access"), "\(bobPush.output)")
        #expect(try cluster.remoteRefs() == before)

        let bobClone = try cluster.git("bob", ["clone", "-q", cluster.remote, cluster.root + "/bob-clone"])
        #expect(bobClone.status == 0, "read-only clone: \(bobClone.output)")
    }

    @Test("a failing build rejects the push: refs, stored repo and releases unchanged")
    func failingBuild() throws {
        let cluster = try ShimCluster()
        let source = try cluster.workTree(example: "procfile")
        try cluster.check(cluster.git("alice", ["push", cluster.remote, "main"], cwd: source))
        let refs = try cluster.remoteRefs()
        let repo = cluster.storedObject("apps/demo/repo.tgz")

        // An empty Procfile is a build error.
        try "".write(toFile: source + "/Procfile", atomically: true, encoding: .utf8)
        try cluster.check(cluster.git("alice", ["commit", "-q", "-am", "break the Procfile"], cwd: source))
        let push = try cluster.git("alice", ["push", cluster.remote, "main"], cwd: source)
        #expect(push.status != 0)
        #expect(push.output.contains("Push rejected"), "\(push.output)")
        #expect(push.output.contains("pre-receive hook declined"))
        #expect(try cluster.remoteRefs() == refs)
        #expect(cluster.storedObject("apps/demo/repo.tgz") == repo)
        #expect((try? cluster.release("v2")) == nil)
    }

    @Test("two concurrent pushes to one app: both end clearly, the repository stays consistent")
    func concurrentPushes() throws {
        let cluster = try ShimCluster(lockTimeout: 60)
        let source = try cluster.workTree(example: "procfile")
        try cluster.check(cluster.git("alice", ["push", cluster.remote, "main"], cwd: source))
        var clones: [String] = []
        for name in ["one", "two"] {
            let clone = cluster.root + "/clone-" + name
            try cluster.check(cluster.git("alice", ["clone", "-q", cluster.remote, clone]))
            try name.write(toFile: clone + "/change-" + name, atomically: true, encoding: .utf8)
            try cluster.check(cluster.git("alice", ["add", "-A"], cwd: clone))
            try cluster.check(cluster.git("alice", ["commit", "-q", "-m", name], cwd: clone))
            clones.append(clone)
        }
        let results = Results()
        let group = DispatchGroup()
        for clone in clones {
            group.enter()
            Thread {
                let result = try? cluster.git("alice", ["push", cluster.remote, "main"], cwd: clone)
                results.append(clone, result)
                group.leave()
            }.start()
        }
        group.wait()
        let outcomes = results.all
        #expect(outcomes.count == 2)
        var winners: [String] = []
        for (clone, result) in outcomes {
            let result = try #require(result)
            if result.status == 0 {
                #expect(result.output.contains("Launching... done"), "\(result.output)")
                winners.append(clone)
            } else {
                // The loser waited for the lock, then git refused a non-fast-forward (or the lock timed out).
                #expect(
                    result.output.contains("rejected")
                        || result.output.contains("another deploy of demo is in progress"),
                    "\(result.output)")
            }
        }
        #expect(winners.count == 1)
        let final = cluster.root + "/final"
        try cluster.check(cluster.git("alice", ["clone", "-q", cluster.remote, final]))
        let fsck = try cluster.git("alice", ["fsck", "--strict"], cwd: final)
        #expect(fsck.status == 0, "\(fsck.output)")
        if let winner = winners.first {
            let expected = try cluster.git("alice", ["rev-parse", "HEAD"], cwd: winner).output
            #expect(try cluster.git("alice", ["rev-parse", "HEAD"], cwd: final).output == expected)
            #expect((try? cluster.release("v2")) != nil)
            #expect((try? cluster.release("v3")) == nil)
        }
    }

    @Test("a push waiting for the lock gets a clear message after the bounded wait")
    func lockTimeout() throws {
        let cluster = try ShimCluster(lockTimeout: 1)
        let source = try cluster.workTree(example: "procfile")
        // Hold the app's lock from outside, as a running deploy would.
        let lockDirectory = cluster.root + "/sshd/state/locks"
        try FileManager.default.createDirectory(atPath: lockDirectory, withIntermediateDirectories: true)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["-o", lockDirectory + "/demo.lock", "sleep", "20"]
        try holder.run()
        defer { holder.terminate() }
        usleep(200_000)
        let push = try cluster.git("alice", ["push", cluster.remote, "main"], cwd: source)
        #expect(push.status != 0)
        #expect(push.output.contains(" !  another deploy of demo is in progress; try again shortly"), "\(push.output)")
        #expect(try cluster.remoteRefs().isEmpty)
    }

    @Test("the git client hanging up mid-build: sandbox, cgroup, lock and work tree released; nothing stored")
    func hangUpMidBuild() throws {
        let cluster = try ShimCluster()
        // A compile that daemonises a grandchild and then blocks, as long as the app has `slow`.
        let seconds = Int.random(in: 4000..<5000)
        let buildpack = cluster.root + "/bp-slow"
        try FileManager.default.createDirectory(atPath: buildpack + "/bin", withIntermediateDirectories: true)
        let scripts = [
            "detect": "#!/bin/sh\necho Slow\n",
            "compile": """
            #!/bin/sh
            if [ -f "$1/slow" ]; then
              (setsid /bin/sleep \(seconds + 1) >/dev/null 2>&1 &)
              echo "-----> compiling slowly"
              exec /bin/sleep \(seconds)
            fi
            echo "-----> compiling quickly"

            """,
            "release": "#!/bin/sh\necho '--- {}'\n",
        ]
        for (name, text) in scripts {
            try text.write(toFile: "\(buildpack)/bin/\(name)", atomically: true, encoding: .utf8)
            chmod("\(buildpack)/bin/\(name)", 0o755)
        }
        try cluster.admin("config:set", "demo", "BUILDPACK_URL=\(buildpack)")
        let source = try cluster.workTree(files: ["Procfile": "web: ./serve\n", "serve": "#!/bin/sh\n", "slow": "1\n"])
        let before = currentLeftovers()
        let state = cluster.root + "/sshd/state"

        // git push; Foundation starts it as a process group leader, so it and its ssh die together.
        let log = cluster.root + "/hangup.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let push = Process()
        push.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        push.arguments = ["push", cluster.remote, "main"]
        push.environment = ProcessInfo.processInfo.environment.merging(cluster.sshEnvironment("alice")) { $1 }
        push.currentDirectoryURL = URL(fileURLWithPath: source)
        push.standardInput = FileHandle.nullDevice
        push.standardOutput = FileHandle(forWritingAtPath: log)
        push.standardError = FileHandle(forWritingAtPath: log)
        try push.run()
        defer { if push.isRunning { kill(-push.processIdentifier, SIGKILL) } }

        func output() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if condition() { return true }
                usleep(100_000)
            }
            return condition()
        }
        let building = waitUntil(120) {
            output().contains("compiling slowly") && !processes(matching: "sleep \(seconds)").isEmpty
                && !processes(matching: "sleep \(seconds + 1)").isEmpty
        }
        try #require(building, "the build did not start: \(output())\n\(cluster.log())")
        try #require(getpgid(push.processIdentifier) == push.processIdentifier, "git push leads its process group")
        #expect(currentLeftovers().cgroups.count > before.cgroups.count, "a sandbox cgroup exists mid-build")

        // Hang up: the client and its ssh die without a word.
        kill(-push.processIdentifier, SIGKILL)
        push.waitUntilExit()

        let released = waitUntil(30) {
            processes(matching: "sleep \(seconds)").isEmpty && processes(matching: "sleep \(seconds + 1)").isEmpty
                && processes(matching: "ruko-shim session").isEmpty
                && currentLeftovers().cgroups == before.cgroups
                && ((try? FileManager.default.contentsOfDirectory(atPath: state + "/work")) ?? []).isEmpty
        }
        let now = currentLeftovers()
        #expect(
            released,
            """
            after the hang-up: build \(processes(matching: "sleep \(seconds)")), daemonised \
            \(processes(matching: "sleep \(seconds + 1)")), workers \(processes(matching: "ruko-shim session")), \
            cgroups \(now.cgroups) (before \(before.cgroups)), work \
            \((try? FileManager.default.contentsOfDirectory(atPath: state + "/work")) ?? [])
            \(cluster.log())
            """)
        #expect(now.mountsAdded(since: before).isEmpty, "mounts left: \(now.mountsAdded(since: before))")
        // The app's lock is free, nothing was stored or released, the refs did not move.
        let lock = try runCommand("/usr/bin/flock", ["-n", state + "/locks/demo.lock", "true"])
        #expect(lock.status == 0, "the app lock is still held: \(lock.output)")
        #expect(try cluster.remoteRefs().isEmpty)
        #expect(cluster.storedObject("apps/demo/repo.tgz") == nil)
        #expect((try? cluster.release("v1")) == nil)

        // The next push goes straight through.
        try FileManager.default.removeItem(atPath: source + "/slow")
        try cluster.check(cluster.git("alice", ["commit", "-q", "-am", "fast now"], cwd: source))
        let again = try cluster.git("alice", ["push", cluster.remote, "main"], cwd: source)
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("compiling quickly"))
        #expect(again.output.contains("Launching... done, v1"), "\(again.output)")
        #expect(!again.output.contains("Waiting for another deploy"))
    }

    @Test("a push over max_push_size is refused by git before anything is stored; refs unchanged")
    func oversizedPush() throws {
        let cluster = try ShimCluster()
        // Sessions read the configuration afresh: lower the limit to 1 MiB for this cluster.
        let config = cluster.root + "/sshd/shim.conf"
        let handle = try #require(FileHandle(forWritingAtPath: config))
        handle.seekToEndOfFile()
        handle.write(Data("max_push_size = 1M\n".utf8))
        handle.closeFile()
        let source = try cluster.workTree(example: "procfile")
        // 3 MiB that do not compress.
        try cluster.check(
            runCommand("/bin/sh", ["-c", "head -c 3145728 /dev/urandom > \"$0\"/blob", source]))
        try cluster.check(cluster.git("alice", ["add", "blob"], cwd: source))
        try cluster.check(cluster.git("alice", ["commit", "-q", "-m", "big"], cwd: source))
        let push = try cluster.git("alice", ["push", cluster.remote, "main"], cwd: source)
        #expect(push.status != 0)
        #expect(push.output.contains("pack exceeds maximum allowed size"), "\(push.output)")
        #expect(!push.output.contains("Launching"))
        #expect(try cluster.remoteRefs().isEmpty)
        #expect(cluster.storedObject("apps/demo/repo.tgz") == nil)
        #expect((try? cluster.release("v1")) == nil)
    }

    @Test("API down: a clear message naming the API, exit 1")
    func apiDown() throws {
        let cluster = try ShimCluster()
        FileManager.default.createFile(atPath: cluster.root + "/empty.conf", contents: Data())
        cluster.stopAPI()
        // Key lookups go through the API too, so over ssh the key is simply not accepted...
        let overSSH = try cluster.ssh("alice", "git-receive-pack 'demo.git'")
        #expect(overSSH.status != 0)
        #expect(overSSH.output.contains("Permission denied"), "\(overSSH.output)")
        // ...and the session itself (what sshd runs for a key from a static authorized_keys file) says why.
        let serve = try runCommand(
            cluster.bin + "/ruko-shim", ["serve", "--user", "alice"],
            environment: [
                "SSH_ORIGINAL_COMMAND": "git-receive-pack 'demo.git'", "RUKO_API_URL": cluster.apiURL,
                "RUKO_API_TOKEN": cluster.token, "RUKO_SHIM_STATE_DIR": cluster.root + "/direct",
                "RUKO_SHIM_CONFIG": cluster.root + "/empty.conf",
            ])
        #expect(serve.status == 1)
        #expect(serve.output.hasPrefix(" !  the ruko API at \(cluster.apiURL) is unreachable: "), "\(serve.output)")
    }

    @Test("injected and unknown commands and pty requests are refused; nothing runs")
    func hostileCommands() throws {
        let cluster = try ShimCluster()
        let canary = cluster.root + "/canary"
        try "alive".write(toFile: canary, atomically: true, encoding: .utf8)
        let commands = [
            "git-receive-pack 'demo.git'; rm -rf \(canary)", "git-receive-pack '../x.git'",
            "git-upload-pack '/../../etc.git'", "rm -rf \(canary)", "git-upload-archive 'demo.git'", "sh",
            "git-receive-pack 'demo.git' && touch \(cluster.root)/pwned", "git-receive-pack \"demo.git\"",
            "scp -t /tmp", "internal-sftp",
        ]
        for command in commands {
            let result = try cluster.ssh("alice", command)
            #expect(result.status == 1, "\(command): \(result.output)")
            #expect(result.output.hasPrefix(" !  "), "\(command): \(result.output)")
        }
        // A pty request: sshd refuses it (restrict, PermitTTY no) and the client gives up.
        let pty = try cluster.ssh("alice", nil, tty: true)
        #expect(pty.status != 0)
        #expect(pty.output.contains("PTY allocation request failed"), "\(pty.output)")
        let ptyCommand = try cluster.ssh("alice", "sh", tty: true)
        #expect(ptyCommand.status != 0)
        // A shell without a pty reaches the shim, which refuses it.
        let shell = try cluster.ssh("alice", nil)
        #expect(shell.status == 1)
        #expect(shell.output.contains(" !  interactive sessions are not available"), "\(shell.output)")
        #expect(FileManager.default.fileExists(atPath: canary))
        #expect(!FileManager.default.fileExists(atPath: cluster.root + "/pwned"))
        // The sftp subsystem and port forwarding are not available either.
        let forward = try runCommand(
            "/usr/bin/timeout",
            [
                "15", "ssh", "-i", "\(cluster.root)/keys/alice", "-o", "IdentitiesOnly=yes", "-o",
                "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                "-L", "\(freePort()):127.0.0.1:\(cluster.apiPort)", "-p", "\(cluster.sshPort)", "git@127.0.0.1", "true",
            ],
            input: "")
        #expect(forward.status != 0)
    }
}

/// Collects results from threads.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [(String, ProgramResult?)] = []
    func append(_ key: String, _ value: ProgramResult?) {
        lock.lock()
        values.append((key, value))
        lock.unlock()
    }
    var all: [(String, ProgramResult?)] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}
