import RukoSandbox
import RukoSeccomp
import Testing

#if canImport(Glibc)
    import Glibc
#endif

struct SeccompTests {
    @Test func theDefaultProfileRefusesTheContractList() {
        let profile = SeccompProfile.defaultProfile(tiocsti: 0x5412, tioclinux: 0x541C)
        let unconditional = Set(profile.rules.filter { $0.conditions.isEmpty && $0.errno == EPERM }.map(\.syscall))
        for name in [
            "mount", "umount2", "unshare", "setns", "bpf", "perf_event_open", "fsopen", "fsmount", "move_mount",
            "open_tree", "keyctl", "add_key", "request_key", "userfaultfd", "kexec_load", "kexec_file_load",
            "io_uring_setup", "io_uring_enter", "io_uring_register", "init_module", "finit_module", "delete_module",
            "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "ptrace", "process_vm_readv",
            "process_vm_writev",
        ] {
            #expect(unconditional.contains(name), "\(name) is not refused")
        }
        #expect(profile.rules.contains(SeccompRule("clone3", errno: ENOSYS)))
        #expect(profile.rules.contains(SeccompRule("ioctl", when: [.masked(1, mask: 0xffff_ffff, equals: 0x5412)])))
        let cloneRules = profile.rules.filter { $0.syscall == "clone" }
        #expect(cloneRules.count == SeccompProfile.namespaceCloneFlags.count)
        #expect(profile.rules.contains(SeccompRule("socket", errno: EAFNOSUPPORT, when: [.equals(0, 38)])))
    }

    @Test func compilesToBPF() throws {
        let program = try SeccompCompiler.defaultProgram.get()
        #expect(program.bytes.count % 8 == 0)
        #expect(program.instructionCount > 60)
        #expect(
            program.unknownSyscalls.allSatisfy {
                ["create_module", "get_kernel_syms", "query_module", "uselib", "nfsservctl", "stime", "quotactl_fd"]
                    .contains($0)
            })
    }

    @Test func unknownSyscallsAreReportedNotFatal() throws {
        let program = try SeccompCompiler.compile(
            SeccompProfile(rules: [SeccompRule("no_such_syscall_x"), SeccompRule("mount")]))
        #expect(program.unknownSyscalls == ["no_such_syscall_x"])
    }
}

struct ParsingTests {
    @Test(
        arguments: [
            ("512", 512), ("64k", 65536), ("64M", 67_108_864), ("1.5G", 1_610_612_736), ("2gib", 2_147_483_648),
            ("500MB", 524_288_000),
        ] as [(String, UInt64)])
    func sizes(text: String, bytes: UInt64) { #expect(ValueParser.size(text) == bytes) }

    @Test(arguments: ["", "lots", "-1M", "12Q", "1e400"])
    func badSizes(text: String) { #expect(ValueParser.size(text) == nil) }

    @Test func durations() {
        #expect(ValueParser.duration("90") == .seconds(90))
        #expect(ValueParser.duration("500ms") == .milliseconds(500))
        #expect(ValueParser.duration("15m") == .seconds(900))
        #expect(ValueParser.duration("1m30s") == .seconds(90))
        #expect(ValueParser.duration("2h") == .seconds(7200))
        #expect(ValueParser.duration("soon") == nil)
        #expect(ValueParser.duration("5x") == nil)
        #expect(ValueParser.duration("") == nil)
    }

    @Test func envFiles() throws {
        let vars = try ValueParser.envFile(
            "# c\nA=1\nexport B=two words # comment\nC='it''s'\nD=\"x\\ny\"\n\nE=\n", name: "f")
        #expect(vars.map(\.0) == ["A", "B", "C", "D", "E"])
        #expect(vars.map(\.1) == ["1", "two words", "it''s", "x\ny", ""])
        #expect(throws: EnvFileError.self) { try ValueParser.envFile("1BAD=x", name: "f") }
        #expect(throws: EnvFileError.self) { try ValueParser.envFile("A='open", name: "f") }
        #expect(throws: EnvFileError.self) { try ValueParser.envFile("just words", name: "f") }
    }

    @Test func bindAndUserSpecs() throws {
        #expect(try BindMount.parse("/a:/b") == BindMount(source: "/a", destination: "/b", readOnly: true))
        #expect(try BindMount.parse("/a:/b:rw") == BindMount(source: "/a", destination: "/b", readOnly: false))
        #expect(throws: SandboxError.self) { try BindMount.parse("/a:b") }
        #expect(throws: SandboxError.self) { try BindMount.parse("/a:/b:xx") }
        #expect(try SandboxUser.parse("1000") == SandboxUser(uid: 1000, gid: 1000))
        #expect(try SandboxUser.parse("1000:50") == SandboxUser(uid: 1000, gid: 50))
        #expect(throws: SandboxError.self) { try SandboxUser.parse("root") }
    }
}
