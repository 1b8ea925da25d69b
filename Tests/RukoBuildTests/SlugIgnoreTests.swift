import Testing

@testable import RukoBuild

@Suite("SlugIgnore")
struct SlugIgnoreTests {
    struct Case: Sendable, CustomStringConvertible {
        var pattern: String
        var path: String
        var isDirectory: Bool = false
        var excluded: Bool
        var description: String { "\(pattern) vs \(path)\(isDirectory ? "/" : "") → \(excluded)" }
    }

    static let cases: [Case] = [
        // Anchored `/x`: top level only.
        Case(pattern: "/test", path: "test", isDirectory: true, excluded: true),
        Case(pattern: "/test", path: "test/a.rb", excluded: true),
        Case(pattern: "/test", path: "lib/test", isDirectory: true, excluded: false),
        Case(pattern: "/test", path: "lib/test/a.rb", excluded: false),
        // `dir/`: directories only, at any depth.
        Case(pattern: "docs/", path: "docs", isDirectory: true, excluded: true),
        Case(pattern: "docs/", path: "docs/guide.md", excluded: true),
        Case(pattern: "docs/", path: "docs", isDirectory: false, excluded: false),
        Case(pattern: "docs/", path: "lib/docs", isDirectory: true, excluded: true),
        Case(pattern: "docs/", path: "lib/docs/x.md", excluded: true),
        // No slash: a name at every depth, file or directory.
        Case(pattern: "spec", path: "spec", isDirectory: true, excluded: true),
        Case(pattern: "spec", path: "a/b/spec", excluded: true),
        Case(pattern: "spec", path: "a/spec/x.rb", excluded: true),
        Case(pattern: "spec", path: "specs", excluded: false),
        Case(pattern: "spec", path: "myspec", excluded: false),
        // `*.ext` at every depth; `*` does not cross `/`.
        Case(pattern: "*.psd", path: "logo.psd", excluded: true),
        Case(pattern: "*.psd", path: "design/deep/logo.psd", excluded: true),
        Case(pattern: "*.psd", path: "logo.psd.txt", excluded: false),
        Case(pattern: "*.psd", path: "psd", excluded: false),
        // `a/b`: a slash inside anchors the pattern.
        Case(pattern: "a/b", path: "a/b", excluded: true),
        Case(pattern: "a/b", path: "a/b/c", excluded: true),
        Case(pattern: "a/b", path: "x/a/b", excluded: false),
        Case(pattern: "lib/*.tmp", path: "lib/x.tmp", excluded: true),
        Case(pattern: "lib/*.tmp", path: "lib/sub/x.tmp", excluded: false),
        // `**` spans directories.
        Case(pattern: "**/fixtures", path: "fixtures", isDirectory: true, excluded: true),
        Case(pattern: "**/fixtures", path: "a/b/fixtures", isDirectory: true, excluded: true),
        Case(pattern: "assets/**", path: "assets/x/y.png", excluded: true),
        Case(pattern: "assets/**", path: "assets", isDirectory: true, excluded: false),
        Case(pattern: "a/**/z", path: "a/z", excluded: true),
        Case(pattern: "a/**/z", path: "a/b/c/z", excluded: true),
        Case(pattern: "a/**/z", path: "b/a/z", excluded: false),
        // `?` and classes.
        Case(pattern: "file?.txt", path: "file1.txt", excluded: true),
        Case(pattern: "file?.txt", path: "file10.txt", excluded: false),
        Case(pattern: "[abc].log", path: "sub/b.log", excluded: true),
        Case(pattern: "[a-c].log", path: "d.log", excluded: false),
        Case(pattern: "[!a].log", path: "a.log", excluded: false),
        Case(pattern: "[!a].log", path: "b.log", excluded: true),
        // Escapes and trailing spaces.
        Case(pattern: "\\#notes", path: "#notes", excluded: true),
        Case(pattern: "trail   ", path: "trail", excluded: true),
        // Leading ./ in the queried path is ignored.
        Case(pattern: "/tmp", path: "./tmp", isDirectory: true, excluded: true),
    ]

    @Test("pattern table", arguments: cases)
    func table(_ testCase: Case) throws {
        let ignore = try SlugIgnore(parsing: testCase.pattern + "\n")
        #expect(ignore.excludes(testCase.path, isDirectory: testCase.isDirectory) == testCase.excluded)
    }

    @Test func commentsAndBlankLinesAreSkipped() throws {
        let ignore = try SlugIgnore(parsing: "# a comment\n\n   \n*.log\r\n# /keep\n")
        #expect(ignore.rules.count == 1)
        #expect(ignore.rules[0].line == 4)
        #expect(ignore.excludes("x.log", isDirectory: false))
        #expect(!ignore.excludes("keep", isDirectory: true))
    }

    @Test func gitIsAlwaysExcluded() throws {
        #expect(SlugIgnore.empty.excludes(".git", isDirectory: true))
        #expect(SlugIgnore.empty.excludes(".git/config", isDirectory: false))
        #expect(SlugIgnore.empty.excludes("vendor/lib/.git", isDirectory: false))
        #expect(!SlugIgnore.empty.excludes(".gitignore", isDirectory: false))
        #expect(!SlugIgnore.empty.excludes("src/main.rb", isDirectory: false))
    }

    @Test func negationIsAnErrorNamingTheLine() {
        #expect {
            _ = try SlugIgnore(parsing: "*.log\n!keep.log\n")
        } throws: { error in
            guard let error = error as? BuildError else { return false }
            return error.kind == .slugIgnore && error.messages[0].contains("line 2")
                && error.messages[0].contains("!keep.log")
        }
    }
}
