import Foundation
import RukoSandbox

#if canImport(Glibc)
    import Glibc
#endif

/// What git runs on: the stored repository, the hooks and the hook channel, the SSH channel.
public struct GitJob: Sendable {
    public var service: GitService
    /// The bare repository on the host.
    public var repository: String
    /// The hooks directory (receive-pack only), mounted read-only as core.hooksPath.
    public var hooksDirectory: String?
    /// The hook channel directory (receive-pack only), mounted read-write.
    public var channelDirectory: String?
    public var standardInput: Int32 = 0
    public var standardOutput: Int32 = 1
    public var standardError: Int32 = 2
    /// Wall-clock limit for the whole git session, build included.
    public var timeout: Double = 3600
    /// receive-pack refuses a pack larger than this many bytes (`receive.maxInputSize`).
    public var maxInputSize: UInt64?
    /// Kills git's sandbox when the session is stopped (the client hung up, SIGTERM).
    public var cancellation: SandboxCancellation?

    public init(service: GitService, repository: String, hooksDirectory: String? = nil, channelDirectory: String? = nil)
    {
        self.service = service
        self.repository = repository
        self.hooksDirectory = hooksDirectory
        self.channelDirectory = channelDirectory
    }

    /// The fixed paths inside the sandbox.
    public static let repositoryMount = "/repo"
    public static let hooksMount = "/ruko/hooks"
    public static let channelMount = "/ruko/channel"

    /// The argv: `git -c … receive-pack /repo` (or upload-pack). Built from fixed strings only.
    public func arguments(repositoryPath: String, hooksPath: String?) -> [String] {
        var argv = [
            "git", "-c", "core.hooksPath=\(hooksPath ?? "/dev/null")", "-c", "receive.autogc=false",
            "-c", "gc.auto=0", "-c", "receive.fsckObjects=true", "-c", "transfer.fsckObjects=true",
        ]
        if service == .receivePack, let maxInputSize { argv += ["-c", "receive.maxInputSize=\(maxInputSize)"] }
        argv += [service.gitSubcommand, repositoryPath]
        return argv
    }
}

/// Runs git-receive-pack / git-upload-pack, confined.
public protocol GitRunner: Sendable {
    /// Runs the job to completion; the exit status of git.
    func run(_ job: GitJob) throws(ShimError) -> Int32
}

/// What the builder needs for one deploy.
public struct BuildJob: Sendable {
    public var sourceDirectory: String
    public var slugPath: String
    public var cacheDirectory: String
    public var environment: [String: String]
    public var buildpackURL: String?
    public var template: String
    public var commit: String
    public var limits: PushMetadata.Limits?
    /// Kills the build's sandbox when the session is stopped.
    public var cancellation: SandboxCancellation?
}

/// The slug the builder made.
public struct BuiltSlug: Sendable, Equatable {
    public var path: String
    public var sha256: String
    public var size: Int64
    public var processTypes: [String: String]
    public var buildpack: String
    public var stack: String

    public init(
        path: String, sha256: String, size: Int64, processTypes: [String: String], buildpack: String, stack: String
    ) {
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.processTypes = processTypes
        self.buildpack = buildpack
        self.stack = stack
    }
}

/// Builds a slug; output lines go to `output` as they happen.
public protocol SlugBuilder: Sendable {
    func build(_ job: BuildJob, output: @escaping @Sendable (String) -> Void) throws(ShimError) -> BuiltSlug
}

/// Packs and safely unpacks the repository and cache tarballs.
public protocol TreeArchiver: Sendable {
    /// Packs `directory` into a gzip'd tar at `archive` (entries `./…`).
    func pack(directory: String, to archive: String) throws(ShimError)
    /// Unpacks `archive` into the existing, empty `directory`, refusing anything that would land
    /// outside it; everything ends up owned by `uid:gid`.
    func unpack(archive: String, to directory: String, uid: UInt32, gid: UInt32) throws(ShimError)
}

/// Parses sizes like `500M`, `1G`, `512k`, `1024` (bytes): ``ValueParser/size(_:)``.
public func parseSize(_ text: String) -> UInt64? { ValueParser.size(text) }

/// Runs a program (never through a shell) and returns its exit status and combined output.
func runProgram(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws(ShimError)
    -> (status: Int32, output: String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    do { try process.run() } catch {
        throw ShimError("cannot run \(path): \(error.localizedDescription)", code: .system)
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// chown -R without following symlinks.
func chownTree(_ path: String, uid: UInt32, gid: UInt32) throws(ShimError) {
    guard lchown(path, uid, gid) == 0 else { throw ShimError.system("chown", path) }
    guard let walker = FileManager.default.enumerator(atPath: path) else { return }
    while let relative = walker.nextObject() as? String {
        let full = path + "/" + relative
        guard lchown(full, uid, gid) == 0 else { throw ShimError.system("chown", full) }
    }
}
