import Foundation
import RukoArchive
import RukoSandbox

#if canImport(Glibc)
    import Glibc
#endif

/// Everything a build needs. `init(appDirectory:outputPath:)` fills in Heroku's defaults.
public struct BuildRequest: Sendable {
    /// The app's source tree (not modified: the build works on a copy).
    public var appDirectory: String
    /// Where the slug goes (`.tgz`).
    public var outputPath: String
    /// Buildpacks chosen by the user, in order (multi-buildpack); empty = select automatically.
    public var buildpacks: [String] = []
    /// The directory of buildpacks for detection and for bare names (`python`).
    public var buildpacksDirectory: String = BundledBuildpacks.defaultDirectory()
    /// Where fetched buildpacks are cached (by URL and ref).
    public var buildpackCacheDirectory: String = BuildpackFetcher.defaultCacheDirectory
    /// The app's build cache, kept between builds; nil = a throwaway cache.
    public var cacheDirectory: String?
    /// Config vars: written to ENV_DIR; `BUILDPACK_URL` among them selects the buildpack.
    public var environment: [String: String] = [:]
    /// Hard slug size limit (compressed).
    public var maxSlugSize: UInt64 = Slug.defaultMaxSize
    /// The whole build's time limit (detect, compile, release).
    public var timeout: Duration = .seconds(15 * 60)
    /// Memory, pids and CPU limits for the build sandbox.
    public var limits = ResourceLimits()
    /// `./app/…` or `./…`.
    public var layout: SlugLayout = .app
    /// The commit being built (SOURCE_VERSION), when known.
    public var sourceVersion: String?
    /// The sandbox's rootfs template.
    public var template: String = "default"
    /// Passed to the sandbox: run even when a cgroup controller for a limit is missing.
    public var allowMissingControllers: Bool = false
    /// gzip level of the slug.
    public var compression: CompressionLevel = .default
    /// Clamp mtimes in the slug to this; nil = the newest mtime in the app source, so the same
    /// source tree always gives the same slug.
    public var sourceDateEpoch: Int64?
    /// Parent directory of the temporary build tree; nil = `$TMPDIR` or `/tmp`.
    public var workDirectory: String?
    /// The unprivileged user the buildpacks run as.
    public var user: SandboxUser = .default
    /// Stops the build from another thread or a signal handler (Ctrl-C on a laptop, the git
    /// client hanging up in the shim): the sandbox is killed, the work tree removed, no slug left.
    public var cancellation: SandboxCancellation?

    /// A request with defaults: bundled buildpacks, no cache, 500M, 15 minutes, `./app/` layout.
    public init(appDirectory: String, outputPath: String) {
        self.appDirectory = appDirectory
        self.outputPath = outputPath
    }
}

/// What a successful build produced (also the `--release-json` / `--json` document).
public struct BuildResult: Sendable, Codable, Equatable {
    public var slugPath: String
    public var sha256: String
    public var size: UInt64
    /// Process types: the buildpacks' defaults merged, then the Procfile's.
    public var processTypes: [String: String]
    /// Default config vars from the buildpacks' `bin/release` (a user's config var wins).
    public var configVars: [String: String]
    /// The buildpacks used, in order, as the user or detection named them.
    public var buildpacks: [String]
    public var stack: String
    public var commit: String?

    public init(
        slugPath: String, sha256: String, size: UInt64, processTypes: [String: String], configVars: [String: String],
        buildpacks: [String], stack: String, commit: String?
    ) {
        self.slugPath = slugPath
        self.sha256 = sha256
        self.size = size
        self.processTypes = processTypes
        self.configVars = configVars
        self.buildpacks = buildpacks
        self.stack = stack
        self.commit = commit
    }
}

/// Finds the bundled buildpacks next to the executable.
public enum BundledBuildpacks {
    /// `$RUKO_BUILDPACKS_DIR`; else `../share/ruko/buildpacks` from the executable (after
    /// `make install`); else the repository's `buildpacks/` above the executable (when run from
    /// `.build/`); else `/usr/local/share/ruko/buildpacks`.
    public static func defaultDirectory() -> String {
        if let explicit = ProcessInfo.processInfo.environment["RUKO_BUILDPACKS_DIR"], !explicit.isEmpty {
            return explicit
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var directory = SafeFile.parentDirectory(of: executable)
        let installed = directory + "/../share/ruko/buildpacks"
        if FileManager.default.fileExists(atPath: installed) { return normalize(installed) }
        while directory != "/" && !directory.isEmpty && directory != "." {
            if FileManager.default.fileExists(atPath: directory + "/Package.swift"),
                FileManager.default.fileExists(atPath: directory + "/buildpacks")
            {
                return directory + "/buildpacks"
            }
            directory = SafeFile.parentDirectory(of: directory)
        }
        return "/usr/local/share/ruko/buildpacks"
    }

    /// The detection order: the names listed in `DIR/order` (one per line, `#` comments), then
    /// any other buildpack directory in bytewise name order.
    public static func detectionOrder(in directory: String) throws(BuildError) -> [String] {
        let names: [String]
        do {
            names = try FileTree.entries(of: directory)
        } catch {
            throw BuildError(.selection, "Reading the buildpacks directory \(directory) failed: \(error).")
        }
        let available = names.filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".")
                && FileManager.default.fileExists(atPath: directory + "/" + name, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }
        var ordered: [String] = []
        let orderText: String?
        do {
            orderText = try SafeFile.readTextIfPresent(directory + "/order", limit: 65536)
        } catch {
            throw BuildError(.selection, lines: error.messages)
        }
        for line in (orderText ?? "").split(whereSeparator: \.isNewline) {
            let name = String(line.trimmingWhitespace())
            if name.isEmpty || name.hasPrefix("#") || ordered.contains(name) { continue }
            if available.contains(name) { ordered.append(name) }
        }
        return ordered + available.filter { !ordered.contains($0) }
    }

    private static func normalize(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }
}

/// Runs a build: selects buildpacks, runs detect/compile/release in the sandbox, packs the slug.
public struct Builder: Sendable {
    public var request: BuildRequest

    public init(request: BuildRequest) { self.request = request }

    /// Builds. `output` receives formatted lines as they are produced (from several threads, one
    /// line at a time). Throws with the failure's messages; on failure no slug file is left.
    public func run(output: @escaping @Sendable (BuildOutputLine) -> Void) throws(BuildError) -> BuildResult {
        let lock = NSLock()
        let emit: @Sendable (BuildOutputLine) -> Void = { line in
            lock.lock()
            defer { lock.unlock() }
            output(line)
        }
        let clock = ContinuousClock()
        let started = clock.now
        let app = request.appDirectory
        try validate()

        let ignore = try SlugIgnore.load(appDirectory: app)
        _ = try Procfile.load(appDirectory: app)  // fail fast on a broken Procfile
        Timing.mark("start")
        let plan = try selectBuildpacks(log: emit)
        Timing.mark("selection")
        let stack = Self.stack()

        let parent = request.workDirectory ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let work = try FileTree.makeTemporaryDirectory(in: parent, prefix: "ruko-build")
        defer {
            Timing.mark("before cleanup")
            FileTree.remove(work)
            Timing.mark("cleanup")
        }
        let owner = (uid: request.user.uid, gid: request.user.gid)
        let buildDirectory = work + "/app"
        // One bind for /ruko: ownership keeps ENV_DIR and the driver read-only for the build user
        // (root-owned) and the buildpack copies, outputs and a throwaway cache writable (build
        // user). Few directories and mount points: on ext4 with `discard` every rmdir costs ms.
        let rukoDirectory = work + "/ruko"
        let buildpacksDirectory = rukoDirectory + "/buildpacks"
        let envDirectory = rukoDirectory + "/env"
        let outDirectory = rukoDirectory + "/out"
        try makeOwnedDirectory(buildDirectory, owner: owner)
        for directory in [rukoDirectory, envDirectory] {
            try FileTree.makeDirectories(directory, mode: 0o755)
        }
        for directory in [buildpacksDirectory, outDirectory] {
            try makeOwnedDirectory(directory, owner: owner)
        }
        try writeDriver(to: rukoDirectory + "/build.sh")

        // The source, minus .slugignore matches and .git, owned by the build user.
        let newestSource = try FileTree.copy(
            from: app, to: buildDirectory, owner: owner, what: "The app",
            exclude: { path, isDirectory in ignore.excludes(path, isDirectory: isDirectory) })
        // Chosen buildpacks get private writable copies now; with detection, the driver copies the
        // one that detected the app (detection itself reads /ruko/available, read-only).
        for (index, entry) in plan.buildpacks.enumerated() where plan.mode == .list {
            let copy = buildpacksDirectory + "/\(index)"
            try makeOwnedDirectory(copy, owner: owner)
            _ = try FileTree.copy(
                from: entry.directory, to: copy, owner: owner, what: "Buildpack \(entry.name)",
                exclude: { path, _ in path == ".git" })
        }
        try ConfigVars.writeEnvDirectory(request.environment, to: envDirectory, owner: nil, mode: 0o644)
        let cacheMount = try prepareCache(ruko: rukoDirectory, owner: owner)

        Timing.mark("prepared work tree")
        emit(.header("Building on the \(stack) stack"))
        if plan.mode == .list, plan.buildpacks.count > 1 {
            emit(.header("Using buildpacks:"))
            for (index, entry) in plan.buildpacks.enumerated() { emit(.detail("\(index + 1). \(entry.name)")) }
        }

        var environment = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/app", "LANG": "C.UTF-8", "STACK": stack, "TMPDIR": "/tmp", "USER": "ruko",
        ]
        if let version = request.sourceVersion { environment["SOURCE_VERSION"] = version }
        if let epoch = request.sourceDateEpoch { environment["SOURCE_DATE_EPOCH"] = "\(epoch)" }

        let template: RootfsTemplate
        do {
            template = try RootfsTemplate.load(request.template)
        } catch {
            throw BuildError(.sandbox, "Loading the rootfs template `\(request.template)`: \(error)")
        }
        var configuration = SandboxConfiguration(
            command: ["/bin/bash", Driver.scriptPath, plan.mode.rawValue] + plan.buildpacks.map(\.name),
            template: template)
        configuration.appDirectory = buildDirectory
        configuration.binds = [BindMount(source: rukoDirectory, destination: "/ruko", readOnly: false)]
        if let cacheMount {
            configuration.binds.append(BindMount(source: cacheMount, destination: Driver.cacheMount, readOnly: false))
        }
        if plan.mode == .auto {
            configuration.binds.append(
                BindMount(source: request.buildpacksDirectory, destination: Driver.availableMount, readOnly: true))
        }
        configuration.environment = environment
        configuration.user = request.user
        configuration.workingDirectory = "/app"
        configuration.limits = request.limits
        configuration.allowMissingControllers = request.allowMissingControllers
        let remaining = request.timeout - (clock.now - started)
        guard remaining > .zero else { throw timeoutError() }
        configuration.timeout = remaining

        Timing.mark("before sandbox")
        let outcome = try runStreaming(configuration, emit: emit)
        Timing.mark("sandbox")
        for warning in outcome.warnings { emit(.error("Warning: \(warning)")) }

        let status = readOut(outDirectory + "/status").map { $0.trimmingWhitespace() } ?? ""
        let used: [PlannedBuildpack]
        switch outcome.termination {
        case .timedOut:
            throw timeoutError()
        case .cancelled:
            throw cancelledError()
        case .signaled(let signal):
            throw BuildError(
                .compile,
                outcome.oomKilled
                    ? "The build ran out of memory (limit \(request.limits.memoryBytes.map(Units.slugSize) ?? "none")) and was killed."
                    : "The build was killed by signal \(signal).")
        case .exited(let code):
            if code != 0 || status != "ok" {
                throw failure(
                    status: status, code: code, plan: plan, selected: readSelected(outDirectory, plan: plan),
                    oomKilled: outcome.oomKilled)
            }
            if plan.mode == .auto {
                guard let selected = readSelected(outDirectory, plan: plan) else {
                    throw BuildError(.detect, "The build did not report which buildpack it selected.")
                }
                used = [selected]
            } else {
                used = plan.buildpacks
            }
        }

        // Release: buildpack defaults merged in order, then the Procfile.
        var releases: [(name: String, release: BuildpackRelease)] = []
        for (index, entry) in used.enumerated() {  // release.I is numbered like /ruko/buildpacks/I
            let text: String
            do {
                text = try SafeFile.readTextIfPresent(outDirectory + "/release.\(index)", limit: 1 << 20) ?? ""
            } catch {
                throw BuildError(
                    .release,
                    lines: ["The output of bin/release of \(entry.name) cannot be used:"] + error.messages
                        + ["bin/release must print a small YAML document (at most 1 MiB) on stdout."])
            }
            releases.append((entry.name, try BuildpackRelease(parsingYAML: text, buildpack: entry.name)))
        }
        let procfile = try Procfile.load(appDirectory: buildDirectory)
        let merged = MergedRelease(buildpacks: releases, procfile: procfile)
        emit(.header("Discovering process types"))
        if let procfile {
            emit(.detail("Procfile declares types     -> " + procfile.entries.map(\.type).joined(separator: ", ")))
        }
        let defaults = Set(releases.flatMap { $0.release.defaultProcessTypes.keys }).sorted()
        if !defaults.isEmpty {
            emit(.detail("Default types for buildpack -> " + defaults.joined(separator: ", ")))
        }
        if merged.processTypes.isEmpty {
            emit(
                .error(
                    "Warning: no process types: add a Procfile (`web: <command>`) or use a buildpack that declares them."
                ))
        }

        var slugOptions = Slug.Options()
        slugOptions.layout = request.layout
        slugOptions.compression = request.compression
        slugOptions.maxSize = request.maxSlugSize
        slugOptions.ignore = ignore
        slugOptions.sourceDateEpoch = request.sourceDateEpoch ?? newestSource
        if let cancellation = request.cancellation { slugOptions.isCancelled = { cancellation.isCancelled } }
        Timing.mark("release")
        try checkCancelled()
        defer { Timing.mark("pack") }
        let packed = try Slug.pack(
            directory: buildDirectory, to: request.outputPath, options: slugOptions, output: emit)
        return BuildResult(
            slugPath: request.outputPath, sha256: packed.sha256, size: packed.bytes, processTypes: merged.processTypes,
            configVars: merged.configVars, buildpacks: used.map(\.name), stack: stack, commit: request.sourceVersion)
    }

    // MARK: - Selection

    struct PlannedBuildpack: Sendable {
        var name: String
        var directory: String
    }

    enum Mode: String { case auto, list }

    struct Plan {
        var mode: Mode
        var buildpacks: [PlannedBuildpack]
    }

    /// `--buildpack`, else `BUILDPACK_URL`, else `.buildpacks`, else detection over the directory.
    func selectBuildpacks(log: (BuildOutputLine) -> Void) throws(BuildError) -> Plan {
        var references = request.buildpacks
        if references.isEmpty, let url = request.environment["BUILDPACK_URL"], !url.isEmpty {
            references = [url]
        }
        if references.isEmpty {
            let text: String?
            do {
                text = try SafeFile.readTextIfPresent(request.appDirectory + "/.buildpacks", limit: 65536)
            } catch {
                throw BuildError(.selection, lines: error.messages)
            }
            references = (text ?? "").split(whereSeparator: \.isNewline).map { String($0.trimmingWhitespace()) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        if !references.isEmpty {
            let fetcher = BuildpackFetcher(cacheDirectory: request.buildpackCacheDirectory)
            var planned: [PlannedBuildpack] = []
            for reference in references {
                let source = try BuildpackSource(parsing: reference, bundledDirectory: request.buildpacksDirectory)
                planned.append(PlannedBuildpack(name: reference, directory: try fetcher.resolve(source, log: log)))
            }
            return Plan(mode: .list, buildpacks: planned)
        }
        let names = try BundledBuildpacks.detectionOrder(in: request.buildpacksDirectory)
        let candidates = names.filter {
            FileManager.default.isExecutableFile(atPath: request.buildpacksDirectory + "/" + $0 + "/bin/detect")
        }
        guard !candidates.isEmpty else {
            throw BuildError(
                .selection, "No buildpacks with bin/detect in \(request.buildpacksDirectory).",
                "Choose one with --buildpack, set BUILDPACK_URL, or add a .buildpacks file to the app.")
        }
        return Plan(
            mode: .auto,
            buildpacks: candidates.map { PlannedBuildpack(name: $0, directory: request.buildpacksDirectory + "/" + $0) }
        )
    }

    // MARK: - Helpers

    private func validate() throws(BuildError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: request.appDirectory, isDirectory: &isDirectory),
            isDirectory.boolValue
        else {
            throw BuildError(
                .invalidRequest, "App directory \(request.appDirectory) does not exist or is not a directory.")
        }
        let outputDirectory = SafeFile.parentDirectory(of: request.outputPath)
        guard FileManager.default.fileExists(atPath: outputDirectory, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw BuildError(
                .invalidRequest, "The slug's directory \(outputDirectory) does not exist: create it first.")
        }
        guard request.maxSlugSize > 0 else { throw BuildError(.invalidRequest, "--max-slug-size must be above 0.") }
        guard request.timeout > .zero else { throw BuildError(.invalidRequest, "--timeout must be above 0.") }
        for name in request.environment.keys where !ConfigVars.isValidName(name) {
            throw BuildError(
                .invalidRequest, "Config var `\(name)` is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*).")
        }
    }

    private func writeDriver(to path: String) throws(BuildError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BuildError(.io, "Writing \(path): \(describeErrno(errno)).") }
        defer { close(fd) }
        do {
            try SafeFile.writeAll(fd, Array(Driver.script.utf8), path: path)
        } catch {
            throw BuildError(.io, lines: error.messages)
        }
    }

    private func makeOwnedDirectory(_ path: String, owner: (uid: UInt32, gid: UInt32)) throws(BuildError) {
        if mkdir(path, 0o755) != 0, errno != EEXIST {
            throw BuildError(.io, "mkdir(\(path)): \(describeErrno(errno)).")
        }
        guard lchown(path, owner.uid, owner.gid) == 0 else {
            throw BuildError(.io, "chown(\(path)): \(describeErrno(errno)). ruko-build must run as root to build.")
        }
    }

    /// The build cache. With `--cache-dir DIR`: `DIR/build`, owned by the build user, is bound at
    /// /ruko/cache and holds `cache/` (CACHE_DIR, a directory under the mount point, so buildpacks
    /// may `rm -rf` it); returns it. Without: a throwaway `/ruko/cache/cache` inside the /ruko
    /// bind; returns nil.
    private func prepareCache(ruko: String, owner: (uid: UInt32, gid: UInt32)) throws(BuildError) -> String? {
        let mountPoint = ruko + "/cache"
        try makeOwnedDirectory(mountPoint, owner: owner)
        guard let cache = request.cacheDirectory else {
            try makeOwnedDirectory(mountPoint + "/cache", owner: owner)
            return nil
        }
        try FileTree.makeDirectories(cache, mode: 0o700)
        let root = cache + "/build"
        var info = stat()
        if lstat(root, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR {
            throw BuildError(.io, "\(root) is not a directory; remove it to reset the build cache.")
        }
        try makeOwnedDirectory(root, owner: owner)
        chmod(root, 0o700)
        let data = root + "/cache"
        if lstat(data, &info) != 0 {
            try makeOwnedDirectory(data, owner: owner)
        }
        return root
    }

    private func readOut(_ path: String) -> String? {
        (try? SafeFile.readTextIfPresent(path, limit: 1 << 20)) ?? nil
    }

    private func timeoutError() -> BuildError {
        BuildError(
            .timeout, "The build timed out after \(Units.describe(request.timeout)) and was stopped.",
            "Raise the limit with --timeout, or make the build faster (the cache persists with --cache-dir).")
    }

    /// With detection: the candidate that detected the app (`/ruko/out/selected`).
    private func readSelected(_ outDirectory: String, plan: Plan) -> PlannedBuildpack? {
        guard plan.mode == .auto, let text = readOut(outDirectory + "/selected"),
            let index = Int(text.trimmingWhitespace()), plan.buildpacks.indices.contains(index)
        else { return nil }
        return plan.buildpacks[index]
    }

    private func failure(
        status: String, code: Int32, plan: Plan, selected: PlannedBuildpack?, oomKilled: Bool
    ) -> BuildError {
        let words = status.split(separator: " ").map(String.init)
        func name(_ index: String) -> String {
            if let selected { return selected.name }  // detection: the driver's index 0
            guard let index = Int(index), plan.buildpacks.indices.contains(index) else { return "?" }
            return plan.buildpacks[index].name
        }
        let memory = oomKilled ? " It ran out of memory (--memory)." : ""
        switch words.first ?? "" {
        case "none":
            return BuildError(
                .detect,
                "No buildpack detected this app. Tried, in order: "
                    + plan.buildpacks.map(\.name).joined(separator: ", ") + ".",
                "Choose one with --buildpack, set BUILDPACK_URL, or add a .buildpacks file.")
        case "incompatible" where words.count >= 2:
            return BuildError(.detect, "App not compatible with buildpack: \(name(words[1])) (bin/detect failed).")
        case "copy" where words.count >= 2:
            return BuildError(.detect, "Copying buildpack \(name(words[1])) for the build failed.")
        case "missing" where words.count >= 3:
            return BuildError(.compile, "Buildpack \(name(words[1])) has no \(words[2]).")
        case "notexec" where words.count >= 3:
            return BuildError(.compile, "Buildpack \(name(words[1])): \(words[2]) is not executable (chmod +x it).")
        case "compile" where words.count >= 3:
            return BuildError(
                .compile,
                "Failed to compile app with buildpack \(name(words[1])) (bin/compile exited with \(words[2])).\(memory)"
            )
        case "release" where words.count >= 3:
            return BuildError(
                .release, "Buildpack \(name(words[1])): bin/release exited with \(words[2]).\(memory)")
        default:
            return BuildError(.sandbox, "The build stopped unexpectedly (exit status \(code)).\(memory)")
        }
    }

    /// Runs the sandbox with stdout and stderr on pipes read by two threads, one line at a time.
    private func runStreaming(_ base: SandboxConfiguration, emit: @escaping @Sendable (BuildOutputLine) -> Void)
        throws(BuildError) -> SandboxOutcome
    {
        var configuration = base
        let stdout = try makePipe()
        let stderr = try makePipe()
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }
        let outReader = LineReader(fd: stdout.read, isError: false, emit: emit)
        let errReader = LineReader(fd: stderr.read, isError: true, emit: emit)
        configuration.standardInput = devNull
        configuration.standardOutput = stdout.write
        configuration.standardError = stderr.write
        let result: Result<SandboxOutcome, SandboxError>
        do {
            result = .success(try Sandbox.run(configuration, cancellation: request.cancellation))
        } catch {
            result = .failure(error)
        }
        close(stdout.write)
        close(stderr.write)
        outReader.wait()
        errReader.wait()
        switch result {
        case .success(let outcome): return outcome
        case .failure(let error): throw BuildError(.sandbox, "Starting the build sandbox failed: \(error)")
        }
    }

    private func checkCancelled() throws(BuildError) {
        if let cancellation = request.cancellation, cancellation.isCancelled { throw cancelledError() }
    }

    private func cancelledError() -> BuildError {
        if let signal = SandboxCancellation.receivedSignal {
            return BuildError(.cancelled, "The build was cancelled (signal \(signal)); nothing was written.")
        }
        return BuildError(.cancelled, "The build was cancelled; nothing was written.")
    }

    private func makePipe() throws(BuildError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw BuildError(.io, "pipe: \(describeErrno(errno)).") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return (fds[0], fds[1])
    }

    /// The stack name from the host's os-release (`debian-12`).
    static func stack() -> String {
        guard let data = FileManager.default.contents(atPath: "/etc/os-release") else { return "linux" }
        let text = String(decoding: data, as: UTF8.self)
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let equals = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: equals)...])
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            fields[String(line[..<equals])] = value
        }
        guard let id = fields["ID"] else { return "linux" }
        if let version = fields["VERSION_ID"] { return "\(id)-\(version)" }
        return id
    }
}

/// Reads a pipe on its own thread and emits each complete line as soon as it arrives.
///
/// `init` returns only once the thread is running: the sandbox clones its init right after, and
/// glibc's set*id in a child cloned while a thread is still being created can wait forever for
/// that thread (glibc marks a thread under creation and a cloned child never sees it finish).
final class LineReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)

    init(fd: Int32, isError: Bool, emit: @escaping @Sendable (BuildOutputLine) -> Void) {
        let started = DispatchSemaphore(value: 0)
        let thread = Thread { [done] in
            started.signal()
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            func flush(_ bytes: ArraySlice<UInt8>) {
                var line = bytes
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                emit(BuildOutputLine(text: String(decoding: line, as: UTF8.self), isError: isError))
            }
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                pending.append(contentsOf: buffer[0..<count])
                var start = 0
                while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    flush(pending[start..<newline])
                    start = newline + 1
                }
                pending.removeFirst(start)
                if pending.count > 65536 {  // an endless line: emit it in pieces
                    flush(pending[...])
                    pending.removeAll()
                }
            }
            if !pending.isEmpty { flush(pending[...]) }
            close(fd)
            done.signal()
        }
        thread.start()
        started.wait()
    }

    func wait() { done.wait() }
}

extension BuildResult {
    /// The result as JSON (sorted keys, pretty-printed, trailing newline).
    public func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Writes ``jsonText()`` to `path` atomically (temporary file in the same directory, rename).
    public func writeJSON(to path: String) throws(BuildError) {
        do {
            try SafeFile.writeAtomically(Array(jsonText().utf8), to: path)
        } catch {
            throw BuildError(.io, lines: ["Writing \(path) failed:"] + error.messages)
        }
    }
}

/// `RUKO_BUILD_TIMING=1`: phase times on stderr, for bench/build.sh investigations.
enum Timing {
    private static let enabled = ProcessInfo.processInfo.environment["RUKO_BUILD_TIMING"] != nil
    nonisolated(unsafe) private static var last = ContinuousClock.now

    static func mark(_ phase: String) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let milliseconds =
            Double((now - last).components.attoseconds) / 1e15 + Double((now - last).components.seconds) * 1000
        FileHandle.standardError.write(Data("timing: \(phase) \(Units.formatOneDecimal(milliseconds)) ms\n".utf8))
        last = now
    }
}
