import Dispatch
import Foundation
import RukoSandbox
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One SSH session of a git user: authorise, fetch the stored repository, run git in the
/// sandbox with the SSH channel as its stdio, and — for a push of the deploy branch — build,
/// store and release through the hook channel.
///
/// Runs as root (in the daemon's worker, or directly when the forced command runs as root).
/// Writes nothing to stdout itself: that belongs to git.
public struct PushSession: Sendable {
    public var config: ShimConfig
    public var api: any RukoAPI
    public var git: any GitRunner
    public var builder: any SlugBuilder
    public var archiver: any TreeArchiver
    /// The hooks mounted into receive-pack.
    public var hooksDirectory: String
    /// The sandbox user git runs as; it owns the working copy of the repository.
    public var sandboxUID: UInt32 = 10001
    public var sandboxGID: UInt32 = 10001
    /// The SSH channel.
    public var standardInput: Int32 = 0
    public var standardOutput: Int32 = 1
    public var standardError: Int32 = 2
    /// Stops the session's sandboxes (git's and the build's) when the client hangs up or the
    /// worker is told to stop; the locks, work directory and cgroups are then released normally.
    public var cancellation: SandboxCancellation?

    public init(
        config: ShimConfig, api: any RukoAPI, git: any GitRunner, builder: any SlugBuilder,
        archiver: any TreeArchiver, hooksDirectory: String
    ) {
        self.config = config
        self.api = api
        self.git = git
        self.builder = builder
        self.archiver = archiver
        self.hooksDirectory = hooksDirectory
    }

    /// Serves `command` for `user`. Returns the exit status for the SSH session; throws a
    /// refusal or failure that the caller prints as ` !  message` with exit 1.
    public func run(command: SSHCommand, user: String) throws(ShimError) -> Int32 {
        guard SSHCommand.isValidUserID(user) else {
            throw ShimError("not an authorized user", code: .badUser)
        }
        var clock = Date()
        let authorization = try api.authorize(app: command.app, user: user, access: command.access)
        recordTiming("authorize", app: command.app, seconds: Date().timeIntervalSince(clock))
        clock = Date()
        switch command.service {
        case .uploadPack: return try serveFetch(app: command.app, user: user, authorization: authorization)
        case .receivePack: return try servePush(app: command.app, user: user)
        }
    }

    /// A line on the SSH channel's stderr (shown to the user as is).
    public func say(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBufferPointer { write(standardError, $0.baseAddress, $0.count) }
    }

    // MARK: fetch

    private func serveFetch(app: String, user: String, authorization: Authorization) throws(ShimError) -> Int32 {
        let object: PushMetadata.Object
        if let repo = authorization.repo {
            object = PushMetadata.Object(getURL: repo.getURL, putURL: "", exists: repo.exists)
        } else {
            // Older APIs hand out the repository URL only with the push metadata (writers).
            do {
                object = try api.createPush(app: app, user: user).repo
            } catch  where error.code == .readOnly {
                throw ShimError(
                    "cannot serve a fetch to a read-only user: this ruko-api gives no repository URL on authorize",
                    code: .apiError)
            }
        }
        let work = try WorkDirectory(stateDirectory: config.stateDirectory, app: app)
        defer { work.remove() }
        let repo = try checkOutRepository(object, into: work)
        var job = GitJob(service: .uploadPack, repository: repo)
        job.standardInput = standardInput
        job.standardOutput = standardOutput
        job.standardError = standardError
        job.cancellation = cancellation
        return try git.run(job)
    }

    // MARK: push

    private func servePush(app: String, user: String) throws(ShimError) -> Int32 {
        let started = Date()
        defer { recordTiming("session", app: app, seconds: Date().timeIntervalSince(started)) }
        let lock = try AppLock.acquire(app: app, stateDirectory: config.stateDirectory, timeout: config.lockTimeout) {
            say("-----> Waiting for another deploy of \(app) to finish...")
        }
        defer { lock.release() }
        if let cancellation, cancellation.isCancelled { throw ShimError.sessionStopped }
        var clock = Date()
        let push = try api.createPush(app: app, user: user)
        recordTiming("push-metadata", app: app, seconds: Date().timeIntervalSince(clock))
        clock = Date()
        let work = try WorkDirectory(stateDirectory: config.stateDirectory, app: app)
        defer { work.remove() }
        let repo = try checkOutRepository(push.repo, into: work)
        recordTiming("checkout", app: app, seconds: Date().timeIntervalSince(clock))
        let channel = try HookChannel(directory: work.path + "/channel", uid: sandboxUID, gid: sandboxGID)

        let state = DeployStateBox()
        let done = DispatchSemaphore(value: 0)
        let handler = HookHandler(session: self, push: push, work: work, repo: repo, channel: channel)
        let thread = Thread {
            handler.serve(state: state)
            done.signal()
        }
        thread.start()

        var job = GitJob(
            service: .receivePack, repository: repo, hooksDirectory: hooksDirectory, channelDirectory: channel.directory
        )
        job.standardInput = standardInput
        job.standardOutput = standardOutput
        job.standardError = standardError
        job.timeout = buildTimeout(push) + 600
        job.maxInputSize = config.maxPushSize
        job.cancellation = cancellation
        let status: Int32
        clock = Date()
        defer { recordTiming("git", app: app, seconds: Date().timeIntervalSince(clock)) }
        do {
            status = try git.run(job)
        } catch {
            channel.stop()
            done.wait()
            throw error
        }
        channel.stop()
        done.wait()
        let final = state.withLock { $0 }
        if status != 0 { return status }
        // A hook failure was already reported to the user through the hook (remote: lines).
        return final.failure == nil ? 0 : 1
    }

    /// Appends `name app seconds` to STATE/timings.log (read by bench/push.sh).
    func recordTiming(_ name: String, app: String, seconds: Double) {
        let line = "\(name) \(app) \(String(format: "%.3f", seconds))\n"
        let fd = open(config.stateDirectory + "/timings.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    func buildTimeout(_ push: PushMetadata) -> Double {
        push.limits?.timeout.flatMap { ShimConfig.parseDuration($0) } ?? 900
    }

    /// Downloads and unpacks the stored repository, or creates an empty bare one; owned by the
    /// sandbox user, with no hooks of its own.
    func checkOutRepository(_ object: PushMetadata.Object, into work: WorkDirectory) throws(ShimError) -> String {
        let repo = work.path + "/repo.git"
        try makeDirectory(repo, mode: 0o755)
        var stored = false
        if object.exists != false, let url = object.getURL {
            let archive = work.path + "/repo-in.tgz"
            if try api.download(url: url, to: archive) {
                try archiver.unpack(archive: archive, to: repo, uid: sandboxUID, gid: sandboxGID)
                try? FileManager.default.removeItem(atPath: archive)
                stored = true
            }
        }
        if !stored { try initBareRepository(repo) }
        guard FileManager.default.fileExists(atPath: repo + "/HEAD") else {
            throw ShimError("the stored repository of this app is damaged (no HEAD); ask an operator", code: .storage)
        }
        // Hooks never come from storage: git uses the ones mounted just in time.
        try? FileManager.default.removeItem(atPath: repo + "/hooks")
        try chownTree(repo, uid: sandboxUID, gid: sandboxGID)
        return repo
    }
}

/// `git init --bare --template=` without starting git: the few files a bare repository is.
func initBareRepository(_ path: String) throws(ShimError) {
    for directory in ["objects", "objects/info", "objects/pack", "refs", "refs/heads", "refs/tags"] {
        try makeDirectory(path + "/" + directory, mode: 0o755)
    }
    try writeFile(path + "/HEAD", "ref: refs/heads/main\n", mode: 0o644)
    try writeFile(
        path + "/config", "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n", mode: 0o644)
}

/// How a session worker notices that it must stop.
public enum SessionStop {
    /// A cancellation handle that fires on SIGTERM, SIGHUP or SIGINT (the daemon stopping the
    /// worker) and when the reader of `channel` goes away (sshd closed the SSH channel because
    /// the git client hung up). Pass it to ``PushSession/cancellation``.
    public static func install(watching channel: Int32) -> SandboxCancellation? {
        guard let cancellation = SandboxCancellation.armed(for: [SIGTERM, SIGHUP, SIGINT]) else { return nil }
        let watcher = Thread {
            if cancellation.waitForCancellation(orHangUpOf: channel) { cancellation.cancel() }
        }
        watcher.start()
        return cancellation
    }
}

/// What the hooks decided, read by the session when git is done.
struct DeployState: Sendable {
    var built: BuiltSlug?
    var commit: String?
    var deployRef: String?
    var failure: ShimError?
}

/// Shared between the hook thread and the session.
final class DeployStateBox: Sendable {
    private let state = Mutex(DeployState())
    init() {}
    func withLock<T>(_ body: (inout DeployState) -> T) -> T { state.withLock { body(&$0) } }
}

/// Answers the hooks of one receive-pack on a thread of its own.
struct HookHandler: Sendable {
    var session: PushSession
    var push: PushMetadata
    var work: WorkDirectory
    var repo: String
    var channel: HookChannel

    func serve(state: DeployStateBox) {
        while true {
            let phase: HookPhase?
            do { phase = try channel.next() } catch {
                session.say(" !  hook channel failed: \(error.message)")
                return
            }
            guard let phase else { return }
            switch phase {
            case .preReceive: preReceive(state: state)
            case .postReceive: postReceive(state: state)
            }
        }
    }

    /// Builds the deploy branch and uploads the slug; the verdict decides whether git updates refs.
    private func preReceive(state: DeployStateBox) {
        channel.answer { out in
            do throws(ShimError) {
                let updates = try channel.refUpdates()
                let deploy =
                    updates.first { $0.ref == "refs/heads/main" } ?? updates.first { $0.ref == "refs/heads/master" }
                guard let deploy else {
                    let names = updates.map { $0.ref.replacingOccurrences(of: "refs/heads/", with: "") }
                    out.line(
                        "-----> Stored \(names.joined(separator: ", ")) without a deploy (only main or master is deployed)"
                    )
                    return true
                }
                if deploy.isDelete {
                    throw ShimError(
                        "the deploy branch \(deploy.ref.dropFirst(11)) cannot be deleted", code: .badCommand)
                }
                let cache = work.path + "/cache"
                try prepareCache(cache)
                let job = BuildJob(
                    sourceDirectory: channel.sourceDirectory, slugPath: work.path + "/slug.tgz", cacheDirectory: cache,
                    environment: push.env, buildpackURL: push.buildpackURL, template: push.template ?? "default",
                    commit: deploy.new, limits: push.limits, cancellation: session.cancellation)
                let started = Date()
                let built = try session.builder.build(job) { line in out.line(line) }
                session.recordTiming("build", app: push.app, seconds: Date().timeIntervalSince(started))
                if let cancellation = session.cancellation, cancellation.isCancelled { throw ShimError.sessionStopped }
                out.line("-----> Storing the slug (\(formatSize(built.size)))...")
                let uploadStart = Date()
                try session.api.upload(file: built.path, to: push.slug.putURL, what: "slug")
                session.recordTiming("slug-upload", app: push.app, seconds: Date().timeIntervalSince(uploadStart))
                state.withLock {
                    $0.built = built
                    $0.commit = deploy.new
                    $0.deployRef = deploy.ref
                }
                return true
            } catch {
                if error.code != .buildFailed { out.line(" !     \(error.message)") }
                out.line(" !     Push rejected to \(push.app).")
                state.withLock { $0.failure = error }
                return false
            }
        }
    }

    /// After git updated the refs: store the repository and the cache, then release.
    private func postReceive(state: DeployStateBox) {
        let snapshot = state.withLock { $0 }
        let started = Date()
        defer { session.recordTiming("post-receive", app: push.app, seconds: Date().timeIntervalSince(started)) }
        channel.answer { out in
            do throws(ShimError) {
                if let ref = snapshot.deployRef {
                    // Clones check out the deployed branch (git init's HEAD may name another).
                    try writeFile(repo + "/HEAD", "ref: \(ref)\n", mode: 0o644)
                    try chownTree(repo + "/HEAD", uid: session.sandboxUID, gid: session.sandboxGID)
                }
                let repoArchive = work.path + "/repo.tgz"
                try session.archiver.pack(directory: repo, to: repoArchive)
                try session.api.upload(file: repoArchive, to: push.repo.putURL, what: "repository")
                guard let built = snapshot.built, let commit = snapshot.commit else { return true }
                let cacheArchive = work.path + "/cache.tgz"
                try session.archiver.pack(directory: work.path + "/cache", to: cacheArchive)
                try session.api.upload(file: cacheArchive, to: push.cache.putURL, what: "build cache")
                let release = try session.api.createRelease(
                    url: push.releaseURL,
                    ReleaseRequest(
                        slugID: push.slug.id, processTypes: built.processTypes, commit: commit, sha256: built.sha256,
                        size: built.size, buildpack: built.buildpack, stack: built.stack,
                        description: "Deploy \(commit.prefix(7))"))
                out.line("-----> Launching... done, \(release.name)")
                return true
            } catch {
                out.line(" !     \(error.message)")
                out.line(" !     The push was not stored; the app was not released. Push again.")
                state.withLock { $0.failure = error }
                return false
            }
        }
    }

    private func prepareCache(_ cache: String) throws(ShimError) {
        try makeDirectory(cache, mode: 0o755)
        if push.cache.exists != false, let url = push.cache.getURL {
            let archive = work.path + "/cache-in.tgz"
            if try session.api.download(url: url, to: archive) {
                do {
                    try session.archiver.unpack(
                        archive: archive, to: cache, uid: session.sandboxUID, gid: session.sandboxGID)
                } catch {
                    // A damaged cache is not worth failing a deploy: start clean.
                    try? FileManager.default.removeItem(atPath: cache)
                    try makeDirectory(cache, mode: 0o755)
                }
                try? FileManager.default.removeItem(atPath: archive)
            }
        }
        try chownTree(cache, uid: session.sandboxUID, gid: session.sandboxGID)
    }
}

func formatSize(_ bytes: Int64) -> String {
    let value = Double(bytes)
    if value >= 1_048_576 { return String(format: "%.1fM", value / 1_048_576) }
    if value >= 1024 { return String(format: "%.1fK", value / 1024) }
    return "\(bytes)B"
}

/// A per-session directory under `STATE/work`, removed when the session ends.
public struct WorkDirectory: Sendable {
    public let path: String

    /// Work directories older than this are leftovers of killed sessions (no push lives this long).
    static let staleAge: TimeInterval = 6 * 3600

    init(stateDirectory: String, app: String) throws(ShimError) {
        let base = stateDirectory + "/work"
        try makeDirectory(base)
        WorkDirectory.sweep(base)
        path = "\(base)/\(app)-\(UUID().uuidString.lowercased().prefix(12))"
        guard mkdir(path, 0o711) == 0 else { throw ShimError.system("mkdir", path) }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Removes directories a killed session left behind.
    static func sweep(_ base: String) {
        let fileManager = FileManager.default
        guard let names = try? fileManager.contentsOfDirectory(atPath: base) else { return }
        let cutoff = Date().addingTimeInterval(-staleAge)
        for name in names {
            let path = base + "/" + name
            guard let modified = (try? fileManager.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                modified < cutoff
            else { continue }
            try? fileManager.removeItem(atPath: path)
        }
    }
}
