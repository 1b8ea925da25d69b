import Foundation
import RukoArchive
import Testing

@testable import RukoBuild

/// Packing: layout, hostile trees, size limits, reproducibility. No root needed.
@Suite("Slug packing")
struct SlugTests {
    /// Runs a host tool and returns its stdout.
    static func run(_ arguments: [String]) -> (status: Int32, output: String) {
        let result = HostCommand.run(arguments)
        return (result.status, result.output)
    }

    static func listing(_ slug: String) -> [String] {
        run(["tar", "-tzf", slug]).output.split(separator: "\n").map(String.init)
    }

    static func pack(_ directory: String, _ output: String, _ configure: (inout Slug.Options) -> Void = { _ in })
        throws(BuildError) -> (PackResult, [BuildOutputLine])
    {
        var options = Slug.Options()
        configure(&options)
        var lines: [BuildOutputLine] = []
        let result = try Slug.pack(directory: directory, to: output, options: options) { lines.append($0) }
        return (result, lines)
    }

    @Test func appLayoutAndFlatLayout() throws {
        let tree = try TestDirectory()
        try tree.write("src/Procfile", "web: x\n")
        try tree.write("src/lib/a.rb", "a")
        let (result, lines) = try Self.pack(tree.path + "/src", tree.path + "/app.tgz")
        #expect(
            Self.listing(tree.path + "/app.tgz").sorted() == [
                "./app/", "./app/Procfile", "./app/lib/", "./app/lib/a.rb",
            ])
        #expect(lines.first?.text.hasPrefix("-----> Compressing... done, ") == true)
        #expect(result.sha256.count == 64)
        _ = try Self.pack(tree.path + "/src", tree.path + "/flat.tgz") { $0.layout = .flat }
        #expect(Self.listing(tree.path + "/flat.tgz").contains("./Procfile"))
    }

    @Test func slugIgnoreAndGitAreExcludedAtPackTime() throws {
        let tree = try TestDirectory()
        try tree.write("src/.git/config", "secret")
        try tree.write("src/test/a_test.rb", "t")
        try tree.write("src/lib/test/keep.rb", "k")
        try tree.write("src/design/logo.psd", "p")
        try tree.write("src/keep.txt", "k")
        let ignore = try SlugIgnore(parsing: "/test\n*.psd\n")
        _ = try Self.pack(tree.path + "/src", tree.path + "/s.tgz") { $0.ignore = ignore }
        let names = Self.listing(tree.path + "/s.tgz")
        #expect(names.contains("./app/lib/test/keep.rb"))
        #expect(names.contains("./app/keep.txt"))
        #expect(!names.contains { $0.contains(".git") || $0.contains("a_test") || $0.hasSuffix(".psd") })
    }

    @Test func hostileTreeNeverLeaksHostData() throws {
        let tree = try TestDirectory()
        let src = tree.path + "/src"
        try tree.write("src/Procfile", "web: x\n")
        try FileManager.default.createSymbolicLink(atPath: src + "/shadow", withDestinationPath: "/etc/shadow")
        try FileManager.default.createSymbolicLink(atPath: src + "/passwd", withDestinationPath: "/etc/passwd")
        try FileManager.default.createSymbolicLink(atPath: src + "/up", withDestinationPath: "../../../../etc")
        try FileManager.default.createSymbolicLink(atPath: src + "/root", withDestinationPath: "/")
        try tree.write("src/unreadable", "app data", mode: 0)
        _ = try? Self.pack(src, tree.path + "/s.tgz")
        let verbose = Self.run(["tar", "-tvzf", tree.path + "/s.tgz"]).output
        // The links are stored as links, with their text.
        #expect(verbose.contains("./app/shadow -> /etc/shadow"))
        #expect(verbose.contains("./app/up -> ../../../../etc"))
        // Nothing from the host's files is inside.
        let raw = Self.run(["bash", "-c", "gzip -dc \"$1\" | od -An -c | tr -d ' \\n'", "x", tree.path + "/s.tgz"])
        let passwd = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? "root:x:0:0"
        let firstLine = String(passwd.split(separator: "\n").first ?? "root:x:0:0").replacingOccurrences(
            of: " ", with: "")
        #expect(!raw.output.contains(firstLine))
        #expect(
            !Self.listing(tree.path + "/s.tgz").contains { $0.hasPrefix("./app/root/") || $0.hasPrefix("./app/up/") })
    }

    @Test func specialFilesAreRefusedByName() throws {
        let tree = try TestDirectory()
        try tree.write("src/Procfile", "web: x\n")
        #expect(mkfifo(tree.path + "/src/pipe", 0o644) == 0)
        #expect {
            _ = try Self.pack(tree.path + "/src", tree.path + "/s.tgz")
        } throws: { error in
            (error as? BuildError)?.description.contains("pipe") == true
        }
        #expect(!FileManager.default.fileExists(atPath: tree.path + "/s.tgz"))
        // The copy refuses them too, listing every one.
        #expect(mkfifo(tree.path + "/src/pipe2", 0o644) == 0)
        try FileManager.default.createDirectory(atPath: tree.path + "/copy", withIntermediateDirectories: true)
        #expect {
            _ = try FileTree.copy(
                from: tree.path + "/src", to: tree.path + "/copy", owner: nil, what: "The app", exclude: nil)
        } throws: { error in
            let text = (error as? BuildError)?.description ?? ""
            return text.contains("pipe (fifo)") && text.contains("pipe2 (fifo)")
        }
        // Excluded by .slugignore: fine.
        let ignore = try SlugIgnore(parsing: "pipe*\n")
        _ = try Self.pack(tree.path + "/src", tree.path + "/s.tgz") { $0.ignore = ignore }
    }

    @Test func hardLimitFailsWithHerokusMessagesAndLeavesNoFile() throws {
        let tree = try TestDirectory()
        // Incompressible data: 300 KiB of random bytes.
        var bytes = [UInt8](repeating: 0, count: 300 * 1024)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        try FileManager.default.createDirectory(atPath: tree.path + "/src", withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: tree.path + "/src/blob"))
        #expect {
            _ = try Self.pack(tree.path + "/src", tree.path + "/s.tgz") { $0.maxSize = 100 * 1024 }
        } throws: { error in
            guard let error = error as? BuildError, error.kind == .slugTooLarge else { return false }
            let lines: [String] = error.formattedLines
            guard lines.count == 3 else { return false }
            let first: Bool =
                lines[0].hasPrefix(" !     Compiled slug size: 0.")
                && lines[0].hasSuffix("M is too large (max is 0.1M).")
            let rest: Bool =
                lines[1] == " !     See: https://devcenter.heroku.com/articles/slug-size"
                && lines[2] == " !     Push failed"
            return first && rest
        }
        #expect(!FileManager.default.fileExists(atPath: tree.path + "/s.tgz"))
        #expect((try FileManager.default.contentsOfDirectory(atPath: tree.path)).sorted() == ["src"])
        // Over the soft limit: a warning, and the slug.
        let (_, lines) = try Self.pack(tree.path + "/src", tree.path + "/s.tgz") { $0.softLimit = 100 * 1024 }
        #expect(
            lines.contains {
                $0.isError && $0.text.hasPrefix(" !     Warning: Your slug size (0 MB) exceeds our soft limit (0 MB)")
            })
    }

    @Test func sameInputGivesIdenticalBytes() throws {
        let tree = try TestDirectory()
        try tree.write("src/Procfile", "web: x\n")
        try tree.write("src/a/b/c.txt", String(repeating: "abc", count: 10000))
        try FileManager.default.createSymbolicLink(atPath: tree.path + "/src/link", withDestinationPath: "a/b/c.txt")
        let (first, _) = try Self.pack(tree.path + "/src", tree.path + "/one.tgz") { $0.sourceDateEpoch = 1_000_000 }
        // A copy of the tree made later (new ctimes, new mtimes) with the epoch clamp: same bytes.
        try FileManager.default.createDirectory(atPath: tree.path + "/copy", withIntermediateDirectories: true)
        _ = try FileTree.copy(from: tree.path + "/src", to: tree.path + "/copy", owner: nil, what: "copy", exclude: nil)
        let (second, _) = try Self.pack(tree.path + "/copy", tree.path + "/two.tgz") { $0.sourceDateEpoch = 1_000_000 }
        #expect(
            first.sha256 == second.sha256,
            "\(Self.run(["tar", "-tvzf", tree.path + "/one.tgz"]).output)\n\(Self.run(["tar", "-tvzf", tree.path + "/two.tgz"]).output)"
        )
        let one = try Data(contentsOf: URL(fileURLWithPath: tree.path + "/one.tgz"))
        let two = try Data(contentsOf: URL(fileURLWithPath: tree.path + "/two.tgz"))
        #expect(one == two)
    }

    @Test func copyKeepsSymlinksModesAndSkipsExcluded() throws {
        let tree = try TestDirectory()
        try tree.write("src/bin/run", "#!/bin/sh\n", mode: 0o755)
        try tree.write("src/tmp/cache.bin", "x")
        try FileManager.default.createSymbolicLink(atPath: tree.path + "/src/etc", withDestinationPath: "/etc")
        try FileManager.default.createDirectory(atPath: tree.path + "/dst", withIntermediateDirectories: true)
        let ignore = try SlugIgnore(parsing: "tmp/\n")
        _ = try FileTree.copy(
            from: tree.path + "/src", to: tree.path + "/dst", owner: nil, what: "The app",
            exclude: { ignore.excludes($0, isDirectory: $1) })
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: tree.path + "/dst/etc") == "/etc")
        let mode =
            try FileManager.default.attributesOfItem(atPath: tree.path + "/dst/bin/run")[.posixPermissions] as? Int
        #expect(mode == 0o755)
        #expect(!FileManager.default.fileExists(atPath: tree.path + "/dst/tmp"))
    }
}
