import RukoMount
import RukoSystem
import Testing

@testable import RukoSandbox

struct UserAccountTests {
    let hostPasswd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    let hostGroup = "root:x:0:\ndaemon:x:1:\n"

    func host(passwd: String? = nil, group: String? = nil) -> FakeKernel {
        let k = FakeKernel()
        k.addDirectory("/etc")
        k.addFile("/etc/passwd", passwd ?? hostPasswd)
        k.addFile("/etc/group", group ?? hostGroup)
        return k
    }

    let etc: [MountEntry] = [.bind(source: "/etc", destination: "/etc", readOnly: true, optional: false)]

    @Test func theRunUserGetsALineInCopiesOfTheHostFiles() throws {
        let files = try UserAccount(name: "ruko").fileEntries(
            for: .default, defaultHome: "/app", in: etc, kernel: host())
        #expect(
            files == [
                .file(
                    path: "/etc/passwd", contents: hostPasswd + "ruko:x:10001:10001:ruko:/app:/bin/sh\n", mode: 0o644),
                .file(path: "/etc/group", contents: hostGroup + "ruko:x:10001:\n", mode: 0o644),
            ])
    }

    @Test func idsTheHostAlreadyListsNeedNoLine() throws {
        let root = try UserAccount(name: "ruko").fileEntries(
            for: SandboxUser(uid: 0, gid: 0), defaultHome: "/", in: etc, kernel: host())
        #expect(root.isEmpty)
        // uid 1 is listed, gid 4242 is not.
        let mixed = try UserAccount(name: "ruko").fileEntries(
            for: SandboxUser(uid: 1, gid: 4242), defaultHome: "/", in: etc, kernel: host())
        #expect(mixed == [.file(path: "/etc/group", contents: hostGroup + "ruko:x:4242:\n", mode: 0o644)])
    }

    @Test func aNameTheHostUsesForAnotherIdGetsTheIdAppended() throws {
        let passwd = hostPasswd + "ruko:x:500:500::/home/ruko:/bin/sh"  // no final newline
        let files = try UserAccount(name: "ruko", home: "/home/app", shell: "/bin/bash").fileEntries(
            for: .default, defaultHome: "/ignored", in: etc, kernel: host(passwd: passwd))
        #expect(
            files.first
                == .file(
                    path: "/etc/passwd",
                    contents: passwd + "\nruko-10001:x:10001:10001:ruko-10001:/home/app:/bin/bash\n", mode: 0o644))
    }

    @Test func aHomeThatWouldBreakTheLineBecomesRoot() throws {
        let files = try UserAccount(name: "ruko").fileEntries(
            for: .default, defaultHome: "/a:b", in: etc, kernel: host())
        #expect(
            files.first
                == .file(path: "/etc/passwd", contents: hostPasswd + "ruko:x:10001:10001:ruko:/:/bin/sh\n", mode: 0o644)
        )
    }

    @Test func withoutABindTheFilesStartEmptyAndASymlinkedHostFileIsLeftAlone() throws {
        let none = try UserAccount(name: "ruko").fileEntries(for: .default, defaultHome: "/", in: [], kernel: host())
        #expect(
            none == [
                .file(path: "/etc/passwd", contents: "ruko:x:10001:10001:ruko:/:/bin/sh\n", mode: 0o644),
                .file(path: "/etc/group", contents: "ruko:x:10001:\n", mode: 0o644),
            ])
        let k = FakeKernel()
        k.addDirectory("/etc")
        k.addSymlink("/etc/passwd", target: "/usr/share/passwd")
        k.addSymlink("/etc/group", target: "/usr/share/group")
        #expect(try UserAccount(name: "ruko").fileEntries(for: .default, defaultHome: "/", in: etc, kernel: k).isEmpty)
    }

    @Test func theLastEntryCoveringThePathDecides() throws {
        let k = host()
        k.addDirectory("/srv/etc")
        k.addFile("/srv/etc/passwd", "app:x:10001:10001::/:/bin/sh\n")
        let entries =
            etc + [.bind(source: "/srv/etc/passwd", destination: "/etc/passwd", readOnly: true, optional: false)]
        let files = try UserAccount(name: "ruko").fileEntries(for: .default, defaultHome: "/", in: entries, kernel: k)
        #expect(files.map(\.path) == ["/etc/group"])
        let tmpfs = etc + [.tmpfs(destination: "/etc", options: "mode=0755")]
        let fresh = try UserAccount(name: "ruko").fileEntries(for: .default, defaultHome: "/", in: tmpfs, kernel: k)
        #expect(fresh.first == .file(path: "/etc/passwd", contents: "ruko:x:10001:10001:ruko:/:/bin/sh\n", mode: 0o644))
    }

    @Test func templatesDeclareTheUser() throws {
        let t = try RootfsTemplate.parse("ro-bind /etc\nuser app /srv /bin/bash\n", name: "t")
        #expect(t.account == UserAccount(name: "app", home: "/srv", shell: "/bin/bash"))
        #expect(try RootfsTemplate.parse("ro-bind /etc\nuser ruko\n", name: "t").account == UserAccount(name: "ruko"))
        for bad in ["user Root", "user 1x", "user", "user a /h /s extra", "user a relative", "user a /h:x"] {
            #expect(throws: TemplateError.self, "\(bad)") {
                try RootfsTemplate.parse("ro-bind /etc\n" + bad, name: "t")
            }
        }
    }
}

extension MountEntry {
    fileprivate var path: String? {
        if case .file(let path, _, _) = self { return path }
        return nil
    }
}
