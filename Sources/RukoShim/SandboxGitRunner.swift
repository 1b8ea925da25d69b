import Foundation
import RukoSandbox

#if canImport(Glibc)
    import Glibc
#endif

/// Runs git-receive-pack / git-upload-pack in a RukoSandbox: the host's /usr read-only, the
/// repository bound at /repo (read-only for upload-pack), the hooks read-only at /ruko/hooks,
/// the hook channel at /ruko/channel, no network, no capabilities, uid 10001, seccomp.
public struct SandboxGitRunner: GitRunner {
    public var template: String
    public var allowMissingControllers: Bool
    /// Cgroup limits for git (default: 256 pids).
    public var limits: RukoSandbox.ResourceLimits?

    public init(template: String, allowMissingControllers: Bool, limits: RukoSandbox.ResourceLimits? = nil) {
        self.template = template
        self.allowMissingControllers = allowMissingControllers
        self.limits = limits
    }

    public func run(_ job: GitJob) throws(ShimError) -> Int32 {
        let rootfs: RootfsTemplate
        do { rootfs = try RootfsTemplate.load(template) } catch {
            throw ShimError("cannot load the sandbox template \(template): \(error.description)", code: .configuration)
        }
        let hooks = job.hooksDirectory == nil ? nil : GitJob.hooksMount
        var configuration = SandboxConfiguration(
            command: job.arguments(repositoryPath: GitJob.repositoryMount, hooksPath: hooks), template: rootfs)
        configuration.binds = [
            RukoSandbox.BindMount(
                source: job.repository, destination: GitJob.repositoryMount, readOnly: job.service == .uploadPack)
        ]
        if let source = job.hooksDirectory {
            configuration.binds.append(
                RukoSandbox.BindMount(source: source, destination: GitJob.hooksMount, readOnly: true))
        }
        if let channel = job.channelDirectory {
            configuration.binds.append(
                RukoSandbox.BindMount(source: channel, destination: GitJob.channelMount, readOnly: false))
        }
        configuration.environment = [
            "PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "GIT_CONFIG_NOSYSTEM": "1",
            "RUKO_CHANNEL": GitJob.channelMount,
        ]
        configuration.workingDirectory = GitJob.repositoryMount
        configuration.hostname = "ruko-git"
        configuration.network = .none
        configuration.limits = limits ?? RukoSandbox.ResourceLimits(pids: 256)
        configuration.allowMissingControllers = allowMissingControllers
        configuration.timeout = .milliseconds(Int64(job.timeout * 1000))
        configuration.standardInput = job.standardInput
        configuration.standardOutput = job.standardOutput
        configuration.standardError = job.standardError
        let outcome: SandboxOutcome
        do {
            outcome = try Sandbox.run(configuration, cancellation: job.cancellation)
        } catch {
            throw ShimError("cannot start git in the sandbox: \(error.description)", code: .system)
        }
        if case .timedOut = outcome.termination {
            throw ShimError("the push took longer than \(Int(job.timeout)) s and was stopped", code: .system)
        }
        if case .cancelled = outcome.termination { throw ShimError.sessionStopped }
        return outcome.exitStatus
    }
}
