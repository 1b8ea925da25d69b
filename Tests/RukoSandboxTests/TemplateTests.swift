import Foundation
import RukoMount
import Testing

@testable import RukoSandbox

struct TemplateTests {
    @Test func parsesEveryDirective() throws {
        let text = """
            # comment
            ro-bind /usr
            ro-bind? /lib64          # optional
            bind /srv/data /data
            tmpfs /tmp size=64m,mode=1777
            proc /proc
            dev /dev
            mask /proc/kcore /proc/keys
            read-only /proc/sys
            dir /app 0750
            symlink usr/bin /bin
            app /app
            hostname box-1
            env PATH=/usr/bin:/bin
            """
        let t = try RootfsTemplate.parse(text, name: "t")
        #expect(
            t.entries == [
                .bind(source: "/usr", destination: "/usr", readOnly: true, optional: false),
                .bind(source: "/lib64", destination: "/lib64", readOnly: true, optional: true),
                .bind(source: "/srv/data", destination: "/data", readOnly: false, optional: false),
                .tmpfs(destination: "/tmp", options: "size=64m,mode=1777"),
                .proc(destination: "/proc"),
                .dev(destination: "/dev"),
                .mask(path: "/proc/kcore"),
                .mask(path: "/proc/keys"),
                .readOnly(path: "/proc/sys"),
                .directory(path: "/app", mode: 0o750),
                .symlink(target: "usr/bin", path: "/bin"),
            ])
        #expect(t.hostname == "box-1")
        #expect(t.environment == ["PATH": "/usr/bin:/bin"])
        #expect(t.appDestination == "/app")
    }

    @Test(arguments: [
        ("frobnicate /x", "line 1: unknown directive 'frobnicate'"),
        ("ro-bind", "line 1: 'ro-bind' takes 1 to 2 argument(s), got 0"),
        ("ro-bind usr", "line 1: 'usr' must be an absolute path"),
        ("ro-bind /usr/../etc", "must be an absolute path without '..'"),
        ("tmpfs /tmp size=1g;rm", "tmpfs options"),
        ("dir /x 99", "bad mode '99'"),
        ("hostname a;b", "bad hostname"),
        ("env NOEQUALS", "env takes KEY=VALUE"),
        ("# only a comment", "declares nothing"),
        ("proc /proc\nproc", "line 2:"),
    ])
    func rejectsMalformedTemplates(text: String, message: String) {
        #expect {
            try RootfsTemplate.parse(text, name: "bad")
        } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("rootfs template bad")
        }
    }

    @Test("an endless or oversized template file, a FIFO or a directory is refused, never read unbounded")
    func refusesUnboundedTemplateFiles() throws {
        let error = #expect(throws: TemplateError.self) { try RootfsTemplate.load("/dev/zero") }
        #expect(error?.message.contains("not a regular file") == true, "\(String(describing: error))")
        #expect(throws: TemplateError.self) { try RootfsTemplate.load("/tmp") }
        let directory = NSTemporaryDirectory() + "ruko-template-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let big = directory + "/big"
        try Data(String(repeating: "# padding\n", count: 200_000).utf8).write(to: URL(fileURLWithPath: big))
        let tooLarge = #expect(throws: TemplateError.self) { try RootfsTemplate.load(big) }
        #expect(tooLarge?.message.contains("larger than 1048576 bytes") == true, "\(String(describing: tooLarge))")
        #expect(mkfifo(directory + "/fifo", 0o644) == 0)
        #expect(throws: TemplateError.self) { try RootfsTemplate.load(directory + "/fifo") }
    }

    @Test func bundledTemplatesParse() throws {
        for name in ["default", "minimal"] {
            let t = try RootfsTemplate.load(name, searchDirectories: [repoRoot + "/rootfs-templates"])
            #expect(!t.entries.isEmpty)
        }
        #expect(throws: TemplateError.self) { try RootfsTemplate.load("../etc/passwd-ish", searchDirectories: []) }
        #expect(throws: TemplateError.self) { try RootfsTemplate.load("missing", searchDirectories: ["/nonexistent"]) }
    }
}

let repoRoot: String = {
    var parts = #filePath.split(separator: "/").dropLast(3)
    if parts.isEmpty { parts = [] }
    return "/" + parts.joined(separator: "/")
}()
