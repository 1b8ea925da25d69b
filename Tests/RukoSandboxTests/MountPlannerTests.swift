import RukoMount
import RukoSystem
import Testing

struct MountPlannerTests {
    func hostKernel() -> FakeKernel {
        let k = FakeKernel()
        k.addDirectory("/usr/bin")
        k.addDirectory("/etc")
        k.addSymlink("/bin", target: "usr/bin")
        k.addDirectory("/srv/app")
        for node in MountPlanner.deviceNodes { k.addFile("/dev/" + node) }
        return k
    }

    @Test func mergedUsrSymlinksAreRecreatedNotBound() throws {
        let steps = try MountPlanner(kernel: hostKernel()).plan(
            [.bind(source: "/bin", destination: "/bin", readOnly: true, optional: false)], root: "/r")
        #expect(steps == [.symlink(target: "usr/bin", path: "/r/bin")])
    }

    @Test func readOnlyBindsBecomeReadOnlyRecursivelyAfterAllMounts() throws {
        let steps = try MountPlanner(kernel: hostKernel()).plan(
            [
                .bind(source: "/usr", destination: "/usr", readOnly: true, optional: false),
                .tmpfs(destination: "/tmp", options: "mode=1777"),
                .bind(source: "/srv/app", destination: "/app", readOnly: false, optional: false),
            ], root: "/r")
        #expect(
            steps == [
                .bind(source: "/usr", target: "/r/usr", recursive: true, flags: 0, optional: false),
                .mount(
                    source: "tmpfs", target: "/r/tmp", fstype: "tmpfs", flags: MountFlags.noSuid | MountFlags.noDev,
                    data: "mode=1777"),
                .bind(source: "/srv/app", target: "/r/app", recursive: true, flags: 0, optional: false),
                .setAttributes(
                    target: "/r/usr", set: MountAttributes.readOnly | MountAttributes.noSuid | MountAttributes.noDev,
                    clear: 0,
                    recursive: true, optional: false),
                .setAttributes(
                    target: "/r/app", set: MountAttributes.noSuid | MountAttributes.noDev,
                    clear: MountAttributes.readOnly,
                    recursive: false, optional: false),
            ])
    }

    @Test func optionalMissingSourcesAreSkippedAndRequiredOnesAreErrors() throws {
        let planner = MountPlanner(kernel: hostKernel())
        #expect(
            try planner.plan(
                [.bind(source: "/lib64", destination: "/lib64", readOnly: true, optional: true)], root: "/r"
            ).isEmpty)
        #expect(throws: MountPlanError.self) {
            try planner.plan(
                [.bind(source: "/lib64", destination: "/lib64", readOnly: true, optional: false)], root: "/r")
        }
    }

    @Test func parentsAreCreatedForNestedDestinations() throws {
        let steps = try MountPlanner(kernel: hostKernel()).plan(
            [.tmpfs(destination: "/a/b/c", options: "mode=0755")], root: "/r")
        #expect(
            steps.prefix(2) == [.makeDirectory(path: "/r/a", mode: 0o755), .makeDirectory(path: "/r/a/b", mode: 0o755)])
    }

    @Test func aBindInsideAReadOnlyBindMustAlreadyExistOnTheHost() throws {
        let planner = MountPlanner(kernel: hostKernel())
        let base: [MountEntry] = [.bind(source: "/usr", destination: "/usr", readOnly: true, optional: false)]
        #expect(throws: MountPlanError.self) {
            try planner.plan(
                base + [.bind(source: "/srv/app", destination: "/usr/share/x", readOnly: false, optional: false)],
                root: "/r")
        }
        // /usr/bin exists in the host's /usr: allowed.
        _ = try planner.plan(
            base + [.bind(source: "/srv/app", destination: "/usr/bin", readOnly: false, optional: false)], root: "/r")
    }

    @Test(arguments: ["relative", "/a/../b", "/a//b", "/a/./b", "/"])
    func badDestinationsAreRefused(path: String) {
        #expect(throws: MountPlanError.self) {
            try MountPlanner(kernel: hostKernel()).plan([.tmpfs(destination: path, options: "")], root: "/r")
        }
    }

    @Test func devIsMinimalAndProcIsFresh() throws {
        let steps = try MountPlanner(kernel: hostKernel()).plan(
            [.proc(destination: "/proc"), .dev(destination: "/dev")], root: "/r")
        let binds = steps.compactMap { step -> String? in
            if case .bind(let s, _, _, _, _) = step { return s }
            return nil
        }
        #expect(binds == MountPlanner.deviceNodes.map { "/dev/" + $0 })
        #expect(
            steps.contains(
                .mount(
                    source: "devpts", target: "/r/dev/pts", fstype: "devpts",
                    flags: MountFlags.noSuid | MountFlags.noExec, data: "newinstance,ptmxmode=0666,mode=0620")))
        #expect(
            steps.first
                == .mount(
                    source: "proc", target: "/r/proc", fstype: "proc",
                    flags: MountFlags.noSuid | MountFlags.noDev | MountFlags.noExec, data: nil))
    }

    @Test func stepsDescribeThemselvesInContainerPaths() {
        let step = MountStep.bind(
            source: "/usr", target: "/run/ruko/rootfs/usr", recursive: true, flags: 0, optional: false)
        #expect(step.containerPath(root: "/run/ruko/rootfs") == "/usr")
        #expect(step.summary == "bind /usr on /run/ruko/rootfs/usr")
    }
}

struct FileEntryPlanTests {
    func hostKernel() -> FakeKernel {
        let k = FakeKernel()
        k.addDirectory("/etc")
        k.addFile("/etc/passwd", "root:x:0:0::/:/bin/sh\n")
        k.addDirectory("/srv/app")
        return k
    }

    @Test func aFileIsWrittenInTheRootBoundOverItsPathAndMadeReadOnlyLast() throws {
        let steps = try MountPlanner(kernel: hostKernel()).plan(
            [
                .bind(source: "/etc", destination: "/etc", readOnly: true, optional: false),
                .file(path: "/etc/passwd", contents: "x\n", mode: 0o644),
            ], root: "/r")
        #expect(
            steps == [
                .bind(source: "/etc", target: "/r/etc", recursive: true, flags: 0, optional: false),
                .makeDirectory(path: "/r/etc", mode: 0o755),
                .writeFile(staging: "/r/.ruko-file-1", target: "/r/etc/passwd", contents: "x\n", mode: 0o644),
                // The recursive read-only pass over /etc covers the file's mount too.
                .setAttributes(
                    target: "/r/etc", set: MountAttributes.readOnly | MountAttributes.noSuid | MountAttributes.noDev,
                    clear: 0, recursive: true, optional: false),
            ])
        // Outside a read-only bind the file's mount gets its own attributes.
        let alone = try MountPlanner(kernel: hostKernel()).plan(
            [.file(path: "/etc/hosts", contents: "", mode: 0o644)], root: "/r")
        #expect(
            alone == [
                .makeDirectory(path: "/r/etc", mode: 0o755),
                .writeFile(staging: "/r/.ruko-file-0", target: "/r/etc/hosts", contents: "", mode: 0o644),
                .setAttributes(
                    target: "/r/etc/hosts",
                    set: MountAttributes.readOnly | MountAttributes.noSuid | MountAttributes.noDev
                        | MountAttributes.noExec, clear: 0, recursive: false, optional: false),
            ])
    }

    @Test func aFileNeverCreatesAMountPointOnTheHost() throws {
        let planner = MountPlanner(kernel: hostKernel())
        // Neither inside a read-only bind nor inside a writable one.
        for entries: [MountEntry] in [
            [.bind(source: "/etc", destination: "/etc", readOnly: true, optional: false)],
            [.bind(source: "/srv/app", destination: "/app", readOnly: false, optional: false)],
        ] {
            let path = entries.count == 1 && "\(entries)".contains("/srv/app") ? "/app/new" : "/etc/new"
            #expect(throws: MountPlanError.self) {
                try planner.plan(entries + [.file(path: path, contents: "", mode: 0o644)], root: "/r")
            }
        }
        #expect(throws: MountPlanError.self) {
            try planner.plan([.file(path: "/etc/x", contents: "a\0b", mode: 0o644)], root: "/r")
        }
        #expect(throws: MountPlanError.self) {
            try planner.plan([.file(path: "etc/x", contents: "", mode: 0o644)], root: "/r")
        }
    }
}
