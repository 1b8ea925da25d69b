import Foundation
import Testing

@testable import RukoBuild

@Suite("Config vars")
struct ConfigVarsTests {
    @Test func assignments() throws {
        #expect(try ConfigVars.parseAssignment("A=b=c") == ("A", "b=c"))
        #expect(try ConfigVars.parseAssignment("EMPTY=") == ("EMPTY", ""))
        #expect(throws: BuildError.self) { try ConfigVars.parseAssignment("novalue") }
        #expect(throws: BuildError.self) { try ConfigVars.parseAssignment("1BAD=x") }
        #expect(throws: BuildError.self) { try ConfigVars.parseAssignment("A/B=x") }
    }

    @Test func envFile() throws {
        let text = """
            # comment
            export A=1
            B = two words
            C="quoted \\"x\\"\\nline"
            D='single $HOME'

            """
        let vars = try ConfigVars.parseEnvFile(text, name: "app.env")
        #expect(vars == ["A": "1", "B": "two words", "C": "quoted \"x\"\nline", "D": "single $HOME"])
        #expect(throws: BuildError.self) { try ConfigVars.parseEnvFile("oops\n", name: "x") }
    }

    @Test func envDirectoryRoundTripWithoutTrailingNewline() throws {
        let directory = try TestDirectory()
        let env = directory.path + "/env"
        try FileManager.default.createDirectory(atPath: env, withIntermediateDirectories: true)
        try ConfigVars.writeEnvDirectory(["A": "x", "MULTI": "l1\nl2\n", "EMPTY": ""], to: env, owner: nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: env + "/A")) == Data("x".utf8))
        #expect(try Data(contentsOf: URL(fileURLWithPath: env + "/MULTI")) == Data("l1\nl2\n".utf8))
        #expect(try Data(contentsOf: URL(fileURLWithPath: env + "/EMPTY")).isEmpty)
        #expect(try ConfigVars.readEnvDirectory(env) == ["A": "x", "MULTI": "l1\nl2\n", "EMPTY": ""])
        #expect(throws: BuildError.self) { try ConfigVars.writeEnvDirectory(["../x": "y"], to: env, owner: nil) }
    }
}

/// A temporary directory removed when the value is deinitialised.
final class TestDirectory {
    let path: String

    init() throws {
        let base = NSTemporaryDirectory() + "ruko-build-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    deinit { FileTree.remove(path) }

    func write(_ relative: String, _ text: String, mode: Int = 0o644) throws {
        let url = URL(fileURLWithPath: path + "/" + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }
}
