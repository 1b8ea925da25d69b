import Foundation
import Testing

@testable import RukoArchive

@Suite struct SlugPackerTests {
    @Test func roundTripKeepsContentModesAndLinks() throws {
        let scratch = try Scratch()
        let tree = scratch.sub("tree")
        try makeSampleTree(at: tree)
        let result = try SlugPacker.pack(
            directory: tree, to: scratch.sub("slug.tgz"), options: PackOptions(prefix: "./"))
        #expect(result.bytes > 0)
        #expect(result.sha256.count == 64)
        try SafeExtractor.extract(archive: scratch.sub("slug.tgz"), to: scratch.sub("out"))
        #expect(try describeTree(scratch.sub("out")) == describeTree(tree))
        // The hard link became a regular file with the same content.
        var info = stat()
        lstat(scratch.sub("out/Procfile.hardlink"), &info)
        #expect(info.st_mode & S_IFMT == S_IFREG)
    }

    @Test func everyReaderAcceptsTheOutput() throws {
        let scratch = try Scratch()
        let tree = scratch.sub("tree")
        try makeSampleTree(at: tree)
        let slug = scratch.sub("slug.tgz")
        let result = try SlugPacker.pack(directory: tree, to: slug, options: PackOptions())
        #expect(try run(["gzip", "-t", slug]).status == 0)
        let gnu = try run(["tar", "tvzf", slug])
        #expect(gnu.status == 0)
        #expect(!gnu.output.contains("Ignoring unknown extended header"), "UTF-8 names need no hdrcharset")
        let bsd = try run(["bsdtar", "-tf", slug])
        #expect(bsd.status == 0)
        let python = try run([
            "python3", "-c",
            """
            import sys, tarfile
            names = [m.name for m in tarfile.open(sys.argv[1], 'r:gz')]
            with open(sys.argv[1], 'rb') as f:
                streamed = [m.name for m in tarfile.open(fileobj=f, mode='r|gz')]
            assert names == streamed, (names, streamed)
            for m in tarfile.open(sys.argv[1], 'r:gz'):
                assert m.uid == 0 and m.gid == 0 and m.uname == '' and m.gname == '', m
                assert m.mode & 0o7000 == 0, m
            print('\\n'.join(names))
            """,
            slug,
        ])
        #expect(python.status == 0, "\(python.output)")
        // Same entries as the input tree, under ./app/, bytewise sorted, the top entry first.
        let listed = bsd.output.split(separator: "\n").map(String.init)
        #expect(listed.first == "./app/")
        #expect(listed.count == result.entries)
        let find = try run(["sh", "-c", "cd '\(tree)' && find . -mindepth 1 -printf '%y %P\\n'"])
        let expected =
            ["./app/"]
            + find.output.split(separator: "\n").map { line -> String in
                let name = String(line.dropFirst(2))
                return line.hasPrefix("d ") ? "./app/\(name)/" : "./app/\(name)"
            }
        #expect(Set(listed) == Set(expected))
        #expect(listed == listed.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        // tarfile drops the trailing "/" of directory names.
        #expect(
            python.output.split(separator: "\n").map(String.init)
                == listed.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 })
        #expect(gnu.output.contains("./app/start-link -> bin/start"))
        #expect(gnu.output.contains("./app/outside-link -> /etc/passwd"))
        // a.txt sorts before the directory a/ and its contents.
        let aText = try #require(listed.firstIndex(of: "./app/a.txt"))
        let aDir = try #require(listed.firstIndex(of: "./app/a/"))
        #expect(aText < aDir)
        #expect(listed[aDir + 1] == "./app/a/inside")
    }

    @Test func outputIsIdenticalForAnyThreadCount() throws {
        let scratch = try Scratch()
        let tree = scratch.sub("tree")
        let generated = try run(["python3", repositoryRoot + "/bench/gen-tree.py", tree, "--mb", "12", "--seed", "7"])
        #expect(generated.status == 0, "\(generated.output)")
        var hashes: Set<String> = []
        var sizes: Set<UInt64> = []
        for threads in [1, 2, 8] {
            let out = scratch.sub("slug-\(threads).tgz")
            let result = try SlugPacker.pack(
                directory: tree, to: out, options: PackOptions(threads: threads, sourceDateEpoch: 1_600_000_000))
            let data = try #require(FileManager.default.contents(atPath: out))
            #expect(UInt64(data.count) == result.bytes)
            hashes.insert(result.sha256)
            sizes.insert(result.bytes)
        }
        #expect(hashes.count == 1)
        #expect(sizes.count == 1)
        let check = try run([
            "sh", "-c",
            "cmp '\(scratch.sub("slug-1.tgz"))' '\(scratch.sub("slug-8.tgz"))' && sha256sum '\(scratch.sub("slug-2.tgz"))'",
        ])
        #expect(check.status == 0)
        #expect(check.output.hasPrefix(hashes.first ?? "none"))
        #expect(try run(["gzip", "-t", scratch.sub("slug-2.tgz")]).status == 0)
    }

    @Test func levelsAreValidAndOrdered() throws {
        let scratch = try Scratch()
        let tree = scratch.sub("tree")
        #expect(try run(["python3", repositoryRoot + "/bench/gen-tree.py", tree, "--mb", "4"]).status == 0)
        var sizes: [CompressionLevel: UInt64] = [:]
        for level in CompressionLevel.allCases {
            let out = scratch.sub("\(level).tgz")
            sizes[level] = try SlugPacker.pack(directory: tree, to: out, options: PackOptions(compression: level)).bytes
            #expect(try run(["gzip", "-t", out]).status == 0)
        }
        let fast = try #require(sizes[.fast]), normal = try #require(sizes[.default]), best = try #require(sizes[.best])
        #expect(fast > normal && normal >= best)
        // Default is within 3% of gzip -6 on the same tar stream.
        let reference = try run(["sh", "-c", "tar cf - -C '\(tree)' . | gzip -6 | wc -c"])
        let gzipSize = try #require(UInt64(reference.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(Double(normal) <= Double(gzipSize) * 1.03, "default \(normal) vs gzip -6 \(gzipSize)")
    }

    @Test func mtimesAreClampedAndOwnersNormalised() throws {
        let scratch = try Scratch()
        let tree = scratch.sub("tree")
        try mkdirs(tree + "/d")
        try write(tree + "/d/f", "x")
        try write(tree + "/setuid", "x", mode: 0o4755)
        let slug = scratch.sub("s.tgz")
        _ = try SlugPacker.pack(directory: tree, to: slug, options: PackOptions(sourceDateEpoch: 1000))
        let listing = try run([
            "python3", "-c",
            "import sys,tarfile\nfor m in tarfile.open(sys.argv[1]): print(m.name, m.mtime, oct(m.mode), m.uid, m.gid, repr(m.uname))",
            slug,
        ])
        #expect(listing.status == 0)
        for line in listing.output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            #expect(fields[1] == "1000", "\(line)")
            #expect(fields[3] == "0" && fields[4] == "0" && fields[5] == "''", "\(line)")
        }
        #expect(listing.output.contains("./app/setuid 1000 0o755"))
    }

    @Test func gitAndExcludedPathsAreLeftOut() throws {
        let scratch = try Scratch()
        let tree = scratch.sub("tree")
        try mkdirs(tree + "/.git/objects")
        try write(tree + "/.git/config", "[core]")
        try mkdirs(tree + "/vendor/gem/.git")
        try write(tree + "/vendor/gem/.git/HEAD", "ref")
        try write(tree + "/vendor/gem/lib.rb", "x")
        try mkdirs(tree + "/docs")
        try write(tree + "/docs/a.md", "x")
        try write(tree + "/art.psd", "x")
        try write(tree + "/keep.txt", "x")
        let options = PackOptions(exclude: { path, isDirectory in
            (path == "docs" && isDirectory) || path.hasSuffix(".psd")
        })
        let slug = scratch.sub("s.tgz")
        let result = try SlugPacker.pack(directory: tree, to: slug, options: options)
        let listing = try run(["tar", "tzf", slug]).output.split(separator: "\n").map(String.init)
        #expect(
            listing == ["./app/", "./app/keep.txt", "./app/vendor/", "./app/vendor/gem/", "./app/vendor/gem/lib.rb"])
        #expect(result.entries == listing.count)
    }

    @Test func packingIntoTheTreeItselfSkipsTheOutput() throws {
        let scratch = try Scratch()
        try write(scratch.sub("Procfile"), "web: x\n")
        let result = try SlugPacker.pack(
            directory: scratch.path, to: scratch.sub("slug.tgz"), options: PackOptions(prefix: "./"))
        let listing = try run(["tar", "tzf", scratch.sub("slug.tgz")]).output.split(separator: "\n")
        #expect(listing == ["./", "./Procfile"])
        #expect(result.entries == 2)
    }

    @Test func namesThatAreNotUTF8RoundTripByteForByte() throws {
        let scratch = try Scratch()
        try mkdirs(scratch.sub("tree"))
        // "caf\xE9" (Latin-1): not valid UTF-8.
        let name: [UInt8] = Array(scratch.sub("tree/caf").utf8) + [0xE9, 0]
        let fd = name.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT, 0o644) }
        }
        #expect(fd >= 0)
        close(fd)
        _ = try SlugPacker.pack(directory: scratch.sub("tree"), to: scratch.sub("s.tgz"), options: PackOptions())
        try SafeExtractor.extract(archive: scratch.sub("s.tgz"), to: scratch.sub("out"))
        let extracted: [UInt8] = Array(scratch.sub("out/app/caf").utf8) + [0xE9, 0]
        let found = extracted.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { access($0.baseAddress!, F_OK) }
        }
        #expect(found == 0)
        #expect(try run(["gzip", "-t", scratch.sub("s.tgz")]).status == 0)
        #expect(try run(["tar", "tzf", scratch.sub("s.tgz")]).status == 0)
    }

    @Test func specialFilesAreRefusedByName() throws {
        let scratch = try Scratch()
        let tree = scratch.sub("tree")
        try mkdirs(tree + "/run")
        #expect(mkfifo(tree + "/run/pipe", 0o644) == 0)
        let out = scratch.sub("s.tgz")
        #expect(throws: ArchiveError(.specialFile(path: "run/pipe", kind: "fifo"))) {
            try SlugPacker.pack(directory: tree, to: out, options: PackOptions())
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["tree"])
        // Excluded, it is fine.
        let excluded = PackOptions(exclude: { path, _ in path == "run/pipe" })
        _ = try SlugPacker.pack(directory: tree, to: out, options: excluded)
    }

    /// A failure after many chunks are in flight stops every thread and leaves nothing behind.
    @Test func failureMidStreamLeavesNothing() throws {
        let scratch = try Scratch()
        let tree = scratch.sub("tree")
        try mkdirs(tree)
        var rng = SystemRandomNumberGenerator()
        try Data((0..<6_000_000).map { _ in UInt8.random(in: 0...255, using: &rng) })
            .write(to: URL(fileURLWithPath: tree + "/a-big"))
        #expect(mkfifo(tree + "/z-fifo", 0o644) == 0)
        for threads in [1, 2, 8] {
            #expect(throws: ArchiveError(.specialFile(path: "z-fifo", kind: "fifo"))) {
                try SlugPacker.pack(directory: tree, to: scratch.sub("s.tgz"), options: PackOptions(threads: threads))
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["tree"])
    }

    @Test(.enabled(if: geteuid() != 0, "root reads every file"))
    func unreadableFilesAreRefusedByName() throws {
        let scratch = try Scratch()
        let tree = scratch.sub("tree")
        try mkdirs(tree)
        try write(tree + "/locked", "x", mode: 0o000)
        #expect(throws: ArchiveError(.unreadable(path: "locked", errno: EACCES))) {
            try SlugPacker.pack(directory: tree, to: scratch.sub("s.tgz"), options: PackOptions())
        }
    }

    @Test func overTheSizeLimitLeavesNoFile() throws {
        let scratch = try Scratch()
        let tree = scratch.sub("tree")
        try mkdirs(tree)
        var rng = SystemRandomNumberGenerator()
        try Data((0..<3_000_000).map { _ in UInt8.random(in: 0...255, using: &rng) })
            .write(to: URL(fileURLWithPath: tree + "/random"))
        let out = scratch.sub("s.tgz")
        do {
            _ = try SlugPacker.pack(directory: tree, to: out, options: PackOptions(maxOutputBytes: 1_000_000))
            Issue.record("packing should have failed")
        } catch {
            guard case .tooLarge(let actual, let limit) = error.kind else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(limit == 1_000_000)
            #expect(actual > 3_000_000)  // the full compressed size, for the user's message
            #expect(error.description.contains("over the limit"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["tree"])
    }
}
