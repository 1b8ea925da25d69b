import Testing

@testable import RukoBuild

@Suite("Procfile")
struct ProcfileTests {
    @Test func parsesTypesCommentsAndBlankLines() throws {
        let text = """
            # processes
            web: bundle exec puma -p $PORT

            worker:python worker.py
              release: ./bin/migrate
            """
        let procfile = try Procfile(parsing: text)
        #expect(procfile.entries.map(\.type) == ["web", "worker", "release"])
        #expect(procfile.processTypes["web"] == "bundle exec puma -p $PORT")
        #expect(procfile.processTypes["worker"] == "python worker.py")
        #expect(procfile.entries[2].line == 5)
    }

    @Test func keepsColonsAndHashesInCommands() throws {
        let procfile = try Procfile(parsing: "web: node -e 'console.log(\"a:b # c\")' # not a comment\n")
        #expect(procfile.processTypes["web"] == "node -e 'console.log(\"a:b # c\")' # not a comment")
    }

    @Test func acceptsCRLF() throws {
        let procfile = try Procfile(parsing: "web: run\r\nworker: work\r\n")
        #expect(procfile.processTypes == ["web": "run", "worker": "work"])
    }

    static let errors: [(String, String)] = [
        ("web: a\nweb: b\n", "line 2: duplicate process type `web` (first declared on line 1)"),
        ("web a\n", "line 1: expected `<type>: <command>`"),
        ("we b: x\n", "line 1: invalid process type `we b`"),
        ("web.1: x\n", "invalid process type `web.1`"),
        (String(repeating: "a", count: 64) + ": x\n", "invalid process type"),
        ("web:   \n", "line 1: process type `web` has no command"),
        ("", "declares no process types"),
        ("# only a comment\n\n", "declares no process types"),
    ]

    @Test("errors name the line", arguments: errors)
    func errorsNameTheLine(_ text: String, _ expected: String) {
        #expect {
            _ = try Procfile(parsing: text)
        } throws: { error in
            guard let error = error as? BuildError else { return false }
            return error.kind == .procfile && error.description.contains(expected)
        }
    }

    @Test func typeOf63CharactersIsAccepted() throws {
        let type = String(repeating: "w", count: 63)
        #expect(try Procfile(parsing: "\(type): x").processTypes[type] == "x")
    }
}
