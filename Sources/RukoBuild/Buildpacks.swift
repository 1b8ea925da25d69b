import Crypto
import Foundation
import RukoArchive

/// Where a buildpack comes from, as written in `--buildpack`, `BUILDPACK_URL` or `.buildpacks`.
///
/// Forms: a local directory or tarball path; `file://PATH`; `https://…/x.tgz` (also `.tar.gz`,
/// `.tar`); a git URL (`https://…`, `git://…`, `ssh://…`, `git@host:path`, `file://…/repo.git`)
/// with an optional `#ref` (branch, tag or commit sha); or the name of a bundled buildpack.
public struct BuildpackSource: Sendable, Equatable, CustomStringConvertible {
    /// How the buildpack is obtained.
    public enum Location: Sendable, Equatable {
        case directory(String)
        case localTarball(String)
        case remoteTarball(url: String)
        case git(url: String, ref: String?)
    }

    /// The text the user wrote.
    public var original: String
    /// Where it is.
    public var location: Location

    public var description: String { original }

    /// Interprets a buildpack reference. `bundledDirectory` resolves bare names (`python`).
    public init(parsing text: String, bundledDirectory: String?) throws(BuildError) {
        original = text
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw BuildError(.selection, "Empty buildpack reference.") }
        let (base, ref) = Self.splitRef(trimmed)
        let lower = base.lowercased()
        if lower.hasPrefix("file://") {
            let path = String(base.dropFirst("file://".count))
            if Self.isGitPath(path) || ref != nil {
                location = .git(url: base, ref: ref)
            } else if Self.isTarballName(path) {
                location = .localTarball(path)
            } else {
                location = .directory(path)
            }
        } else if lower.hasPrefix("https://") || lower.hasPrefix("http://") {
            if ref == nil, Self.isTarballName(Self.urlPath(base)) {
                location = .remoteTarball(url: base)
            } else {
                location = .git(url: base, ref: ref)
            }
        } else if lower.hasPrefix("git://") || lower.hasPrefix("ssh://") || lower.hasPrefix("git+ssh://")
            || Self.isScpLike(base)
        {
            location = .git(url: base, ref: ref)
        } else if base.contains("://") {
            throw BuildError(
                .selection, "Buildpack \(text): unsupported URL scheme (use https://, file://, git:// or ssh://).")
        } else if Self.isGitPath(base) && FileManager.default.fileExists(atPath: base + "/HEAD") {
            location = .git(url: base, ref: ref)
        } else if FileManager.default.fileExists(atPath: trimmed) || base.contains("/") {
            location = Self.isTarballName(trimmed) ? .localTarball(trimmed) : .directory(trimmed)
        } else if let bundledDirectory, FileManager.default.fileExists(atPath: bundledDirectory + "/" + trimmed) {
            location = .directory(bundledDirectory + "/" + trimmed)
        } else {
            throw BuildError(
                .selection,
                "Buildpack \(text): not a directory, a tarball, a URL, or a bundled buildpack"
                    + (bundledDirectory.map { " in \($0)" } ?? "") + ".")
        }
    }

    /// The name shown to users: a bundled buildpack's name, else the reference as written.
    public var displayName: String { original }

    static func splitRef(_ text: String) -> (String, String?) {
        guard let hash = text.lastIndex(of: "#") else { return (text, nil) }
        let ref = String(text[text.index(after: hash)...])
        return (String(text[..<hash]), ref.isEmpty ? nil : ref)
    }

    static func urlPath(_ url: String) -> String {
        var path = url
        if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
        return path
    }

    static func isTarballName(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".tgz") || lower.hasSuffix(".tar.gz") || lower.hasSuffix(".tar")
    }

    static func isGitPath(_ path: String) -> Bool { path.hasSuffix(".git") || path.hasSuffix(".git/") }

    static func isScpLike(_ text: String) -> Bool {
        // user@host:path
        guard let at = text.firstIndex(of: "@"), let colon = text.firstIndex(of: ":"), at < colon else { return false }
        return !text[..<at].contains("/")
    }
}

/// Fetches buildpacks into a cache keyed by URL and ref, and resolves them to directories.
public struct BuildpackFetcher: Sendable {
    /// The cache root (`…/buildpacks`): one directory per URL+ref.
    public var cacheDirectory: String

    /// Creates a fetcher over a cache directory.
    public init(cacheDirectory: String) { self.cacheDirectory = cacheDirectory }

    /// The default cache: `$RUKO_BUILDPACK_CACHE`, else `/var/cache/ruko/buildpacks` for root,
    /// else `$XDG_CACHE_HOME/ruko/buildpacks` (`~/.cache/ruko/buildpacks`).
    public static var defaultCacheDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["RUKO_BUILDPACK_CACHE"], !explicit.isEmpty { return explicit }
        if geteuid() == 0 { return "/var/cache/ruko/buildpacks" }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/ruko/buildpacks" }
        return (environment["HOME"] ?? "/tmp") + "/.cache/ruko/buildpacks"
    }

    /// A local directory holding the buildpack (fetched and unpacked if needed). `log` receives
    /// progress lines.
    public func resolve(_ source: BuildpackSource, log: (BuildOutputLine) -> Void) throws(BuildError) -> String {
        switch source.location {
        case .directory(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw BuildError(.fetch, "Buildpack \(source): \(path) is not a directory.")
            }
            return path
        case .localTarball(let path):
            guard FileManager.default.fileExists(atPath: path) else {
                throw BuildError(.fetch, "Buildpack \(source): \(path) does not exist.")
            }
            return try cached(source) { directory throws(BuildError) in
                try unpack(tarball: path, into: directory, source: source)
            }
        case .remoteTarball(let url):
            return try cached(source) { directory throws(BuildError) in
                log(.header("Fetching buildpack \(url)"))
                let file = directory + ".download"
                defer { unlink(file) }
                try run(
                    [
                        "curl", "--fail", "--silent", "--show-error", "--location", "--max-time", "600",
                        "--proto", "=https,http", "--output", file, url,
                    ],
                    what: "downloading \(url)", source: source)
                try unpack(tarball: file, into: directory, source: source)
            }
        case .git(let url, let ref):
            return try cached(source) { directory throws(BuildError) in
                log(.header("Fetching buildpack \(url)" + (ref.map { " at \($0)" } ?? "")))
                try run(["git", "clone", "--quiet", "--", url, directory], what: "git clone \(url)", source: source)
                if let ref {
                    try run(
                        ["git", "-C", directory, "-c", "advice.detachedHead=false", "checkout", "--quiet", ref, "--"],
                        what: "git checkout \(ref)", source: source)
                }
                try? FileManager.default.removeItem(atPath: directory + "/.git")
            }
        }
    }

    /// The cache entry for a source, filled by `fill` into a temporary directory and renamed into
    /// place only when complete (concurrent builds fetching the same buildpack are fine).
    private func cached(_ source: BuildpackSource, fill: (String) throws(BuildError) -> Void) throws(BuildError)
        -> String
    {
        let key = SHA256.hash(data: Data(source.original.trimmingWhitespace().utf8))
            .map { String(format: "%02x", $0) }.joined().prefix(32)
        let final = cacheDirectory + "/" + key
        if FileManager.default.fileExists(atPath: final) { return try Self.buildpackRoot(final, source: source) }
        try FileTree.makeDirectories(cacheDirectory, mode: 0o755)
        let temporary = try FileTree.makeTemporaryDirectory(in: cacheDirectory, prefix: ".fetch-\(key)")
        rmdir(temporary)  // git clone wants to create it
        do {
            try fill(temporary)
        } catch {
            FileTree.remove(temporary)
            throw error
        }
        chmod(temporary, 0o755)
        if rename(temporary, final) != 0 {
            FileTree.remove(temporary)  // another build won the race; use its copy
            guard FileManager.default.fileExists(atPath: final) else {
                throw BuildError(.fetch, "Buildpack \(source): rename into \(final): \(describeErrno(errno)).")
            }
        }
        return try Self.buildpackRoot(final, source: source)
    }

    /// Tarballs often wrap the buildpack in one top-level directory: use it when `bin/` is not at
    /// the top.
    static func buildpackRoot(_ directory: String, source: BuildpackSource) throws(BuildError) -> String {
        if FileManager.default.fileExists(atPath: directory + "/bin") { return directory }
        let children = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        if children.count == 1, FileManager.default.fileExists(atPath: directory + "/" + children[0] + "/bin") {
            return directory + "/" + children[0]
        }
        throw BuildError(.fetch, "Buildpack \(source): no bin/ directory in \(directory); is it a buildpack?")
    }

    private func unpack(tarball: String, into directory: String, source: BuildpackSource) throws(BuildError) {
        try FileTree.makeDirectories(directory, mode: 0o755)
        do {
            try SafeExtractor.extract(archive: tarball, to: directory)
        } catch {
            throw BuildError(.fetch, "Buildpack \(source): unpacking \(tarball): \(error).")
        }
    }

    private func run(_ arguments: [String], what: String, source: BuildpackSource) throws(BuildError) {
        let result = HostCommand.run(arguments, environment: ["GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"])
        guard result.status == 0 else {
            var lines = ["Buildpack \(source): \(what) failed (exit \(result.status))."]
            lines += result.output.split(whereSeparator: \.isNewline).suffix(5).map { "  " + $0 }
            throw BuildError(.fetch, lines: lines)
        }
    }
}

/// Runs a host tool (git, curl) with output captured; never through a shell.
enum HostCommand {
    struct Result {
        var status: Int32
        var output: String
    }

    static func run(_ arguments: [String], environment extra: [String: String] = [:], directory: String? = nil)
        -> Result
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment.merge(extra) { _, new in new }
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return Result(status: 127, output: "\(arguments[0]): \(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}
