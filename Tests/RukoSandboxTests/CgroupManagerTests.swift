import RukoCgroup
import RukoSystem
import Testing

#if canImport(Glibc)
    import Glibc
#endif

struct CgroupManagerTests {
    /// A pure cgroup v2 host with memory, pids and cpu available at the root.
    func pureV2(controllers: String = "cpu memory pids") -> FakeKernel {
        let k = FakeKernel()
        k.addDirectory("/sys/fs/cgroup")
        k.setMagic("/sys/fs/cgroup", FilesystemMagic.cgroup2)
        k.addFile("/sys/fs/cgroup/cgroup.controllers", controllers)
        k.addFile("/sys/fs/cgroup/cgroup.subtree_control", "")
        // mkdir in cgroupfs creates the interface files.
        return k
    }

    func materialise(_ k: FakeKernel, _ path: String, controllers: String) {
        k.addFile(path + "/cgroup.controllers", controllers)
        k.addFile(path + "/cgroup.subtree_control", "")
        k.addFile(path + "/cgroup.events", "populated 0\nfrozen 0\n")
        k.addFile(path + "/cgroup.kill", "")
        for f in ["memory.max", "memory.swap.max", "pids.max", "cpu.max", "memory.events"] {
            k.addFile(path + "/" + f, "")
        }
    }

    @Test func discoversPureV2AndHybridAndNothing() throws {
        let pure = pureV2()
        #expect(try CgroupManager(kernel: pure).discoverRoot().path == "/sys/fs/cgroup/ruko")
        let hybrid = FakeKernel()
        hybrid.addDirectory("/sys/fs/cgroup/unified")
        hybrid.setMagic("/sys/fs/cgroup", FilesystemMagic.tmpfs)
        hybrid.setMagic("/sys/fs/cgroup/unified", FilesystemMagic.cgroup2)
        let root = try CgroupManager(kernel: hybrid).discoverRoot()
        #expect(root.path == "/sys/fs/cgroup/unified/ruko")
        #expect(root.mountPoint == "/sys/fs/cgroup/unified")
        #expect(hybrid.calls == ["mkdir /sys/fs/cgroup/unified/ruko"])
        let none = FakeKernel()
        #expect {
            try CgroupManager(kernel: none).discoverRoot()
        } throws: { error in
            "\(error)".contains("--cgroup-root")
        }
    }

    @Test func enablesControllersDownTheChainAndWritesLimits() throws {
        let k = pureV2()
        materialise(k, "/sys/fs/cgroup/ruko", controllers: "")
        k.onWrite { path, value in
            // Enabling in the parent makes the controller available in the child.
            if path == "/sys/fs/cgroup/cgroup.subtree_control" {
                let c = k.contents(of: "/sys/fs/cgroup/ruko/cgroup.controllers") ?? ""
                k.addFile("/sys/fs/cgroup/ruko/cgroup.controllers", c + " " + value.dropFirst())
            }
        }
        let manager = CgroupManager(kernel: k)
        let root = try manager.discoverRoot()
        materialise(k, "/sys/fs/cgroup/ruko/1-0", controllers: "cpu memory pids")
        let run = try manager.create(
            in: root, name: "1-0", limits: CgroupLimits(memoryBytes: 64 << 20, pids: 32, cpus: 0.5),
            allowMissingControllers: false)
        #expect(run.warnings.isEmpty)
        #expect(run.hasMemoryController)
        #expect(k.calls.contains("write /sys/fs/cgroup/cgroup.subtree_control +memory"))
        #expect(k.calls.contains("write /sys/fs/cgroup/ruko/cgroup.subtree_control +memory"))
        #expect(k.contents(of: "/sys/fs/cgroup/ruko/1-0/memory.max") == "67108864")
        #expect(k.contents(of: "/sys/fs/cgroup/ruko/1-0/memory.swap.max") == "0")
        #expect(k.contents(of: "/sys/fs/cgroup/ruko/1-0/pids.max") == "32")
        #expect(k.contents(of: "/sys/fs/cgroup/ruko/1-0/cpu.max") == "50000 100000")
    }

    @Test func aMissingControllerNamesItselfAndTheFix() throws {
        let k = pureV2(controllers: "cpu memory")
        materialise(k, "/sys/fs/cgroup/ruko", controllers: "")
        let manager = CgroupManager(kernel: k)
        let root = try manager.discoverRoot()
        #expect {
            try manager.create(in: root, name: "1-0", limits: CgroupLimits(pids: 10), allowMissingControllers: false)
        } throws: { error in
            let text = "\(error)"
            return text.contains("pids controller") && text.contains("--pids")
                && text.contains("--allow-missing-controllers")
        }
        #expect(!k.directoryExists("/sys/fs/cgroup/ruko/1-0"))
        materialise(k, "/sys/fs/cgroup/ruko/1-1", controllers: "")
        let run = try manager.create(
            in: root, name: "1-1", limits: CgroupLimits(pids: 10), allowMissingControllers: true)
        #expect(run.warnings.count == 1)
        #expect(run.warnings[0].contains("--pids is not enforced"))
        #expect(k.contents(of: "/sys/fs/cgroup/ruko/1-1/pids.max") == "")
    }

    @Test func oomKillsAreReadFromMemoryEvents() throws {
        let k = pureV2()
        materialise(k, "/sys/fs/cgroup/ruko/1-0", controllers: "memory")
        k.addFile(
            "/sys/fs/cgroup/ruko/1-0/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n")
        let run = RunCgroup(path: "/sys/fs/cgroup/ruko/1-0", warnings: [], hasMemoryController: true)
        #expect(CgroupManager(kernel: k).oomKills(run) == 1)
    }

    @Test func destroyKillsAPopulatedCgroupThenRemovesIt() throws {
        let k = pureV2()
        materialise(k, "/sys/fs/cgroup/ruko/1-0", controllers: "")
        k.addFile("/sys/fs/cgroup/ruko/1-0/cgroup.events", "populated 1\n")
        try CgroupManager(kernel: k).destroy("/sys/fs/cgroup/ruko/1-0")
        #expect(k.calls == ["write /sys/fs/cgroup/ruko/1-0/cgroup.kill 1", "rmdir /sys/fs/cgroup/ruko/1-0"])
    }

    @Test func withoutCgroupKillItFreezesKillsAndThaws() throws {
        let k = pureV2()
        k.addFile("/sys/fs/cgroup/ruko/1-0/cgroup.freeze", "0")
        // pids beyond pid_max: the SIGKILLs go nowhere.
        k.addFile("/sys/fs/cgroup/ruko/1-0/cgroup.procs", "2147483600\n2147483601\n")
        CgroupManager(kernel: k).killAll("/sys/fs/cgroup/ruko/1-0")
        #expect(
            k.calls == [
                "write /sys/fs/cgroup/ruko/1-0/cgroup.freeze 1", "write /sys/fs/cgroup/ruko/1-0/cgroup.freeze 0",
            ])
    }

    @Test func staleCgroupsOfDeadRunsAreSwept() throws {
        let k = pureV2()
        let manager = CgroupManager(kernel: k)
        let root = try manager.discoverRoot()
        materialise(k, "/sys/fs/cgroup/ruko/100-0", controllers: "")
        materialise(k, "/sys/fs/cgroup/ruko/200-3", controllers: "")
        k.addProcess(200)
        manager.sweepStale(in: root)
        #expect(!k.directoryExists("/sys/fs/cgroup/ruko/100-0"))
        #expect(k.directoryExists("/sys/fs/cgroup/ruko/200-3"))
    }
}
