import ArgumentParser
import Foundation
import RukoArchive
import RukoBuild
import RukoSandbox

#if canImport(Glibc)
    import Glibc
#endif

/// `ruko-build`: Heroku buildpacks in the ruko sandbox, producing a size-checked slug. The
/// reference definition of the command line; `FastBuildArguments` reads the common build lines.
struct RukoBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ruko-build",
        abstract: "Build a Heroku-style slug from an app with buildpacks, inside the ruko sandbox.",
        discussion: "See docs/build.md.",
        subcommands: [Build.self, Pack.self, Unpack.self],
        defaultSubcommand: Build.self)
}

/// Options shared by `build` and `pack`: how the slug is written.
struct SlugOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the slug.", valueName: "SLUG.tgz"))
    var output: String

    @Option(help: ArgumentHelp("Hard limit on the compressed slug (K, M, G suffixes).", valueName: "SIZE"))
    var maxSlugSize: String = "500M"

    @Option(help: ArgumentHelp("Slug layout: app (./app/…) or flat (./…).", valueName: "app|flat"))
    var layout: String = "app"

    @Option(help: ArgumentHelp("gzip level.", valueName: "fast|default|best"))
    var compression: String = "default"

    @Flag(help: "Print the result as JSON on stdout (build output goes to stderr).")
    var json = false

    @Flag(help: "Print only errors and warnings.")
    var quiet = false

    func validate() throws {
        if let message = settings.validationError { throw ValidationError(message) }
    }

    var settings: SlugSettings { SlugSettings(maxSlugSize: maxSlugSize, layout: layout, compression: compression) }
    var maxSize: UInt64 { settings.maxSize }
    var slugLayout: SlugLayout { settings.slugLayout }
    var compressionLevel: CompressionLevel { settings.compressionLevel }
}

/// The slug values of a command line as typed, with their checks and parsed forms (one place
/// for `SlugOptions` and `BuildOptions`).
struct SlugSettings {
    var maxSlugSize: String
    var layout: String
    var compression: String

    /// The first value that does not parse, as the CLI reports it; nil when all do.
    var validationError: String? {
        if Units.parseSize(maxSlugSize) == nil {
            return "--max-slug-size \(maxSlugSize): expected a size such as 500M or 1G."
        }
        if SlugLayout(rawValue: layout) == nil { return "--layout must be app or flat." }
        if CompressionLevel(rawValue: compression) == nil { return "--compression must be fast, default or best." }
        return nil
    }

    var maxSize: UInt64 { Units.parseSize(maxSlugSize) ?? Slug.defaultMaxSize }
    var slugLayout: SlugLayout { SlugLayout(rawValue: layout) ?? .app }
    var compressionLevel: CompressionLevel { CompressionLevel(rawValue: compression) ?? .default }
}

/// Prints build output: `-----> ` and detail lines on stdout (stderr with --json), errors on
/// stderr; colour only on a terminal.
final class Printer: @unchecked Sendable {
    private let lock = NSLock()
    private let quiet: Bool
    private let infoDescriptor: Int32
    private let colourInfo: Bool
    private let colourError: Bool

    init(quiet: Bool, json: Bool) {
        self.quiet = quiet
        infoDescriptor = json ? 2 : 1
        colourInfo = isatty(infoDescriptor) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        colourError = isatty(2) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    }

    func print(_ line: BuildOutputLine) {
        if quiet, !line.isError { return }
        let descriptor = line.isError ? Int32(2) : infoDescriptor
        let colour = line.isError ? colourError : colourInfo
        var text = line.text
        if colour {
            if text.hasPrefix(" !     ") {
                text = "\u{1B}[31m" + text + "\u{1B}[0m"
            } else if text.hasPrefix("-----> ") {
                text = "\u{1B}[1m" + text + "\u{1B}[0m"
            }
        }
        write(descriptor, text + "\n")
    }

    func printError(_ error: BuildError) {
        for line in error.formattedLines { print(BuildOutputLine(text: line, isError: true)) }
    }

    func writeStdout(_ text: String) { write(1, text) }

    private func write(_ descriptor: Int32, _ text: String) {
        lock.lock()
        defer { lock.unlock() }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(written)
        }
    }
}

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build APP_DIR into a slug (the default subcommand).")

    @Argument(help: ArgumentHelp("The app's source directory.", valueName: "APP_DIR"))
    var appDirectory: String

    @OptionGroup var slug: SlugOptions

    @Option(
        help: ArgumentHelp(
            "A buildpack: local path, file://, https:// tarball, git URL[#ref], or a bundled name. Repeat for multi-buildpack, in order.",
            valueName: "URL|PATH"))
    var buildpack: [String] = []

    @Option(help: ArgumentHelp("Buildpacks to detect among (default: the bundled ones).", valueName: "DIR"))
    var buildpacksDir: String?

    @Option(
        help: ArgumentHelp(
            "Cache for fetched buildpacks (default: /var/cache/ruko/buildpacks as root).", valueName: "DIR"))
    var buildpackCache: String?

    @Option(
        help: ArgumentHelp("The app's build cache, kept between builds (CACHE_DIR lives under it).", valueName: "DIR"))
    var cacheDir: String?

    @Option(help: ArgumentHelp("Config vars from a directory with one file per var.", valueName: "DIR"))
    var envDir: String?

    @Option(name: .customLong("env"), help: ArgumentHelp("A config var (repeatable).", valueName: "K=V"))
    var env: [String] = []

    @Option(help: ArgumentHelp("Config vars from a NAME=VALUE file.", valueName: "FILE"))
    var envFile: String?

    @Option(help: ArgumentHelp("Time limit for the whole build (s, m, h).", valueName: "DURATION"))
    var timeout: String = "15m"

    @Option(help: ArgumentHelp("Memory limit for the build (K, M, G).", valueName: "SIZE"))
    var memory: String?

    @Option(help: ArgumentHelp("Maximum number of processes in the build.", valueName: "N"))
    var pids: Int?

    @Option(
        help: ArgumentHelp("Write the release (process types, config vars, slug sha256…) as JSON.", valueName: "FILE"))
    var releaseJson: String?

    @Option(
        help: ArgumentHelp("The commit being built (SOURCE_VERSION); default: APP_DIR's git HEAD.", valueName: "SHA"))
    var sourceVersion: String?

    @Option(help: ArgumentHelp("Rootfs template for the sandbox.", valueName: "NAME"))
    var template: String = "default"

    @Flag(help: "Run even if a cgroup controller for a limit is missing (passed to the sandbox).")
    var allowMissingControllers = false

    func validate() throws {
        if let message = options.validationError { throw ValidationError(message) }
    }

    func run() throws { options.execute() }

    /// The parsed values as plain options.
    var options: BuildOptions {
        BuildOptions(
            appDirectory: appDirectory, output: slug.output, maxSlugSize: slug.maxSlugSize, layout: slug.layout,
            compression: slug.compression, json: slug.json, quiet: slug.quiet, buildpack: buildpack,
            buildpacksDir: buildpacksDir, buildpackCache: buildpackCache, cacheDir: cacheDir, envDir: envDir, env: env,
            envFile: envFile, timeout: timeout, memory: memory, pids: pids, releaseJson: releaseJson,
            sourceVersion: sourceVersion, template: template, allowMissingControllers: allowMissingControllers)
    }
}

struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pack an already-built tree into a slug, with the same rules as build (.slugignore, .git, size).")

    @Argument(help: ArgumentHelp("The built tree.", valueName: "DIR"))
    var directory: String

    @OptionGroup var slug: SlugOptions

    func run() throws {
        let printer = Printer(quiet: slug.quiet, json: slug.json)
        do throws(BuildError) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw BuildError(.invalidRequest, "\(directory) does not exist or is not a directory.")
            }
            var options = Slug.Options()
            options.layout = slug.slugLayout
            options.compression = slug.compressionLevel
            options.maxSize = slug.maxSize
            options.ignore = try SlugIgnore.load(appDirectory: directory)
            if let epoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"] {
                guard let value = Int64(epoch), value >= 0 else {
                    throw BuildError(.invalidRequest, "SOURCE_DATE_EPOCH=\(epoch): expected seconds since 1970.")
                }
                options.sourceDateEpoch = value
            }
            // SIGINT, SIGTERM and SIGHUP stop packing between entries; the temporary slug is removed.
            if let cancellation = SandboxCancellation.armed(for: [SIGINT, SIGTERM, SIGHUP]) {
                options.isCancelled = { cancellation.isCancelled }
            }
            let output = absolute(slug.output)
            let result = try Slug.pack(directory: directory, to: output, options: options) { printer.print($0) }
            if slug.json {
                printer.writeStdout(
                    "{\n  \"sha256\" : \"\(result.sha256)\",\n  \"size\" : \(result.bytes),\n  \"slugPath\" : \(jsonString(output))\n}\n"
                )
            }
        } catch {
            printer.printError(error)
            throw buildExitCode(for: error)
        }
    }
}

/// 128+N after a signal stopped the work (as a shell reports it), 1 for every other failure.
func buildExitCode(for error: BuildError) -> ExitCode {
    if error.kind == .cancelled, let signal = SandboxCancellation.receivedSignal { return ExitCode(128 + signal) }
    return ExitCode(1)
}

struct Unpack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Unpack a slug into a directory, safely (no entry may land outside it).")

    @Argument(help: ArgumentHelp("The slug.", valueName: "SLUG.tgz"))
    var slugPath: String

    @Argument(help: ArgumentHelp("Where to unpack it (created if missing).", valueName: "DIR"))
    var directory: String

    @Option(help: ArgumentHelp("Give every entry to this user (e.g. 10001, the sandbox user).", valueName: "UID[:GID]"))
    var owner: String?

    func validate() throws {
        if let owner, parseOwner(owner) == nil { throw ValidationError("--owner \(owner): expected UID[:GID].") }
    }

    func run() throws {
        do {
            try SafeExtractor.extract(archive: slugPath, to: directory, owner: owner.flatMap(parseOwner))
        } catch {
            FileHandle.standardError.write(Data(" !     Unpacking \(slugPath) failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

func parseOwner(_ text: String) -> (uid: UInt32, gid: UInt32)? {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count <= 2, let uid = UInt32(parts[0]) else { return nil }
    if parts.count == 1 { return (uid, uid) }
    guard let gid = UInt32(parts[1]) else { return nil }
    return (uid, gid)
}

func absolute(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    return FileManager.default.currentDirectoryPath + "/" + path
}

func gitHead(_ directory: String) -> String? {
    guard FileManager.default.fileExists(atPath: directory + "/.git") else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
    process.arguments = ["-C", directory, "rev-parse", "--verify", "--quiet", "HEAD"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return text.isEmpty ? nil : text
}

func jsonString(_ text: String) -> String {
    let data = (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8)
    return String(decoding: data, as: UTF8.self)
}
