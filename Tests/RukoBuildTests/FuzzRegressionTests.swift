import Testing

@testable import RukoBuild

/// Inputs the Procfile, .slugignore and release fuzzers found (Tests/Fuzz; docs/fuzzing.md). Each
/// one is also kept as `Tests/Fuzz/corpus/<target>/crash-*`.
@Suite("Fuzz regressions: Procfile, .slugignore, release")
struct BuildFuzzRegressionTests {
    /// procfile/crash-crlf: "\r\n" is one Character, so splitting on "\n" joined CRLF lines into
    /// one command.
    @Test func procfileCRLFLinesAreSeparateEntries() throws {
        let procfile = try Procfile(parsing: "web: ./bin/server -p $PORT\r\nworker_2: ./bin/jobs --queue=a:b\r\n")
        #expect(procfile.entries.map(\.type) == ["web", "worker_2"])
        #expect(procfile.entries.map(\.command) == ["./bin/server -p $PORT", "./bin/jobs --queue=a:b"])
        #expect(procfile.entries.map(\.line) == [1, 2])
        #expect(throws: BuildError.self) { try Procfile(parsing: "web: a\r\nweb: b\r\n") }
    }

    /// procfile/crash-zwj-after-tab: trimming by Character drops a zero-width joiner glued to a
    /// space (" \u{200D}" is one Character) but keeps it after a tab (a control breaks clusters),
    /// so the same command parses two ways and does not survive a render/parse round trip.
    @Test func procfileTrimsWhitespaceOnly() throws {
        let tab = try Procfile(parsing: "w:\t\u{200D} d\n")
        let space = try Procfile(parsing: "w: \u{200D} d\n")
        #expect(tab.entries.map(\.command) == space.entries.map(\.command))
        #expect(space.entries.first?.command.unicodeScalars.contains("\u{200D}") == true)
    }

    /// slugignore/crash-crlf: CRLF files were one rule.
    @Test func slugIgnoreCRLFLinesAreSeparateRules() throws {
        let ignore = try SlugIgnore(parsing: "*.log\r\ntmp/\r\n")
        #expect(ignore.rules.map(\.line) == [1, 2])
        #expect(ignore.excludes("x.log", isDirectory: false))
        #expect(ignore.excludes("tmp", isDirectory: true))
    }

    /// slugignore/crash-combining-after-slash: `contains("/")` and `hasPrefix("!")` compare
    /// Characters, and "/\u{301}" or "!\u{301}" is one Character: the rule was not anchored (so it
    /// matched nothing) and the negation was not refused.
    @Test func slugIgnoreLooksAtBytesForSlashAndBang() throws {
        let ignore = try SlugIgnore(parsing: "logs/\u{301}nt\n")
        #expect(ignore.rules.first?.anchored == true)
        #expect(ignore.excludes("logs/\u{301}nt", isDirectory: false))
        #expect(throws: BuildError.self) { try SlugIgnore(parsing: "!\u{301}keep\n") }
    }

    /// slugignore/timeout-star-backtracking, timeout-doublestar-backtracking: `Glob.match`
    /// backtracks over every way to split the name between the `*`s (or the path between the
    /// `**/`s), exponential in their number: one rule and one long file name stall the build.
    /// Sized so the current code takes seconds per call and a memoised matcher microseconds.
    @Test func slugIgnoreMatchingIsNotExponential() throws {
        let clock = ContinuousClock()
        let stars = try SlugIgnore(parsing: "*a*a*a*a*a*a*a*a*b\n")
        let name = String(repeating: "a", count: 30)
        let starTime = clock.measure { #expect(!stars.excludes(name, isDirectory: false)) }
        #expect(starTime < .seconds(1), "\(starTime) for 8 stars against 30 a's")

        let doubleStars = try SlugIgnore(parsing: "**/**/**/**/**/**/**/**/x\n")
        let path = String(repeating: "a/", count: 24) + "b"
        let doubleStarTime = clock.measure { #expect(!doubleStars.excludes(path, isDirectory: false)) }
        #expect(doubleStarTime < .seconds(1), "\(doubleStarTime) for 8 `**/` against 25 levels")
    }

    /// release/crash-error-message-order: with two bad process types the error named whichever a
    /// Dictionary iterated first, which changes from one parse to the next.
    @Test func releaseErrorNamesTheFirstBadTypeInDocumentOrder() {
        // Sixteen bad entries, so a Dictionary order that happens to start with the first one is
        // unlikely; the heap is shifted between parses so each Dictionary gets a new seed.
        let bad = ["web.1"] + (2...16).map { "t\($0).x" }
        let yaml = "default_process_types:\n" + bad.map { "  '\($0)': x\n" }.joined()
        var messages: Set<[String]> = []
        var keep: [[Int]] = []
        for i in 0..<100 {
            keep.append(Array(repeating: i, count: i * 7 + 1))
            do {
                _ = try BuildpackRelease(parsingYAML: yaml, buildpack: "b")
            } catch {
                messages.insert(error.messages)
            }
        }
        #expect(messages.count == 1)
        #expect(messages.first?.first?.contains("`web.1`") == true)
        #expect(keep.count == 100)
    }
}
