import Foundation
import Testing

@testable import RukoBuild

/// Inputs an app (untrusted) controls, made too large: each is refused with an error that names
/// the file and the limit, instead of being read into memory.
@Suite("oversized inputs")
struct OversizedInputTests {
    /// A file of `size` bytes of valid text at `path`.
    static func write(_ path: String, size: Int) throws {
        let line = Data("web: echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n".utf8)
        var data = Data()
        while data.count < size { data.append(line) }
        try data.write(to: URL(fileURLWithPath: path))
    }

    @Test("a Procfile over 1 MiB")
    func procfile() throws {
        let directory = try TestDirectory()
        try Self.write(directory.path + "/Procfile", size: 2 << 20)
        let error = #expect(throws: BuildError.self) { try Procfile.load(appDirectory: directory.path) }
        #expect(
            error?.description.contains("Procfile is larger than 1048576 bytes") == true, "\(String(describing: error))"
        )
    }

    @Test("a .slugignore over 1 MiB")
    func slugignore() throws {
        let directory = try TestDirectory()
        try Self.write(directory.path + "/.slugignore", size: 2 << 20)
        let error = #expect(throws: BuildError.self) { try SlugIgnore.load(appDirectory: directory.path) }
        #expect(error?.description.contains(".slugignore is larger than 1048576 bytes") == true)
    }

    @Test("a .buildpacks file over 64 KiB")
    func buildpacksFile() throws {
        let directory = try TestDirectory()
        try Self.write(directory.path + "/.buildpacks", size: 100_000)
        var request = BuildRequest(appDirectory: directory.path, outputPath: directory.path + "/slug.tgz")
        request.buildpacksDirectory = directory.path
        let error = #expect(throws: BuildError.self) {
            _ = try Builder(request: request).selectBuildpacks(log: { _ in })
        }
        #expect(error?.description.contains(".buildpacks is larger than 65536 bytes") == true)
    }

    @Test("a config var file over 1 MiB in an env dir")
    func envDirectoryFile() throws {
        let directory = try TestDirectory()
        try FileManager.default.createDirectory(atPath: directory.path + "/env", withIntermediateDirectories: true)
        try Self.write(directory.path + "/env/BIG", size: 2 << 20)
        let error = #expect(throws: BuildError.self) { try ConfigVars.readEnvDirectory(directory.path + "/env") }
        #expect(error?.description.contains("BIG is larger than 1048576 bytes") == true)
    }

    @Test("an endless file (a FIFO planted as the Procfile) is refused, not waited for")
    func fifoProcfile() throws {
        let directory = try TestDirectory()
        #expect(mkfifo(directory.path + "/Procfile", 0o644) == 0)
        let error = #expect(throws: BuildError.self) { try Procfile.load(appDirectory: directory.path) }
        #expect(error?.description.contains("is not a regular file") == true)
    }
}
