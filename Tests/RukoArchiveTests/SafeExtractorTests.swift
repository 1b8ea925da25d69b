import Foundation
import Testing

@testable import RukoArchive

/// Builds an archive with Python's tarfile from a small script body that has `t` (the TarFile)
/// and helpers `add_file(name, data, mode=0o644)`, `add(name, type, linkname='', mode=0o644)`.
func makeArchive(_ path: String, compression: String = "gz", _ body: String) throws {
    let script = """
        import io, sys, tarfile
        t = tarfile.open(sys.argv[1], 'w:\(compression)', format=tarfile.GNU_FORMAT)
        def add_file(name, data, mode=0o644):
            info = tarfile.TarInfo(name); info.size = len(data); info.mode = mode
            t.addfile(info, io.BytesIO(data))
        def add(name, type, linkname='', mode=0o644, size=0):
            info = tarfile.TarInfo(name); info.type = type; info.linkname = linkname; info.mode = mode
            t.addfile(info)
        \(body)
        t.close()
        """
    let result = try run(["python3", "-c", script, path])
    #expect(result.status == 0, "\(result.output)")
}

@Suite struct SafeExtractorTests {
    func expectRefused(
        _ body: String, _ expected: ArchiveError.Kind, limits: ExtractLimits = .default,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let scratch = try Scratch()
        let archive = scratch.sub("hostile.tgz")
        try makeArchive(archive, body)
        let destination = scratch.sub("dest/out")
        try mkdirs(scratch.sub("dest"))
        do {
            try SafeExtractor.extract(archive: archive, to: destination, limits: limits)
            Issue.record("extraction should have been refused", sourceLocation: sourceLocation)
        } catch {
            #expect(error.kind == expected, sourceLocation: sourceLocation)
        }
        // Nothing left behind: no destination, no temporary directory, nothing outside.
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: scratch.sub("dest")) == [],
            sourceLocation: sourceLocation)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted() == ["dest", "hostile.tgz"],
            sourceLocation: sourceLocation)
    }

    @Test func dotDotIsRefused() throws {
        try expectRefused(
            "add_file('ok', b'x')\nadd_file('../evil', b'x')",
            .unsafeEntry(path: "../evil", reason: "'..' would leave the destination"))
        try expectRefused(
            "add_file('a/../../evil', b'x')",
            .unsafeEntry(path: "a/../../evil", reason: "'..' would leave the destination"))
    }

    @Test func absolutePathsAreRefused() throws {
        try expectRefused(
            "add_file('/tmp/ruko-evil', b'x')", .unsafeEntry(path: "/tmp/ruko-evil", reason: "absolute path"))
        #expect(access("/tmp/ruko-evil", F_OK) != 0)
    }

    @Test func writingThroughASymlinkIsRefused() throws {
        try expectRefused(
            "add('link', tarfile.SYMTYPE, linkname='..')\nadd_file('link/evil', b'x')",
            .unsafeEntry(path: "link/evil", reason: "its path goes through the symlink 'link'"))
        try expectRefused(
            "add('etc', tarfile.SYMTYPE, linkname='/etc')\nadd_file('etc/ruko-evil', b'x')",
            .unsafeEntry(path: "etc/ruko-evil", reason: "its path goes through the symlink 'etc'"))
        #expect(access("/etc/ruko-evil", F_OK) != 0)
    }

    @Test func replacingASymlinkTargetIsNotFollowing() throws {
        // A symlink then a file of the same name: the symlink is replaced, its target untouched.
        let scratch = try Scratch()
        try write(scratch.sub("victim"), "original")
        let archive = scratch.sub("a.tgz")
        try makeArchive(
            archive, "add('x', tarfile.SYMTYPE, linkname='\(scratch.sub("victim"))')\nadd_file('x', b'new')")
        try SafeExtractor.extract(archive: archive, to: scratch.sub("out"))
        #expect(try String(contentsOfFile: scratch.sub("victim"), encoding: .utf8) == "original")
        #expect(try String(contentsOfFile: scratch.sub("out/x"), encoding: .utf8) == "new")
    }

    @Test func hardLinksOutOfTheTreeAreRefused() throws {
        try expectRefused(
            "add('passwd', tarfile.LNKTYPE, linkname='/etc/passwd')",
            .unsafeEntry(path: "passwd", reason: "hard link to '/etc/passwd', which is outside the destination"))
        try expectRefused(
            "add('up', tarfile.LNKTYPE, linkname='../x')",
            .unsafeEntry(path: "up", reason: "hard link to '../x', which is outside the destination"))
        try expectRefused(
            "add('l', tarfile.SYMTYPE, linkname='/etc')\nadd('pw', tarfile.LNKTYPE, linkname='l/passwd')",
            .unsafeEntry(path: "pw", reason: "its path goes through the symlink 'l'"))
    }

    @Test func devicesAndFifosAreRefused() throws {
        try expectRefused("add('dev/sda', tarfile.BLKTYPE)", .specialFile(path: "dev/sda", kind: "block device"))
        try expectRefused("add('null', tarfile.CHRTYPE)", .specialFile(path: "null", kind: "character device"))
        try expectRefused("add('p', tarfile.FIFOTYPE)", .specialFile(path: "p", kind: "fifo"))
    }

    @Test func bombsAreBounded() throws {
        try expectRefused(
            "add_file('big', bytes(3_000_000))", .tooLarge(actual: 3_000_000, limit: 1_000_000),
            limits: ExtractLimits(maxBytes: 1_000_000, maxEntries: 100))
        try expectRefused(
            "for i in range(200): add_file('f%d' % i, b'')", .tooManyEntries(limit: 100),
            limits: ExtractLimits(maxBytes: 1_000_000, maxEntries: 100))
    }

    @Test func setuidBitsAreDroppedAndLinksInsideWork() throws {
        let scratch = try Scratch()
        let archive = scratch.sub("a.tar")
        try makeArchive(
            archive, compression: "",
            """
            add_file('./bin/tool', b'#!/bin/sh\\n', mode=0o4755)
            add('./bin/alias', tarfile.LNKTYPE, linkname='./bin/tool')
            add('./lib', tarfile.DIRTYPE, mode=0o555)
            add_file('./lib/x', b'inside a read-only dir')
            add('./current', tarfile.SYMTYPE, linkname='bin/tool')
            """)
        try SafeExtractor.extract(archive: archive, to: scratch.sub("out"))
        var info = stat()
        #expect(stat(scratch.sub("out/bin/tool"), &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o755)
        #expect(info.st_nlink == 2)
        #expect(stat(scratch.sub("out/lib"), &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o555)
        #expect(try String(contentsOfFile: scratch.sub("out/lib/x"), encoding: .utf8) == "inside a read-only dir")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: scratch.sub("out/current")) == "bin/tool")
    }

    @Test func extractsIntoAnExistingDirectoryInPlace() throws {
        let scratch = try Scratch()
        try mkdirs(scratch.sub("out"))
        try write(scratch.sub("out/mine"), "kept")
        let archive = scratch.sub("a.tgz")
        try makeArchive(archive, "add_file('new', b'n')")
        try SafeExtractor.extract(archive: archive, to: scratch.sub("out"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.sub("out")).sorted() == ["mine", "new"])
    }

    @Test func corruptArchivesAreAClearError() throws {
        let scratch = try Scratch()
        try write(scratch.sub("bad.tgz"), "this is not an archive at all, not even close")
        #expect(throws: ArchiveError.self) {
            try SafeExtractor.extract(archive: scratch.sub("bad.tgz"), to: scratch.sub("out"))
        }
        #expect(access(scratch.sub("out"), F_OK) != 0)
    }

    @Test(.enabled(if: geteuid() == 0, "requires root"))
    func ownerIsApplied() throws {
        let scratch = try Scratch()
        let archive = scratch.sub("a.tgz")
        try makeArchive(archive, "add_file('d/f', b'x')\nadd('l', tarfile.SYMTYPE, linkname='d/f')")
        try SafeExtractor.extract(archive: archive, to: scratch.sub("out"), owner: (uid: 1234, gid: 4321))
        for path in ["out", "out/d", "out/d/f", "out/l"] {
            var info = stat()
            #expect(lstat(scratch.sub(path), &info) == 0)
            #expect(info.st_uid == 1234 && info.st_gid == 4321, "\(path)")
        }
    }
}
