import Testing

@testable import RukoShim

@Suite("SSH_ORIGINAL_COMMAND parser")
struct SSHCommandTests {
    @Test(
        "accepted commands",
        arguments: [
            ("git-receive-pack 'app.git'", GitService.receivePack, "app"),
            ("git-upload-pack 'app.git'", .uploadPack, "app"),
            ("git receive-pack 'app.git'", .receivePack, "app"),
            ("git upload-pack 'app.git'", .uploadPack, "app"),
            ("git-receive-pack '/app.git'", .receivePack, "app"),
            ("git-receive-pack 'my-app-2'", .receivePack, "my-app-2"),
            ("git-upload-pack '/a'", .uploadPack, "a"),
            (
                "git-receive-pack '\(String(repeating: "a", count: 63)).git'", .receivePack,
                String(repeating: "a", count: 63)
            ),
        ])
    func accepted(input: String, service: GitService, app: String) throws {
        let command = try SSHCommand.parse(input)
        #expect(command == SSHCommand(service: service, app: app))
        #expect(command.access == (service == .receivePack ? .write : .read))
        #expect(try SSHCommand.parse(command.canonical) == command)
    }

    @Test(
        "refused commands",
        arguments: [
            "",
            "git-receive-pack 'a.git'; rm -rf /",
            "git-receive-pack 'a.git' ; rm -rf /",
            "git-receive-pack '../x.git'",
            "git-receive-pack '/../x.git'",
            "git-receive-pack 'a/b.git'",
            "git-receive-pack '//a.git'",
            "git-receive-pack 'a.git",
            "git-receive-pack a.git",
            "git-receive-pack \"a.git\"",
            "git-receive-pack 'a.git' 'b.git'",
            "git-receive-pack ''",
            "git-receive-pack '.git'",
            "git-receive-pack 'A.git'",
            "git-receive-pack '1app.git'",
            "git-receive-pack '-app.git'",
            "git-receive-pack 'a b.git'",
            "git-receive-pack 'a$(id).git'",
            "git-receive-pack 'a`id`.git'",
            "git-receive-pack 'a'\\''b.git'",
            "git-receive-pack 'a.git'\nrm -rf /",
            "git-receive-pack\t'a.git'",
            "git-receive-pack  'a.git'",
            " git-receive-pack 'a.git'",
            "git-receive-pack 'a.git' ",
            "git-receive-pack 'app.git.git'",
            "git-receive-pack 'ä.git'",
            "git-upload-archive 'a.git'",
            "git upload-archive 'a.git'",
            "git-shell",
            "sh",
            "scp -t /etc",
            "rm -rf /",
            "internal-sftp",
            "git-receive-pack",
            "git-receive-pack 'a\u{0}.git'",
            "git-receive-pack '\(String(repeating: "a", count: 64)).git'",
            "git  receive-pack 'a.git'",
            "git-receive-pack 'a.git'|cat",
            "git-receive-pack 'a.git'&&id",
        ])
    func refused(input: String) {
        #expect(throws: ShimError.self) { try SSHCommand.parse(input) }
    }

    @Test("an oversized command (1 MB) is refused as too long, before any parsing")
    func oversized() {
        let huge = "git-receive-pack '" + String(repeating: "a", count: 1_000_000) + ".git'"
        #expect(throws: ShimError("command too long", code: .badCommand)) { try SSHCommand.parse(huge) }
    }

    @Test("no command (an interactive login or a pty request) is refused with advice")
    func interactive() {
        #expect(
            throws: ShimError("interactive sessions are not available; use git push / git clone", code: .badCommand)
        ) {
            try SSHCommand.parse(nil)
        }
    }

    @Test("refusals are reported as bad commands")
    func refusalCode() {
        do {
            _ = try SSHCommand.parse("git-receive-pack '../x.git'")
            Issue.record("accepted a path traversal")
        } catch {
            #expect(error.code == .badCommand)
            #expect(error.userLine.hasPrefix(" !  "))
        }
    }

    @Test(
        "user ids",
        arguments: [
            ("alice", true), ("a.b@example.com", true), ("u-1_x+y", true), ("", false),
            ("-a", false), ("a b", false), ("a\"b", false), ("a,b", false), ("a;b", false),
            (String(repeating: "u", count: 65), false),
        ])
    func userIDs(user: String, valid: Bool) {
        #expect(SSHCommand.isValidUserID(user) == valid)
    }
}
