import RukoSystem

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Limits written into a run's cgroup. Each needs its controller in the cgroup v2 hierarchy.
public struct CgroupLimits: Sendable, Equatable {
    /// `memory.max` in bytes (swap is disabled with `memory.swap.max = 0`).
    public var memoryBytes: UInt64?
    /// `pids.max`.
    public var pids: Int?
    /// `cpu.max` as a number of CPUs (0.5 = half a CPU).
    public var cpus: Double?

    /// Creates a set of limits; nil means unlimited.
    public init(memoryBytes: UInt64? = nil, pids: Int? = nil, cpus: Double? = nil) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.cpus = cpus
    }

    /// The controllers these limits need, with the option that asked for each.
    var required: [(controller: String, option: String)] {
        var r: [(String, String)] = []
        if memoryBytes != nil { r.append(("memory", "--memory")) }
        if pids != nil { r.append(("pids", "--pids")) }
        if cpus != nil { r.append(("cpu", "--cpus")) }
        return r
    }
}

/// Where ruko's per-run cgroups live.
public struct CgroupRoot: Sendable, Equatable {
    /// The cgroup v2 mount point (`/sys/fs/cgroup` or `/sys/fs/cgroup/unified`).
    public var mountPoint: String
    /// The delegated directory under which each run gets a cgroup (`<mount>/ruko` by default).
    public var path: String
    /// Whether ruko may enable controllers on the way down from the mount point (false for an
    /// explicit `--cgroup-root`, whose parents belong to someone else).
    public var ownsAncestors: Bool
}

/// One run's cgroup, created by ``CgroupManager/create(in:limits:allowMissingControllers:)``.
public struct RunCgroup: Sendable, Equatable {
    /// The cgroup directory.
    public var path: String
    /// Warnings about limits that could not be applied (with `allowMissingControllers`).
    public var warnings: [String]
    /// Whether the memory controller is active (so `memory.events` can report OOM kills).
    public var hasMemoryController: Bool

    /// Describes an existing run cgroup.
    public init(path: String, warnings: [String], hasMemoryController: Bool) {
        self.path = path
        self.warnings = warnings
        self.hasMemoryController = hasMemoryController
    }
}

/// Creates, limits, kills and removes per-run cgroups in a cgroup v2 hierarchy, through ``Kernel``.
///
/// It never touches v1 hierarchies: on a hybrid host it works in `/sys/fs/cgroup/unified` only.
public struct CgroupManager: Sendable {
    let kernel: any Kernel

    /// Creates a manager over `kernel`.
    public init(kernel: any Kernel) {
        self.kernel = kernel
    }

    /// Finds (and creates when needed) the delegated root: `explicit` when given, else `ruko` under
    /// the cgroup v2 mount (`/sys/fs/cgroup` on a pure v2 host, `/sys/fs/cgroup/unified` on a hybrid one).
    public func discoverRoot(explicit: String? = nil) throws(SystemError) -> CgroupRoot {
        if let explicit {
            let path = explicit.count > 1 && explicit.hasSuffix("/") ? String(explicit.dropLast()) : explicit
            guard
                kernel.filesystemMagic(path) == FilesystemMagic.cgroup2
                    || kernel.filesystemMagic(parentPath(path)) == FilesystemMagic.cgroup2
            else {
                throw SystemError(
                    "use cgroup root", path: path, errno: 0,
                    hint: "--cgroup-root must name a directory in a cgroup v2 hierarchy (or a new one inside it)")
            }
            try kernel.makeDirectory(path, mode: 0o755)
            return CgroupRoot(mountPoint: path, path: path, ownsAncestors: false)
        }
        for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        where kernel.filesystemMagic(mount) == FilesystemMagic.cgroup2 {
            let path = mount + "/ruko"
            do {
                try kernel.makeDirectory(path, mode: 0o755)
            } catch {
                throw SystemError(
                    error.operation, path: error.path, errno: error.errno,
                    hint:
                        "ruko-run needs to create its cgroup root; run as root or pass --cgroup-root with a delegated cgroup"
                )
            }
            return CgroupRoot(mountPoint: mount, path: path, ownsAncestors: true)
        }
        throw SystemError(
            "find cgroup v2 hierarchy", path: "/sys/fs/cgroup", errno: ENOENT,
            hint: "mount one (mount -t cgroup2 none /sys/fs/cgroup) or pass --cgroup-root PATH")
    }

    /// Creates the cgroup for one run under `root`, enabling the controllers `limits` need and
    /// writing the limits. A missing controller is an error naming it and the fix, unless
    /// `allowMissingControllers`, when it becomes a warning.
    public func create(
        in root: CgroupRoot, name: String, limits: CgroupLimits, allowMissingControllers: Bool
    ) throws(SystemError) -> RunCgroup {
        var warnings: [String] = []
        var active = Set<String>()
        for (controller, option) in limits.required {
            if try enable(controller, in: root) {
                active.insert(controller)
                continue
            }
            let available =
                (try? kernel.readFile(root.path + "/cgroup.controllers"))?
                .split(whereSeparator: \.isWhitespace).joined(separator: " ") ?? ""
            let where_ =
                "the cgroup v2 hierarchy at \(root.path) (available: \(available.isEmpty ? "none" : available))"
            if allowMissingControllers {
                warnings.append("\(controller) controller missing in \(where_); \(option) is not enforced")
                continue
            }
            throw SystemError(
                "\(option) needs the \(controller) controller, which is missing in \(where_)", errno: 0,
                hint: "Fix: boot with a pure cgroup v2 hierarchy "
                    + "(systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all), or enable it with "
                    + "'echo +\(controller) > \(root.path)/cgroup.subtree_control' (and in its parents), "
                    + "or pass --allow-missing-controllers to run without \(option)")
        }
        let path = root.path + "/" + name
        try kernel.makeDirectory(path, mode: 0o755)
        do {
            if let bytes = limits.memoryBytes, active.contains("memory") {
                try kernel.writeFile(path + "/memory.max", String(bytes))
                if kernel.fileKind(path + "/memory.swap.max") != nil {
                    try kernel.writeFile(path + "/memory.swap.max", "0")
                }
            }
            if let pids = limits.pids, active.contains("pids") {
                try kernel.writeFile(path + "/pids.max", String(pids))
            }
            if let cpus = limits.cpus, active.contains("cpu") {
                let period = 100_000
                let quota = max(1000, Int((cpus * Double(period)).rounded()))
                try kernel.writeFile(path + "/cpu.max", "\(quota) \(period)")
            }
        } catch {
            try? kernel.removeDirectory(path)
            throw error
        }
        return RunCgroup(path: path, warnings: warnings, hasMemoryController: active.contains("memory"))
    }

    /// Makes `controller` available to children of `root.path`. Returns false when the hierarchy
    /// does not offer it.
    func enable(_ controller: String, in root: CgroupRoot) throws(SystemError) -> Bool {
        if words(root.path + "/cgroup.subtree_control").contains(controller) { return true }
        var chain = [root.path]
        if root.ownsAncestors {
            var p = root.path
            while p != root.mountPoint && p.count > root.mountPoint.count {
                p = parentPath(p)
                chain.insert(p, at: 0)
            }
        }
        guard words(chain[0] + "/cgroup.controllers").contains(controller) else { return false }
        for level in chain where !words(level + "/cgroup.subtree_control").contains(controller) {
            do {
                try kernel.writeFile(level + "/cgroup.subtree_control", "+" + controller)
            } catch {
                throw SystemError(
                    "enable +\(controller) in", path: level + "/cgroup.subtree_control", errno: error.errno,
                    hint: error.errno == EBUSY
                        ? "that cgroup has processes of its own (the no-internal-processes rule); give ruko a delegated cgroup with --cgroup-root"
                        : nil)
            }
        }
        return true
    }

    /// The number of OOM kills recorded in the run's `memory.events`.
    public func oomKills(_ cgroup: RunCgroup) -> Int {
        guard cgroup.hasMemoryController, let text = try? kernel.readFile(cgroup.path + "/memory.events") else {
            return 0
        }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == "oom_kill" { return Int(parts[1]) ?? 0 }
        }
        return 0
    }

    /// Whether any process is left in the cgroup (`cgroup.events` `populated`).
    public func isPopulated(_ path: String) -> Bool {
        guard let text = try? kernel.readFile(path + "/cgroup.events") else { return false }
        return text.split(separator: "\n").contains("populated 1")
    }

    /// Kills every process in the cgroup: `cgroup.kill`, or freeze + SIGKILL each + thaw where
    /// `cgroup.kill` does not exist (kernels before 5.14).
    public func killAll(_ path: String) {
        if kernel.fileKind(path + "/cgroup.kill") != nil, (try? kernel.writeFile(path + "/cgroup.kill", "1")) != nil {
            return
        }
        try? kernel.writeFile(path + "/cgroup.freeze", "1")
        if let procs = try? kernel.readFile(path + "/cgroup.procs") {
            for line in procs.split(separator: "\n") {
                if let pid = Int32(line) { _ = Syscall.kill(pid, SIGKILL) }
            }
        }
        try? kernel.writeFile(path + "/cgroup.freeze", "0")
    }

    /// Kills what is left, waits until the cgroup is empty, and removes it (retrying on EBUSY).
    public func destroy(_ path: String, deadlineMilliseconds: Int = 5000) throws(SystemError) {
        guard kernel.fileKind(path) != nil else { return }
        if isPopulated(path) { killAll(path) }
        var waited = 0
        while true {
            do {
                try kernel.removeDirectory(path)
                return
            } catch  where error.errno == EBUSY && waited < deadlineMilliseconds {
                if waited % 100 == 99 { killAll(path) }
                usleep(1000)
                waited += 1
            } catch  where error.errno == ENOENT {
                return
            }
        }
    }

    /// Removes cgroups left by runs whose ruko process is gone (a SIGKILLed ruko-run cannot clean
    /// up after itself). Names are `<pid>-<n>`; live pids are left alone.
    public func sweepStale(in root: CgroupRoot) {
        guard let names = try? kernel.listDirectory(root.path) else { return }
        for name in names {
            guard let dash = name.firstIndex(of: "-"), let pid = Int32(name[..<dash]) else { continue }
            let path = root.path + "/" + name
            guard kernel.fileKind(path) == .directory, !kernel.processExists(pid) else { continue }
            try? destroy(path, deadlineMilliseconds: 1000)
        }
    }

    private func words(_ path: String) -> Set<String> {
        Set(((try? kernel.readFile(path)) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
    }
}

func parentPath(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
    return String(path[..<slash])
}
