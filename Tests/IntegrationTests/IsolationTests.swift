import Foundation
import Testing

/// The isolation suite: what a command in ruko-run's sandbox can and cannot do. Mirrors the
/// checks runc/crun/bubblewrap make in their own tests. Needs root (namespaces, mounts).
@Suite(.serialized, .enabled(if: isRoot, "requires root: ruko-run creates namespaces and mounts"))
struct IsolationTests {
    // MARK: exit statuses

    @Test func commandRunsAndItsOutputPassesThrough() throws {
        let r = try rukoRun(["--", "/bin/echo", "hello from the sandbox"])
        #expect(r.status == 0)
        #expect(r.stdout == "hello from the sandbox\n")
    }

    @Test func exitCodeIsTheCommands() throws {
        #expect(try sandboxed("exit 7").status == 7)
        #expect(try sandboxed("exit 0").status == 0)
    }

    @Test func killedBySignalIs128PlusN() throws {
        #expect(try sandboxed("kill -9 $$").status == 137)
        #expect(try sandboxed("kill -TERM $$").status == 143)
    }

    @Test func notFoundIs127() throws {
        let r = try rukoRun(["--", "no-such-command-xyz"])
        #expect(r.status == 127)
        #expect(r.stderr.contains("no-such-command-xyz"))
        #expect(r.stderr.contains("not found"))
    }

    @Test func notExecutableIs126() throws {
        let r = try rukoRun(["--", "/etc/passwd"])
        #expect(r.status == 126)
        #expect(r.stderr.contains("EACCES"))
    }

    @Test func runtimeFailureIs125WithWhatFailed() throws {
        let r = try rukoRun(["--bind", "/no/such/source:/x", "--", "true"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("/no/such/source"))
        let t = try rukoRun(["--template", "no-such-template", "--", "true"])
        #expect(t.status == 125)
        #expect(t.stderr.contains("no-such-template"))
        let bad = try rukoRun(["--memory", "lots", "--", "true"])
        #expect(bad.status == 125)
        #expect(bad.stderr.contains("--memory lots"))
    }

    @Test func helpAndCommandsWithoutTheSeparator() throws {
        let help = try rukoRun(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--allow-missing-controllers"))
        #expect(try rukoRun(["echo", "--timeout", "5"]).stdout == "--timeout 5\n")
        #expect(try rukoRun([]).status == 125)
    }

    @Test func stdinPassesThrough() throws {
        let r = try rukoRun(["--", "cat"], input: "line one\nline two\n")
        #expect(r.stdout == "line one\nline two\n")
    }

    // MARK: processes, pid namespace, init

    @Test func seesNoHostProcess() throws {
        let r = try sandboxed("ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '")
        let pids = r.stdout.split(separator: " ").compactMap { Int($0) }
        #expect(pids.first == 1)
        // init (1), sh (2) and the pipeline's own processes: nothing of the host.
        #expect(pids.count <= 6 && pids.allSatisfy { $0 < 10 }, "saw pids \(pids)")
    }

    @Test func timeoutKillsADaemonisedGrandchild() throws {
        let marker = "4242.4242"
        let r = try rukoRun(["--timeout", "1s", "--", "/bin/sh", "-c", "setsid sleep \(marker) & sleep \(marker)"])
        #expect(r.status == 124)
        #expect(r.stderr.contains("timed out"))
        Thread.sleep(forTimeInterval: 0.2)
        #expect(processes(matching: "sleep \(marker)").isEmpty)
    }

    @Test func killingRukoRunKillsTheContainer() throws {
        let marker = "4343.4343"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDir + "/ruko-run")
        process.arguments = ["--", "/bin/sh", "-c", "setsid sleep \(marker) & sleep \(marker)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var seen = false
        for _ in 0..<100 where !seen {
            Thread.sleep(forTimeInterval: 0.05)
            seen = processes(matching: "sleep \(marker)").count == 2
        }
        #expect(seen, "the container's processes never appeared")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        var gone = false
        for _ in 0..<100 where !gone {
            Thread.sleep(forTimeInterval: 0.02)
            gone = processes(matching: "sleep \(marker)").isEmpty
        }
        #expect(gone, "container processes survived ruko-run's SIGKILL")
    }

    @Test func sigtermIsForwardedToTheCommand() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binDir + "/ruko-run")
        process.arguments = ["--", "/bin/sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let ready = out.fileHandleForReading.availableData
        #expect(String(decoding: ready, as: UTF8.self).contains("ready"))
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 42)
    }

    // MARK: filesystem

    @Test func hostDirectoriesAreReadOnly() throws {
        for dir in ["/usr", "/etc", "/bin", "/usr/lib"] {
            let r = try sandboxed("touch \(dir)/ruko-probe")
            #expect(r.status != 0)
            #expect(r.stderr.contains("Read-only file system"), "\(dir): \(r.stderr)")
        }
    }

    @Test func remountingReadWriteFails() throws {
        let r = try sandboxed("mount -o remount,rw /usr", options: ["--user", "0"])
        #expect(r.status != 0)
        let py = try rukoRun([
            "--user", "0", "--", "python3", "-c",
            "import ctypes; l=ctypes.CDLL(None, use_errno=True); print(l.mount(None, b'/usr', None, 32|4096, None), ctypes.get_errno())",
        ])
        #expect(py.stdout == "-1 1\n", "mount(MS_REMOUNT|MS_BIND) as uid 0: \(py.stdout) \(py.stderr)")
    }

    /// A read-only bind is read-only all the way down, submounts included, and keeps their flags
    /// (nosuid stays); with mount_setattr and with the bind-remount fallback for older kernels.
    @Test(arguments: ["0", "1"])
    func readOnlyBindsCoverSubmounts(forceFallback: String) throws {
        let dir = try makeTemporaryDirectory()
        defer {
            umount2(dir + "/sub", Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: dir)
        }
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        #expect(mount("ruko-sub", dir + "/sub", "tmpfs", UInt(MS_NOSUID | MS_NOEXEC), "size=1m,mode=0777") == 0)
        var env = ProcessInfo.processInfo.environment
        env["RUKO_FORCE_REMOUNT_FALLBACK"] = forceFallback
        let r = try runProcess(
            binDir + "/ruko-run",
            [
                "--bind", "\(dir):/data", "--", "/bin/sh", "-c",
                "touch /data/sub/x; grep ' /data/sub ' /proc/self/mountinfo",
            ],
            environment: env)
        #expect(r.stderr.contains("Read-only file system"), "\(r.stderr)")
        let options = r.stdout.split(separator: " ").dropFirst(5).first ?? ""
        #expect(options.hasPrefix("ro,") && options.contains("nosuid") && options.contains("noexec"), "\(r.stdout)")
    }

    @Test func appAndTmpAreWritable() throws {
        let app = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: app) }
        chown(app, 10001, 10001)
        let r = try sandboxed(
            "echo data > /app/file && echo tmp > /tmp/file && cat /tmp/file && pwd", options: ["--app", app])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "tmp\n/app\n")
        #expect(try String(contentsOfFile: app + "/file", encoding: .utf8) == "data\n")
    }

    @Test func appAndTmpAreNosuidNodev() throws {
        let app = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: app) }
        let r = try sandboxed("grep -E ' /(app|tmp) ' /proc/self/mountinfo", options: ["--app", app])
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2, "\(r.stdout)")
        for line in lines {
            #expect(line.contains("nosuid") && line.contains("nodev"), "\(line)")
        }
    }

    @Test func maskedPathsReadEmptyOrAreAbsent() throws {
        let r = try sandboxed(
            "for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats; do [ -e $f ] && wc -c < $f; done; ls /proc/acpi 2>/dev/null | wc -l"
        )
        #expect(r.stdout.split(separator: "\n").allSatisfy { $0 == "0" }, "\(r.stdout)")
    }

    @Test func procSysIsReadOnly() throws {
        let r = try sandboxed("echo ruko > /proc/sys/kernel/domainname", options: ["--user", "0"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("Read-only file system"), "\(r.stderr)")
    }

    @Test func nothingElseOfTheHostIsVisible() throws {
        let r = try sandboxed(
            "for d in /root /home /var /sys /boot /mnt /opt /srv /run/ruko; do [ -e $d ] && echo $d; done; true")
        #expect(r.stdout == "", "visible: \(r.stdout)")
    }

    @Test func devIsMinimal() throws {
        let r = try sandboxed("ls /dev | tr '\\n' ' '; echo; echo x > /dev/null && head -c 4 /dev/zero | wc -c")
        let names = Set(r.stdout.split(separator: "\n")[0].split(separator: " ").map(String.init))
        #expect(
            names == [
                "null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin", "stdout",
                "stderr",
            ])
        #expect(r.stdout.hasSuffix("4\n"))
    }

    @Test func bindOptionsHonourReadOnlyAndReadWrite() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o777)
        let ro = try sandboxed("touch /data/x", options: ["--bind", "\(dir):/data"])
        #expect(ro.status != 0)
        let rw = try sandboxed("touch /data/x", options: ["--bind", "\(dir):/data:rw"])
        #expect(rw.status == 0, "\(rw.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/x"))
    }

    @Test func aBindCannotCreateMountPointsInReadOnlyHostDirectories() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try rukoRun(["--bind", "\(dir):/usr/ruko-no-such-dir", "--", "true"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("does not exist inside the bind of /usr at /usr"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/usr/ruko-no-such-dir"))
    }

    // MARK: credentials, capabilities, seccomp

    @Test func runsAsAnUnprivilegedUser() throws {
        #expect(try sandboxed("id -u; id -g").stdout == "10001\n10001\n")
        #expect(try sandboxed("id -u; id -g; id -G", options: ["--user", "1234:2345"]).stdout == "1234\n2345\n2345\n")
    }

    @Test func theRunUserHasANameAndTheAccountFilesAreReadOnlyCopies() throws {
        let r = try sandboxed(
            "id -un; id -gn; whoami; getent passwd 10001; echo x >> /etc/passwd || echo read-only; "
                + "grep -c . /etc/passwd; ls -A / | grep -c ruko-file; true")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(4)) == ["ruko", "ruko", "ruko", "ruko:x:10001:10001:ruko:/:/bin/sh"], "\(r.stdout)")
        #expect(lines.contains("read-only"))
        // The host's entries are all there, plus one; no staging file is left in the root.
        let hostLines = try String(contentsOfFile: "/etc/passwd", encoding: .utf8).split(separator: "\n").count
        #expect(lines.suffix(2) == ["\(hostLines + 1)", "0"], "\(r.stdout)")
        // HOME with --app; an id the host already lists gets no line; the host file is untouched.
        let app = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: app) }
        #expect(
            try sandboxed("getent passwd ruko", options: ["--app", app]).stdout
                == "ruko:x:10001:10001:ruko:/app:/bin/sh\n")
        #expect(try sandboxed("grep -c . /etc/passwd", options: ["--user", "0"]).stdout == "\(hostLines)\n")
        #expect(!(try String(contentsOfFile: "/etc/passwd", encoding: .utf8)).contains("ruko:x:10001"))
    }

    @Test func everyCapabilitySetIsEmpty() throws {
        for user in ["10001", "0"] {
            let r = try sandboxed("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status", options: ["--user", user])
            let lines = r.stdout.split(separator: "\n")
            #expect(lines.count == 5)
            for line in lines { #expect(line.hasSuffix("0000000000000000"), "user \(user): \(line)") }
        }
    }

    @Test func noNewPrivsAndSeccompAreOn() throws {
        let r = try sandboxed("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status")
        #expect(r.stdout == "NoNewPrivs:\t1\nSeccomp:\t2\n")
    }

    @Test func aSetuidRootBinaryGainsNothing() throws {
        let app = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: app) }
        try FileManager.default.copyItem(atPath: "/usr/bin/id", toPath: app + "/suid-id")
        chown(app + "/suid-id", 0, 0)
        chmod(app + "/suid-id", 0o4755)
        let r = try rukoRun(["--bind", "\(app):/opt/x", "--", "/opt/x/suid-id"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("uid=10001"))
        #expect(!r.stdout.contains("euid=0"))
    }

    /// Each refused system call, tried with ctypes from inside (as uid 0 in the container, so only
    /// seccomp and the dropped capabilities stand in the way).
    @Test(arguments: [
        ("mount", "l.syscall(165, b'none', b'/tmp', b'tmpfs', 0, None)", "1"),
        ("unshare", "l.syscall(272, 0x10000000)", "1"),
        ("keyctl", "l.syscall(250, 0, 0, 0, 0, 0)", "1"),
        ("bpf", "l.syscall(321, 0, 0, 0)", "1"),
        ("ptrace", "l.syscall(101, 0, 0, 0, 0)", "1"),
        ("userfaultfd", "l.syscall(323, 0)", "1"),
        ("setns", "l.syscall(308, 0, 0)", "1"),
        ("clone with CLONE_NEWNS", "l.syscall(56, 0x20000|17, 0, 0, 0, 0)", "1"),
        ("clone3", "l.syscall(435, 0, 0)", "38"),
        ("TIOCSTI", "l.syscall(16, 0, 0x5412, ctypes.c_char_p(b'x'))", "1"),
        ("AF_ALG socket", "l.syscall(41, 38, 5, 0)", "97"),
    ])
    func refusedSystemCalls(name: String, call: String, errno: String) throws {
        let script = "import ctypes; l=ctypes.CDLL(None, use_errno=True); r=\(call); print(r, ctypes.get_errno())"
        let r = try rukoRun(["--user", "0", "--", "python3", "-c", script])
        #expect(r.stdout == "-1 \(errno)\n", "\(name): \(r.stdout) \(r.stderr)")
    }

    @Test func theRuntimeBinaryCannotBeReachedFromInside() throws {
        // CVE-2019-5736: init is the runtime's clone; it is non-dumpable, so /proc/1/exe is closed.
        let r = try sandboxed(
            "readlink /proc/1/exe; echo rl=$?; (echo x >> /proc/1/exe) 2>&1; echo wr=$?; readlink /proc/1/fd/* 2>&1; echo fd=$?",
            options: ["--user", "0"])
        #expect(r.stdout.contains("rl=1"), "\(r.stdout)")
        #expect(r.stdout.contains("wr=1") || r.stdout.contains("wr=2"), "\(r.stdout)")
        #expect(r.stdout.contains("fd=2") || r.stdout.contains("fd=1"), "\(r.stdout)")
    }

    @Test func noFileDescriptorAboveTwoIsOpen() throws {
        // Open an inheritable fd in ruko-run's parent (this test) and check nothing leaks through.
        let fd = open("/etc/hostname", O_RDONLY)
        defer { close(fd) }
        let script =
            "import os\nleaks=[]\nfor fd in range(3, 4096):\n  try:\n    os.fstat(fd); leaks.append(fd)\n  except OSError: pass\nprint(leaks)"
        let r = try rukoRun(["--", "python3", "-c", script])
        #expect(r.stdout == "[]\n", "\(r.stdout) \(r.stderr)")
    }

    // MARK: namespaces

    @Test func onlyLoopbackExistsAndIsUp() throws {
        let r = try sandboxed(
            "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/operstate 2>/dev/null; python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(); print(\"listen ok\")'"
        )
        #expect(r.stdout.hasPrefix("lo\n"))
        #expect(r.stdout.contains("listen ok"))
        let host = try sandboxed("tail -n +3 /proc/net/dev | wc -l", options: ["--network", "host"])
        #expect((Int(host.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 1)
    }

    @Test func hostnameIsTheSandboxes() throws {
        #expect(try sandboxed("hostname").stdout == "ruko\n")
        #expect(try sandboxed("hostname", options: ["--hostname", "build-7"]).stdout == "build-7\n")
    }

    @Test func cgroupNamespaceHidesTheHostHierarchy() throws {
        let r = try sandboxed("grep '^0::' /proc/self/cgroup")
        #expect(r.stdout == "0::/\n")
    }

    // MARK: templates, environment, options

    @Test func aSecondTemplateIsJustData() throws {
        let r = try rukoRun([
            "--template", "minimal", "--", "/bin/sh", "-c", "hostname; [ -e /etc ] && echo etc; pwd; echo $PATH",
        ])
        #expect(r.stdout == "minimal\n/\n/usr/bin:/bin\n", "\(r.stdout) \(r.stderr)")
        let app = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: app) }
        let w = try rukoRun(["--template", "minimal", "--app", app, "--", "pwd"])
        #expect(w.stdout == "/work\n")
    }

    @Test func environmentOptions() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "# comment\nexport A=from-file\nB='single quoted'\nC=\"two\\nlines\"\n".write(
            toFile: dir + "/.env", atomically: true, encoding: .utf8)
        let r = try rukoRun([
            "--env-file", dir + "/.env", "--env", "D=cli", "--env", "A=override", "--", "/bin/sh", "-c",
            "echo $A; echo $B; echo \"$C\"; echo $D; echo $HOME",
        ])
        #expect(r.stdout == "override\nsingle quoted\ntwo\nlines\ncli\n/\n", "\(r.stdout)")
        try "BROKEN LINE\n".write(toFile: dir + "/bad.env", atomically: true, encoding: .utf8)
        let bad = try rukoRun(["--env-file", dir + "/bad.env", "--", "true"])
        #expect(bad.status == 125)
        #expect(bad.stderr.contains("line 1"))
    }

    @Test func workdirOption() throws {
        #expect(try sandboxed("pwd", options: ["--workdir", "/tmp"]).stdout == "/tmp\n")
        let r = try sandboxed("pwd", options: ["--workdir", "/no/such/dir"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("chdir"))
    }

    @Test func missingControllerIsAnErrorUnlessAllowed() throws {
        // This host's cgroup v2 hierarchy has no memory controller (hybrid); a pure-v2 host has it.
        let controllers = (try? String(contentsOfFile: cgroupRoot + "/cgroup.controllers", encoding: .utf8)) ?? ""
        if controllers.contains("memory") { return }  // the VM suite covers limits on pure v2
        let r = try rukoRun(["--memory", "64M", "--", "true"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("memory controller"))
        #expect(r.stderr.contains("--allow-missing-controllers"))
        let ok = try rukoRun(["--memory", "64M", "--allow-missing-controllers", "--", "true"])
        #expect(ok.status == 0)
        #expect(ok.stderr.split(separator: "\n").count == 1)
        #expect(ok.stderr.contains("warning") && ok.stderr.contains("--memory"))
    }

    // MARK: cleanliness

    @Test func twoHundredRunsLeaveNothingBehind() throws {
        _ = try sandboxed("true")
        let before = currentLeftovers()
        for i in 0..<200 {
            let r = try sandboxed(i % 2 == 0 ? "true" : "sleep 0.001 & exit 3")
            #expect(r.status == (i % 2 == 0 ? 0 : 3))
        }
        let after = currentLeftovers()
        #expect(after.mountsAdded(since: before).isEmpty, "mounts leaked: \(after.mountsAdded(since: before))")
        #expect(after.rootfsEntries.isEmpty)
        // Other processes may be running sandboxes: only cgroups of exited runs count as leaks.
        let orphaned = after.cgroups.filter { name in
            guard let pid = Int32(name.split(separator: "-").first ?? "") else { return true }
            return kill(pid, 0) != 0 && errno == ESRCH
        }
        #expect(orphaned.isEmpty, "cgroups of finished runs left behind: \(orphaned)")
        #expect(processes(matching: "/run/ruko").isEmpty)
    }
}
