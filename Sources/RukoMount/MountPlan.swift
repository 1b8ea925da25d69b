import RukoSystem

/// Mount flags and mount_setattr attributes used in plans (values from <sys/mount.h> and
/// <linux/mount.h>, spelled out so plans are plain data).
public enum MountFlags {
    public static let readOnly: UInt64 = 0x1  // MS_RDONLY
    public static let noSuid: UInt64 = 0x2  // MS_NOSUID
    public static let noDev: UInt64 = 0x4  // MS_NODEV
    public static let noExec: UInt64 = 0x8  // MS_NOEXEC
}

/// mount_setattr(2) attributes.
public enum MountAttributes {
    public static let readOnly: UInt64 = 0x1  // MOUNT_ATTR_RDONLY
    public static let noSuid: UInt64 = 0x2  // MOUNT_ATTR_NOSUID
    public static let noDev: UInt64 = 0x4  // MOUNT_ATTR_NODEV
    public static let noExec: UInt64 = 0x8  // MOUNT_ATTR_NOEXEC
}

/// What a container's filesystem is made of, in container paths, before it is turned into steps.
public enum MountEntry: Sendable, Equatable {
    /// Bind a host path. Read-only binds become read-only recursively (submounts too), keeping the
    /// flags the kernel locked; every bind is nosuid and nodev. `optional` skips a missing source.
    case bind(source: String, destination: String, readOnly: Bool, optional: Bool)
    /// A fresh tmpfs (nosuid, nodev) with mount options such as `size=256m,mode=1777`.
    case tmpfs(destination: String, options: String)
    /// A fresh procfs for the container's pid namespace (nosuid, nodev, noexec).
    case proc(destination: String)
    /// A minimal /dev: null zero full random urandom tty, devpts (newinstance), shm, std links.
    case dev(destination: String)
    /// Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory.
    case mask(path: String)
    /// Make a path read-only (bound onto itself, then read-only).
    case readOnly(path: String)
    /// A symlink in the container's root.
    case symlink(target: String, path: String)
    /// A directory in the container's root.
    case directory(path: String, mode: UInt32)
    /// A read-only file with these contents (no NUL bytes), made in the root tmpfs and bound at
    /// `path`, so it can replace a file inside a host bind (`/etc/passwd`) without touching the host.
    case file(path: String, contents: String, mode: UInt32)
}

/// One executable step of a mount plan, in host paths under the new root (run before pivot_root).
public enum MountStep: Sendable, Equatable {
    case makeDirectory(path: String, mode: UInt32)
    case symlink(target: String, path: String)
    case mount(source: String, target: String, fstype: String, flags: UInt64, data: String?)
    case bind(source: String, target: String, recursive: Bool, flags: UInt64, optional: Bool)
    case setAttributes(target: String, set: UInt64, clear: UInt64, recursive: Bool, optional: Bool)
    case mask(target: String)
    /// Write `contents` to a new file at `staging` (in the root tmpfs), bind it on `target`, remove
    /// `staging`.
    case writeFile(staging: String, target: String, contents: String, mode: UInt32)

    /// The container path a step is about, for error messages (`/usr`, `/proc/kcore`).
    public func containerPath(root: String) -> String {
        let host: String
        switch self {
        case .makeDirectory(let p, _), .symlink(_, let p): host = p
        case .mount(_, let t, _, _, _), .bind(_, let t, _, _, _), .setAttributes(let t, _, _, _, _), .mask(let t),
            .writeFile(_, let t, _, _):
            host = t
        }
        return host.hasPrefix(root) ? String(host.dropFirst(root.count)).nonEmpty ?? "/" : host
    }

    /// A short description for error messages.
    public var summary: String {
        switch self {
        case .makeDirectory(let p, _): return "mkdir \(p)"
        case .symlink(let t, let p): return "symlink \(p) -> \(t)"
        case .mount(let s, let t, let fs, _, _): return "mount \(fs) \(s) on \(t)"
        case .bind(let s, let t, _, _, _): return "bind \(s) on \(t)"
        case .setAttributes(let t, let set, _, _, _):
            return set & MountAttributes.readOnly != 0 ? "remount read-only \(t)" : "set mount flags on \(t)"
        case .mask(let t): return "mask \(t)"
        case .writeFile(_, let t, _, _): return "write \(t)"
        }
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}

/// Errors in a mount plan (bad destinations), found before anything is mounted.
public struct MountPlanError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong and what to do.
    public var description: String
}

/// Turns ``MountEntry``s into ``MountStep``s under `root`.
///
/// Order: every mount in entry order, then the read-only/nosuid/nodev attributes of every bind in
/// entry order (so a read-write bind nested in a read-only one is made writable again after the
/// recursive read-only pass), then nothing else: pivot_root and the read-only root are the
/// spawner's job.
public struct MountPlanner: Sendable {
    let kernel: any Kernel
    /// Device nodes bound into the minimal /dev.
    public static let deviceNodes = ["null", "zero", "full", "random", "urandom", "tty"]

    /// Creates a planner that inspects host paths through `kernel`.
    public init(kernel: any Kernel) {
        self.kernel = kernel
    }

    /// Plans `entries` under `root` (the directory the new root tmpfs is mounted on).
    public func plan(_ entries: [MountEntry], root: String) throws(MountPlanError) -> [MountStep] {
        var steps: [MountStep] = []
        var attributes: [MountStep] = []
        var readOnlyBinds: [(destination: String, source: String)] = []
        var allBinds: [(destination: String, source: String)] = []
        for (index, entry) in entries.enumerated() {
            switch entry {
            case .bind(let source, let destination, let readOnly, let optional):
                try checkDestination(destination)
                try checkExistsOnHost(destination, readOnlyBinds)
                let kind = kernel.fileKind(source)
                if kind == nil && !optional {
                    throw MountPlanError(description: "bind source \(source) does not exist")
                }
                if kind == nil { continue }
                // A host path that is a symlink to a relative target (merged /usr: /bin -> usr/bin)
                // is recreated as the same symlink when bound at its own path.
                if kind == .symlink, source == destination, let target = try? kernel.readLink(source),
                    !target.hasPrefix("/")
                {
                    steps.append(.symlink(target: target, path: root + destination))
                    continue
                }
                steps += parents(of: destination, root: root)
                steps.append(
                    .bind(source: source, target: root + destination, recursive: true, flags: 0, optional: optional))
                let set = MountAttributes.noSuid | MountAttributes.noDev | (readOnly ? MountAttributes.readOnly : 0)
                attributes.append(
                    .setAttributes(
                        target: root + destination, set: set, clear: readOnly ? 0 : MountAttributes.readOnly,
                        recursive: readOnly, optional: optional))
                if readOnly { readOnlyBinds.append((destination, source)) }
                allBinds.append((destination, source))
            case .tmpfs(let destination, let options):
                try checkDestination(destination)
                steps += parents(of: destination, root: root)
                steps.append(
                    .mount(
                        source: "tmpfs", target: root + destination, fstype: "tmpfs",
                        flags: MountFlags.noSuid | MountFlags.noDev, data: options))
            case .proc(let destination):
                try checkDestination(destination)
                steps += parents(of: destination, root: root)
                steps.append(
                    .mount(
                        source: "proc", target: root + destination, fstype: "proc",
                        flags: MountFlags.noSuid | MountFlags.noDev | MountFlags.noExec, data: nil))
            case .dev(let destination):
                try checkDestination(destination)
                steps += devSteps(root + destination)
            case .mask(let path):
                try checkDestination(path)
                steps.append(.mask(target: root + path))
            case .readOnly(let path):
                try checkDestination(path)
                steps.append(.bind(source: root + path, target: root + path, recursive: true, flags: 0, optional: true))
                attributes.append(
                    .setAttributes(
                        target: root + path,
                        set: MountAttributes.readOnly | MountAttributes.noSuid | MountAttributes.noDev,
                        clear: 0, recursive: true, optional: true))
            case .symlink(let target, let path):
                try checkDestination(path)
                steps += parents(of: path, root: root)
                steps.append(.symlink(target: target, path: root + path))
            case .directory(let path, let mode):
                try checkDestination(path)
                steps += parents(of: path, root: root)
                steps.append(.makeDirectory(path: root + path, mode: mode))
            case .file(let path, let contents, let mode):
                try checkDestination(path)
                guard !contents.utf8.contains(0) else {
                    throw MountPlanError(description: "the contents of \(path) contain a NUL byte")
                }
                try checkExistsOnHost(path, allBinds)
                steps += parents(of: path, root: root)
                steps.append(
                    .writeFile(
                        staging: root + "/.ruko-file-\(index)", target: root + path, contents: contents, mode: mode))
                // Inside a read-only bind, that bind's recursive attributes (applied after every
                // mount) already cover the file's own mount: no extra mount_setattr per start.
                if !readOnlyBinds.contains(where: { path.hasPrefix($0.destination + "/") }) {
                    attributes.append(
                        .setAttributes(
                            target: root + path,
                            set: MountAttributes.readOnly | MountAttributes.noSuid | MountAttributes.noDev
                                | MountAttributes.noExec, clear: 0, recursive: false, optional: false))
                }
            }
        }
        return steps + attributes
    }

    private func devSteps(_ dev: String) -> [MountStep] {
        var steps: [MountStep] = [
            .mount(
                source: "tmpfs", target: dev, fstype: "tmpfs", flags: MountFlags.noSuid | MountFlags.noExec,
                data: "mode=0755,size=64k")
        ]
        for node in Self.deviceNodes {
            steps.append(
                .bind(
                    source: "/dev/" + node, target: dev + "/" + node, recursive: false,
                    flags: MountFlags.noSuid | MountFlags.noExec, optional: false))
        }
        steps += [
            .mount(
                source: "devpts", target: dev + "/pts", fstype: "devpts",
                flags: MountFlags.noSuid | MountFlags.noExec, data: "newinstance,ptmxmode=0666,mode=0620"),
            .symlink(target: "pts/ptmx", path: dev + "/ptmx"),
            .mount(
                source: "shm", target: dev + "/shm", fstype: "tmpfs",
                flags: MountFlags.noSuid | MountFlags.noDev | MountFlags.noExec, data: "mode=1777,size=64m"),
            .symlink(target: "/proc/self/fd", path: dev + "/fd"),
            .symlink(target: "/proc/self/fd/0", path: dev + "/stdin"),
            .symlink(target: "/proc/self/fd/1", path: dev + "/stdout"),
            .symlink(target: "/proc/self/fd/2", path: dev + "/stderr"),
        ]
        return steps
    }

    /// mkdir steps for the parents of `path` (the root tmpfs is empty; mkdir of an existing
    /// directory is fine).
    private func parents(of path: String, root: String) -> [MountStep] {
        var steps: [MountStep] = []
        var current = ""
        let parts = path.split(separator: "/")
        for part in parts.dropLast() {
            current += "/" + part
            steps.append(.makeDirectory(path: root + current, mode: 0o755))
        }
        return steps
    }

    private func checkDestination(_ path: String) throws(MountPlanError) {
        guard ContainerPath.isAbsolute(path) else {
            throw MountPlanError(description: "container path \(path) must be absolute")
        }
        guard ContainerPath.isNormalized(path) else {
            throw MountPlanError(
                description: "container path \(path) must be normalised (no '.', '..', '//' or trailing '/')")
        }
        if path == "/" {
            throw MountPlanError(description: "cannot mount over the container's root /")
        }
    }

    /// A mount point under an earlier bind would be created in the host's directory (the bind is
    /// still writable while the plan runs): it must already exist there. Binds check against the
    /// read-only binds before them; file entries against every bind.
    private func checkExistsOnHost(_ destination: String, _ binds: [(destination: String, source: String)])
        throws(MountPlanError)
    {
        for bind in binds where destination.hasPrefix(bind.destination + "/") {
            let hostPath = bind.source + String(destination.dropFirst(bind.destination.count))
            if kernel.fileKind(hostPath) == nil {
                throw MountPlanError(
                    description:
                        "mount point \(destination) does not exist inside the bind of \(bind.source) at \(bind.destination); "
                        + "create \(hostPath) on the host or choose a destination outside \(bind.destination)")
            }
        }
    }
}

/// Byte-level checks of container paths, as the kernel sees them. (Swift's `Character` view would
/// merge a `/` into a grapheme with a preceding prepend character and hide a `..` component.)
public enum ContainerPath {
    /// PATH_MAX, in bytes.
    public static let maximumLength = 4096

    /// Starts with `/`, has no NUL and fits in PATH_MAX.
    public static func isAbsolute(_ path: String) -> Bool {
        let bytes = path.utf8
        return bytes.first == UInt8(ascii: "/") && !bytes.contains(0) && bytes.count < maximumLength
    }

    /// The components between slashes, as raw bytes.
    public static func components(_ path: String) -> [ArraySlice<UInt8>] {
        Array(path.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst().map { $0 }
    }

    /// Whether any component is `..`.
    public static func hasParentReference(_ path: String) -> Bool {
        components(path).contains { $0.elementsEqual("..".utf8) }
    }

    /// Absolute, and no `.`, `..` or empty component (no `//`, no trailing `/`), or exactly `/`.
    public static func isNormalized(_ path: String) -> Bool {
        guard isAbsolute(path) else { return false }
        if path == "/" { return true }
        return !components(path).contains { $0.isEmpty || $0.elementsEqual(".".utf8) || $0.elementsEqual("..".utf8) }
    }
}
