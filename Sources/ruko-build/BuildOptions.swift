import Foundation
import RukoArchive
import RukoBuild
import RukoSandbox

#if canImport(Glibc)
    import Glibc
#endif

/// What a `ruko-build [build]` command line asks for, whichever parser read it: the
/// ArgumentParser definition (`Build`, the reference: help and errors) or `FastBuildArguments`.
struct BuildOptions: Equatable {
    var appDirectory = ""
    var output = ""
    var maxSlugSize = "500M"
    var layout = "app"
    var compression = "default"
    var json = false
    var quiet = false
    var buildpack: [String] = []
    var buildpacksDir: String?
    var buildpackCache: String?
    var cacheDir: String?
    var envDir: String?
    var env: [String] = []
    var envFile: String?
    var timeout = "15m"
    var memory: String?
    var pids: Int?
    var releaseJson: String?
    var sourceVersion: String?
    var template = "default"
    var allowMissingControllers = false

    /// The first value that does not parse, as ArgumentParser reports it; nil when all do.
    var validationError: String? {
        if let message = slug.validationError { return message }
        guard let duration = Units.parseDuration(timeout), duration > .zero else {
            return "--timeout \(timeout): expected a duration such as 15m, 90s or 1h."
        }
        if let memory, Units.parseSize(memory) == nil {
            return "--memory \(memory): expected a size such as 512M or 2G."
        }
        if let pids, pids <= 0 { return "--pids must be above 0." }
        return nil
    }

    var slug: SlugSettings { SlugSettings(maxSlugSize: maxSlugSize, layout: layout, compression: compression) }

    /// Builds and exits: 0, 1 on a failure, 128+N when signal N stopped the build.
    func execute() -> Never {
        let printer = Printer(quiet: quiet, json: json)
        do throws(BuildError) {
            var request = try makeRequest()
            request.cancellation = SandboxCancellation.armed(for: [SIGINT, SIGTERM, SIGHUP])
            let result = try Builder(request: request).run { line in printer.print(line) }
            if let releaseJson { try result.writeJSON(to: releaseJson) }
            if json { printer.writeStdout(result.jsonText()) }
            exit(0)
        } catch {
            printer.printError(error)
            exit(buildExitCode(for: error).rawValue)
        }
    }

    func makeRequest() throws(BuildError) -> BuildRequest {
        var request = BuildRequest(appDirectory: absolute(appDirectory), outputPath: absolute(output))
        request.buildpacks = buildpack
        if let buildpacksDir { request.buildpacksDirectory = absolute(buildpacksDir) }
        if let buildpackCache { request.buildpackCacheDirectory = absolute(buildpackCache) }
        request.cacheDirectory = cacheDir.map(absolute)
        var vars: [String: String] = [:]
        if let envDir { vars.merge(try ConfigVars.readEnvDirectory(envDir)) { _, new in new } }
        if let envFile {
            guard let data = FileManager.default.contents(atPath: envFile) else {
                throw BuildError(.invalidRequest, "--env-file \(envFile): cannot read it.")
            }
            let parsed = try ConfigVars.parseEnvFile(String(decoding: data, as: UTF8.self), name: envFile)
            vars.merge(parsed) { _, new in new }
        }
        for assignment in env {
            let (name, value) = try ConfigVars.parseAssignment(assignment)
            vars[name] = value
        }
        request.environment = vars
        request.maxSlugSize = slug.maxSize
        request.timeout = Units.parseDuration(timeout) ?? .seconds(900)
        request.limits = ResourceLimits(memoryBytes: memory.flatMap(Units.parseSize), pids: pids)
        request.layout = slug.slugLayout
        request.compression = slug.compressionLevel
        request.template = template
        request.allowMissingControllers = allowMissingControllers
        request.sourceVersion =
            sourceVersion ?? ProcessInfo.processInfo.environment["SOURCE_VERSION"]
            ?? gitHead(request.appDirectory)
        if let epoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"] {
            guard let value = Int64(epoch), value >= 0 else {
                throw BuildError(.invalidRequest, "SOURCE_DATE_EPOCH=\(epoch): expected seconds since 1970.")
            }
            request.sourceDateEpoch = value
        }
        return request
    }
}

/// A fast reader for the common build command lines, so that a build does not pay for
/// ArgumentParser's reflection (~3 ms by `perf`; see docs/benchmarks.md).
///
/// It reads `[build] APP_DIR` with `-o FILE`/`--output FILE`, the long options of `Build` by name
/// (`--name value` or `--name=value`) and its three flags, in any order. Anything else — a
/// subcommand other than `build`, help, a short option but `-o`, an unknown option, a missing
/// value, a value that looks like an option, `--`, a second APP_DIR, a value that does not
/// validate — returns nil and ArgumentParser reads the line (and gives its help or its error).
/// `RukoBuildCLITests` check that both readers agree on every line this one accepts.
enum FastBuildArguments {
    private static let flags: Set<String> = ["json", "quiet", "allow-missing-controllers"]
    private static let valueOptions: Set<String> = [
        "output", "max-slug-size", "layout", "compression", "buildpack", "buildpacks-dir", "buildpack-cache",
        "cache-dir", "env-dir", "env", "env-file", "timeout", "memory", "pids", "release-json", "source-version",
        "template",
    ]

    /// The options these arguments (without the program name) describe, or nil.
    static func parse(_ arguments: [String]) -> BuildOptions? {
        var words = arguments[...]
        if words.first == "build" { words = words.dropFirst() }
        var options = BuildOptions()
        var seenFlags: Set<String> = []
        var app: String?
        var output: String?
        while let word = words.popFirst() {
            if word == "-o" {
                guard let value = words.popFirst(), !value.hasPrefix("-") else { return nil }
                output = value
                continue
            }
            guard word.hasPrefix("--") else {
                // The app directory; a subcommand name or a second positional is not ours.
                guard !word.hasPrefix("-"), app == nil, !["build", "pack", "unpack", "help"].contains(word) else {
                    return nil
                }
                app = word
                continue
            }
            guard let (name, inlineValue) = ValueParser.longOption(word) else { return nil }
            var value = inlineValue
            if flags.contains(name) {
                guard value == nil, seenFlags.insert(name).inserted else { return nil }
                switch name {
                case "json": options.json = true
                case "quiet": options.quiet = true
                default: options.allowMissingControllers = true
                }
                continue
            }
            guard valueOptions.contains(name) else { return nil }
            if value == nil {
                guard let next = words.popFirst(), !next.hasPrefix("-") else { return nil }
                value = next
            }
            guard let value else { return nil }
            if name == "output" {
                output = value
            } else if !apply(name, value, to: &options) {
                return nil
            }
        }
        guard let app, let output else { return nil }
        options.appDirectory = app
        options.output = output
        guard options.validationError == nil else { return nil }
        return options
    }

    private static func apply(_ name: String, _ value: String, to options: inout BuildOptions) -> Bool {
        switch name {
        case "max-slug-size": options.maxSlugSize = value
        case "layout": options.layout = value
        case "compression": options.compression = value
        case "buildpack": options.buildpack.append(value)
        case "buildpacks-dir": options.buildpacksDir = value
        case "buildpack-cache": options.buildpackCache = value
        case "cache-dir": options.cacheDir = value
        case "env-dir": options.envDir = value
        case "env": options.env.append(value)
        case "env-file": options.envFile = value
        case "timeout": options.timeout = value
        case "memory": options.memory = value
        case "pids":
            guard let number = Int(value) else { return false }
            options.pids = number
        case "release-json": options.releaseJson = value
        case "source-version": options.sourceVersion = value
        case "template": options.template = value
        default: return false
        }
        return true
    }
}

/// The entry point: the fast reader for common build lines, ArgumentParser for the rest.
@main
enum RukoBuildMain {
    static func main() {
        if let options = FastBuildArguments.parse(Array(CommandLine.arguments.dropFirst())) {
            options.execute()
        }
        RukoBuildCommand.main()
    }
}
