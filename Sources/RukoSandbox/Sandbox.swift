import RukoCapabilities
import RukoCgroup
import RukoMount
import RukoSeccomp
import RukoSpawn
import RukoSystem
import Synchronization
import _RukoCShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Lets another thread stop a running sandbox (for example when the git client hangs up).
public final class SandboxCancellation: Sendable {
    let descriptor: Int32

    /// Creates a cancellation handle (an eventfd).
    public init() throws(SandboxError) {
        let fd = ruko_eventfd()
        guard fd >= 0 else {
            throw SandboxError(exitStatus: 125, description: SystemError("eventfd", errno: -fd).description)
        }
        descriptor = fd
    }

    /// Kills the sandbox this handle was passed to; its run returns `.cancelled`.
    public func cancel() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Syscall.writeAll(descriptor, $0) }
    }

    /// Whether `cancel()` was called (or a signal given to ``cancelOnSignals(_:)`` arrived).
    public var isCancelled: Bool {
        var fds = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)]
        guard case .success(let ready) = Syscall.poll(&fds, timeoutMilliseconds: 0) else { return false }
        return ready > 0 && fds[0].revents != 0
    }

    /// Cancels when one of `signals` arrives: a process-wide handler that only writes to this
    /// handle's eventfd (async-signal-safe), so the process cleans up instead of dying mid-way.
    /// One handle per process takes the signals; the last call wins.
    public func cancelOnSignals(_ signals: [Int32]) throws(SandboxError) {
        let result = signals.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { ruko_cancel_on_signals(descriptor, $0, buffer.count) } ?? 0
        }
        guard result == 0 else {
            throw SandboxError(exitStatus: 125, description: SystemError("sigaction", errno: -result).description)
        }
    }

    /// A new handle armed for `signals` (see ``cancelOnSignals(_:)``), or nil when the eventfd or
    /// the handler cannot be set up (then signals keep their default action).
    public static func armed(for signals: [Int32]) -> SandboxCancellation? {
        guard let cancellation = try? SandboxCancellation() else { return nil }
        do { try cancellation.cancelOnSignals(signals) } catch { return nil }
        return cancellation
    }

    /// The first signal that cancelled through ``cancelOnSignals(_:)``, if one did.
    public static var receivedSignal: Int32? {
        let signal = ruko_cancel_signal()
        return signal == 0 ? nil : signal
    }

    /// Blocks until this handle is cancelled or the peer of `peer` goes away (POLLERR/POLLHUP:
    /// the reader of a pipe's write end exited, a socket was closed — for example the SSH
    /// channel when the client hangs up). Returns true when the peer went away. Run it on a
    /// thread of its own and call ``cancel()`` when it returns true.
    public func waitForCancellation(orHangUpOf peer: Int32) -> Bool {
        while true {
            var fds = [
                pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: peer, events: 0, revents: 0),
            ]
            guard case .success = Syscall.poll(&fds, timeoutMilliseconds: -1) else { return false }
            if fds[0].revents != 0 { return false }
            if (fds[1].revents & Int16(POLLNVAL)) != 0 { return false }
            if (fds[1].revents & (Int16(POLLERR) | Int16(POLLHUP))) != 0 { return true }
        }
    }

    deinit {
        ruko_cancel_forget(descriptor)
        Syscall.close(descriptor)
    }
}

/// Runs commands in fresh sandboxes: namespaces, a read-only root built from a template,
/// a cgroup with limits, no capabilities, no_new_privs, seccomp, an unprivileged user.
public enum Sandbox {
    private static let runCounter = Atomic<Int>(0)

    /// Runs `configuration` to completion on the calling thread (the container's init dies with
    /// the thread that started it, so start and wait belong together). `signals` are blocked in
    /// this thread while the container runs and forwarded to it.
    public static func run(
        _ configuration: SandboxConfiguration,
        cancellation: SandboxCancellation? = nil,
        forwardingSignals signals: [Int32] = []
    ) throws(SandboxError) -> SandboxOutcome {
        if let cancellation, cancellation.isCancelled {
            // Cancelled before it started (the client already hung up): start nothing.
            return SandboxOutcome(termination: .cancelled, oomKilled: false, warnings: [])
        }
        let kernel = LinuxKernel()
        let prepared = try prepare(configuration, kernel: kernel)
        let cgroups = CgroupManager(kernel: kernel)
        var signalFD: Int32 = -1
        if !signals.isEmpty {
            signalFD = signals.withUnsafeBufferPointer { buf in
                buf.baseAddress.map { ruko_signalfd_for($0, buf.count) } ?? -1
            }
        }
        defer {
            if signalFD >= 0 {
                Syscall.close(signalFD)
                signals.withUnsafeBufferPointer { buf in buf.baseAddress.map { ruko_unblock_signals($0, buf.count) } }
            }
        }

        let cgroup: RunCgroup
        do {
            let root = try cgroups.discoverRoot(explicit: configuration.cgroupRoot)
            cgroups.sweepStale(in: root)
            let name = "\(getpid())-\(runCounter.wrappingAdd(1, ordering: .relaxed).oldValue)"
            cgroup = try cgroups.create(
                in: root, name: name, limits: configuration.limits,
                allowMissingControllers: configuration.allowMissingControllers)
        } catch {
            throw SandboxError(exitStatus: 125, description: error.description)
        }
        defer { try? cgroups.destroy(cgroup.path) }

        var request = prepared.request
        let cgroupFD: Int32
        do {
            cgroupFD = try Syscall.open(cgroup.path, O_RDONLY | O_DIRECTORY)
        } catch {
            throw SandboxError(exitStatus: 125, description: error.description)
        }
        defer { Syscall.close(cgroupFD) }
        request.cgroupDescriptor = cgroupFD

        let container: SpawnedContainer
        do {
            container = try Spawner.spawn(request)
        } catch {
            throw SandboxError(exitStatus: 125, description: error.description)
        }
        defer {
            Syscall.close(container.pidfd)
            Syscall.close(container.reportDescriptor)
        }

        let deadline = configuration.timeout.map { monotonicMilliseconds() + milliseconds($0) }
        var timedOut = false
        var cancelled = false
        var initStatus: Int32 = 0
        supervise: while true {
            var fds = [pollfd(fd: container.pidfd, events: Int16(POLLIN), revents: 0)]
            if signalFD >= 0 { fds.append(pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)) }
            if let cancellation { fds.append(pollfd(fd: cancellation.descriptor, events: Int16(POLLIN), revents: 0)) }
            var wait: Int32 = -1
            if let deadline, !timedOut && !cancelled {
                wait = Int32(clamping: max(0, deadline - monotonicMilliseconds()))
            }
            _ = Syscall.poll(&fds, timeoutMilliseconds: wait)
            if fds[0].revents != 0, ruko_pidfd_wait(container.pidfd, &initStatus, 1) == 0 {
                break supervise
            }
            var index = 1
            if signalFD >= 0 {
                if fds[index].revents != 0 {
                    while case let sig = ruko_signalfd_read(signalFD), sig > 0 {
                        _ = ruko_pidfd_send_signal(container.pidfd, sig)
                    }
                }
                index += 1
            }
            if cancellation != nil, fds[index].revents != 0, !cancelled {
                cancelled = true
                stop(container, cgroup: cgroup, manager: cgroups)
            }
            if let deadline, !timedOut, !cancelled, monotonicMilliseconds() >= deadline {
                timedOut = true
                stop(container, cgroup: cgroup, manager: cgroups)
            }
        }
        Syscall.close(container.lifelineDescriptor)
        _ = ruko_set_nonblocking(container.reportDescriptor)
        let reports = Spawner.readReports(container.reportDescriptor)
        let oom = cgroups.oomKills(cgroup) > 0

        var termination: SandboxOutcome.Termination
        if timedOut {
            termination = .timedOut
        } else if cancelled {
            termination = .cancelled
        } else if let report = reports.first {
            switch report {
            case .setupFailed(let stage, let err, let index):
                throw SandboxError(
                    exitStatus: 125,
                    description: setupFailure(stage: stage, errno: err, index: index, prepared: prepared))
            case .execFailed(let err):
                let name = configuration.command.first ?? ""
                if err == ENOENT || err == ENOTDIR {
                    throw SandboxError(
                        exitStatus: 127,
                        description: "\(name): command not found in the container (PATH=\(prepared.request.searchPath))"
                    )
                }
                let status: Int32 = [EACCES, ENOEXEC, EISDIR, EPERM, ETXTBSY].contains(err) ? 126 : 125
                throw SandboxError(
                    exitStatus: status,
                    description: SystemError(
                        "execve", path: name, errno: err, hint: status == 126 ? "the command is not executable" : nil
                    ).description)
            case .exited(let status):
                termination = decode(status)
            }
        } else {
            // init died without a word: killed from outside (or by the OOM killer).
            termination = decode(initStatus)
            if case .exited = termination {
                throw SandboxError(
                    exitStatus: 125,
                    description: "container init exited (status \(initStatus >> 8)) before starting the command")
            }
        }
        return SandboxOutcome(termination: termination, oomKilled: oom, warnings: cgroup.warnings)
    }

    /// Everything computed before the clone: the plan, the filter, the spawn request.
    struct Prepared {
        var request: SpawnRequest
        var steps: [MountStep]
        var rootfs: String
    }

    static func prepare(_ configuration: SandboxConfiguration, kernel: any Kernel) throws(SandboxError) -> Prepared {
        guard let first = configuration.command.first, !first.isEmpty else {
            throw SandboxError.usage("no command given")
        }
        let template = configuration.template
        var entries = template.entries
        let appDestination = template.appDestination
        if let app = configuration.appDirectory {
            guard kernel.fileKind(app) == .directory || Syscall.fileKindFollowing(app) == .directory else {
                throw SandboxError.usage("--app \(app): not a directory")
            }
            entries.append(.bind(source: app, destination: appDestination, readOnly: false, optional: false))
        } else if !entries.contains(where: { entry in
            if case .directory(let p, _) = entry { return p == appDestination }
            return false
        }) {
            entries.append(.directory(path: appDestination, mode: 0o755))
        }
        for bind in configuration.binds {
            guard Syscall.fileKindFollowing(bind.source) != nil else {
                throw SandboxError.usage("--bind \(bind.source):\(bind.destination): the source does not exist")
            }
            entries.append(
                .bind(source: bind.source, destination: bind.destination, readOnly: bind.readOnly, optional: false))
        }
        var environment = template.environment
        environment["HOME"] = configuration.appDirectory != nil ? appDestination : "/"
        for (key, value) in configuration.environment {
            guard !key.isEmpty, !key.contains("="), !key.contains("\0"), !value.contains("\0") else {
                throw SandboxError.usage("bad environment variable name '\(key)'")
            }
            environment[key] = value
        }
        if let account = template.account {
            entries += try account.fileEntries(
                for: configuration.user, defaultHome: environment["HOME"] ?? "/", in: entries, kernel: kernel)
        }
        let rootfs = configuration.rootfsMountPoint
        let steps: [MountStep]
        do {
            steps = try MountPlanner(kernel: kernel).plan(entries, root: rootfs)
        } catch {
            throw SandboxError.usage(error.description)
        }
        do {
            _ = try Syscall.makeDirectory(parentDirectory(rootfs), mode: 0o700)
            _ = try Syscall.makeDirectory(rootfs, mode: 0o700)
        } catch {
            throw SandboxError(exitStatus: 125, description: error.description)
        }

        let program: SeccompProgram
        do {
            program = try SeccompCompiler.defaultProgram.get()
        } catch {
            throw SandboxError(exitStatus: 125, description: error.description)
        }

        var namespaces = Namespace.mount | Namespace.pid | Namespace.uts | Namespace.ipc | Namespace.cgroup
        if configuration.network == .none { namespaces |= Namespace.network }
        var request = SpawnRequest(namespaces: namespaces, rootfs: rootfs, arguments: configuration.command)
        request.steps = steps
        request.hostname = configuration.hostname ?? template.hostname ?? "ruko"
        request.loopbackUp = configuration.network == .none
        request.environment = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        request.searchPath = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        request.workingDirectory =
            configuration.workingDirectory ?? (configuration.appDirectory != nil ? appDestination : "/")
        request.uid = configuration.user.uid
        request.gid = configuration.user.gid
        request.standardIO = (configuration.standardInput, configuration.standardOutput, configuration.standardError)
        request.resourceLimits = [
            ResourceLimit(resource: Int32(RLIMIT_CORE.rawValue), soft: 0, hard: 0),
            nofileLimit(),
        ]
        request.lastCapability = Capabilities.lastCapability
        request.seccompFilter = program.bytes
        // RUKO_FORCE_REMOUNT_FALLBACK=1 exercises the path for kernels without mount_setattr.
        request.forceRemountFallback = getenvString("RUKO_FORCE_REMOUNT_FALLBACK") == "1"
        return Prepared(request: request, steps: steps, rootfs: rootfs)
    }

    /// The command's open-file limit: 65536, or less when ruko-run's own hard limit is lower
    /// (it is never raised).
    private static func nofileLimit() -> ResourceLimit {
        var current = rlimit()
        let hard = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &current) == 0 ? UInt64(current.rlim_max) : 1024
        let value = min(hard, 65536)
        return ResourceLimit(resource: Int32(RLIMIT_NOFILE.rawValue), soft: value, hard: value)
    }

    private static func stop(_ container: SpawnedContainer, cgroup: RunCgroup, manager: CgroupManager) {
        manager.killAll(cgroup.path)
        _ = ruko_pidfd_send_signal(container.pidfd, SIGKILL)
    }

    private static func decode(_ status: Int32) -> SandboxOutcome.Termination {
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    private static func setupFailure(stage: Int32, errno: Int32, index: Int32, prepared: Prepared) -> String {
        var what = Spawner.stageName(stage)
        var path: String?
        if index >= 0, Int(index) < prepared.steps.count, stage == Int32(RUKO_STAGE_MOUNT_OP.rawValue) {
            let step = prepared.steps[Int(index)]
            what = step.summary
            path = "(container path \(step.containerPath(root: prepared.rootfs)))"
        }
        var hint: String?
        switch errno {
        case EPERM: hint = "ruko-run needs root (CAP_SYS_ADMIN) to build the container"
        case ENOENT: hint = "a path the template or a --bind names does not exist"
        case EROFS: hint = "the destination is inside a read-only bind; choose a destination outside it"
        default: break
        }
        return "container setup failed: " + SystemError(what, path: path, errno: errno, hint: hint).description
    }
}

func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

func milliseconds(_ d: Duration) -> Int64 {
    let (s, atto) = d.components
    return s * 1000 + atto / 1_000_000_000_000_000
}
