import Foundation
import Testing

@testable import RukoAPI

@Suite struct NameTests {
    @Test(arguments: ["a", "myapp", "my-app-2", "x" + String(repeating: "y", count: 29)])
    func validAppNames(_ name: String) throws {
        try Names.validateApp(name)
    }

    @Test(arguments: [
        "", "1app", "-app", "app-", "My", "my_app", "my.app", "a b", "ä", String(repeating: "a", count: 31), "../x",
    ])
    func invalidAppNames(_ name: String) {
        #expect(throws: RukoAPIError.self) { try Names.validateApp(name) }
    }

    @Test func userNames() throws {
        try Names.validateUser("alice")
        try Names.validateUser("deploy_bot-2")
        for bad in ["", "Alice", "1bob", "bob smith", "bob;rm", String(repeating: "a", count: 33)] {
            #expect(throws: RukoAPIError.self, "\(bad)") { try Names.validateUser(bad) }
        }
    }

    @Test func configKeys() throws {
        try Names.validateConfigKey("DATABASE_URL")
        try Names.validateConfigKey("_x1")
        for bad in ["", "1A", "A-B", "A B", "A=B", "É"] {
            #expect(throws: RukoAPIError.self, "\(bad)") { try Names.validateConfigKey(bad) }
        }
    }

    @Test func versions() throws {
        #expect(try Names.parseVersion("v7") == 7)
        #expect(try Names.parseVersion("12") == 12)
        for bad in ["v", "v0", "v-1", "vv1", "x1", "v1.0", "v99999999999"] {
            #expect(throws: RukoAPIError.self, "\(bad)") { try Names.parseVersion(bad) }
        }
    }

    @Test func storageKeys() {
        #expect(Names.isValidStorageKey("apps/x/repo.tgz"))
        #expect(Names.isValidStorageKey("apps/x/slugs/s-0011.tgz"))
        for bad in ["", "/a", "a/", "a//b", "../a", "a/../b", "a/.hidden", ".x", "a b", "a%2f", "a?b"] {
            #expect(!Names.isValidStorageKey(bad), "\(bad)")
        }
    }

    @Test func errorMessagesNameTheProblem() {
        #expect(
            throws: RukoAPIError.invalidName(
                kind: "app name", value: "Bad",
                rule: "app names are 1-30 characters of a-z, 0-9 and '-', start with a letter and do not end with '-'")
        ) { try Names.validateApp("Bad") }
    }
}

@Suite struct SSHKeyTests {
    @Test(arguments: [
        (Fixture.ed25519, Fixture.ed25519Fingerprint, "ssh-ed25519", "alice@x"),
        (Fixture.rsa, Fixture.rsaFingerprint, "ssh-rsa", "bob"),
        (Fixture.ecdsa, Fixture.ecdsaFingerprint, "ecdsa-sha2-nistp256", "carol"),
    ])
    func fingerprintsMatchSSHKeygen(line: String, fingerprint: String, type: String, comment: String) throws {
        let key = try SSHPublicKey(line: line)
        #expect(key.fingerprint == fingerprint)
        #expect(key.type == type)
        #expect(key.comment == comment)
        #expect(key.line == line)
    }

    @Test func fileWithCommentsAndTrailingNewline() throws {
        let key = try SSHPublicKey(fileContents: "# my laptop\n\n" + Fixture.ed25519 + "\n")
        #expect(key.fingerprint == Fixture.ed25519Fingerprint)
    }

    @Test func rejectsBadKeys() {
        let blob = Fixture.ed25519.split(separator: " ")[1]
        let cases = [
            "",
            "ssh-ed25519",
            "ssh-foo \(blob)",
            "ssh-ed25519 not-base64!!",
            "ssh-rsa \(blob)",  // the blob says ssh-ed25519
            "ssh-ed25519 AAAA",
            Fixture.ed25519 + "\n" + Fixture.rsa,
        ]
        for text in cases {
            #expect(throws: RukoAPIError.self, "\(text)") { try SSHPublicKey(fileContents: text) }
        }
    }

    @Test func mismatchMessage() {
        let blob = String(Fixture.ed25519.split(separator: " ")[1])
        #expect(throws: RukoAPIError.invalidKey("the line says 'ssh-rsa' but the key data is a 'ssh-ed25519' key")) {
            try SSHPublicKey(type: "ssh-rsa", base64: blob)
        }
    }
}

@Suite struct DotEnvTests {
    @Test func formatQuotesForForeman() throws {
        let text = try DotEnv.format(["B": "it's", "A": "plain value", "C": "line1\nline2 \"q\" \\x", "D": ""])
        #expect(
            text == """
                A='plain value'
                B="it's"
                C="line1\\nline2 \\"q\\" \\\\x"
                D=''

                """)
    }

    @Test(arguments: [
        "simple", "", "with space", "quote'single", "double\"quote", "new\nline", "back\\slash", "$HOME #x",
        "trailing \\", "a=b=c", "tab\there", "unicode ✓", "\\n literal", "'", "\"", "\"both'\"",
    ])
    func roundTrips(_ value: String) throws {
        let vars = ["KEY": value, "OTHER": "x"]
        #expect(DotEnv.parse(try DotEnv.format(vars)) == vars)
    }

    @Test func refusesWhatForemanCannotRead() {
        #expect(throws: RukoAPIError.self) { try DotEnv.format(["K": "a\nb\\nc"]) }
        #expect(throws: RukoAPIError.self) { try DotEnv.format(["K": "it's \\n"]) }
        #expect(throws: RukoAPIError.self) { try DotEnv.format(["K": "cr\r\n"]) }
    }
}
