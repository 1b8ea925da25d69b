import RukoMount
import RukoSystem

/// The run user's name in the container (template directive `user NAME [HOME [SHELL]]`).
///
/// The sandbox's uid (10001 by default) has no entry in the host's /etc/passwd. Without one,
/// every `getpwuid()` misses: `whoami` and `id -un` fail, git refuses to commit without a name,
/// node's `os.userInfo()` throws, and glibc falls through /etc/passwd to the next NSS module
/// (libnss_systemd on Debian), which loads a library and probes userdb directories in every
/// bash that starts. With this directive the container sees the host's /etc/passwd and
/// /etc/group plus one line each for the run uid and gid, as read-only files of its own.
public struct UserAccount: Sendable, Equatable {
    /// The login name (`ruko`); `NAME-UID` when the host already uses the name for another id.
    public var name: String
    /// The home directory; nil means the sandbox's HOME (the app directory when one is bound).
    public var home: String?
    /// The login shell.
    public var shell: String

    /// Creates an account description.
    public init(name: String, home: String? = nil, shell: String = "/bin/sh") {
        self.name = name
        self.home = home
        self.shell = shell
    }

    /// Whether `name` is a portable user name: a lowercase letter or `_`, then lowercase letters,
    /// digits, `_` or `-`, at most 32 bytes.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 32, first == UInt8(ascii: "_") || (0x61...0x7A).contains(first)
        else { return false }
        return bytes.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F || $0 == 0x2D }
    }

    /// `/etc/passwd` and `/etc/group` file entries for `user` (home: ``home``, else `defaultHome`,
    /// the sandbox's HOME), built from the files the earlier `entries` put at those paths. An id already listed needs no line (root, or a host user);
    /// a file that is not a regular file on the host (a symlink, say) is left alone.
    func fileEntries(
        for user: SandboxUser, defaultHome: String, in entries: [MountEntry], kernel: any Kernel
    ) throws(SandboxError) -> [MountEntry] {
        // HOME comes from the caller's environment: nothing in it may break the line's fields.
        let chosen = home ?? defaultHome
        let home = chosen.contains(":") || chosen.contains("\n") || chosen.isEmpty ? "/" : chosen
        var files: [MountEntry] = []
        let passwd = "/etc/passwd"
        if let base = try Self.baseFile(passwd, entries: entries, kernel: kernel),
            let line = Self.missingLine(
                in: base, id: user.uid, preferredName: name,
                format: { name in
                    "\(name):x:\(user.uid):\(user.gid):\(name):\(home):\(shell)"
                })
        {
            files.append(.file(path: passwd, contents: Self.appending(line, to: base), mode: 0o644))
        }
        let group = "/etc/group"
        if let base = try Self.baseFile(group, entries: entries, kernel: kernel),
            let line = Self.missingLine(in: base, id: user.gid, preferredName: name, format: { "\($0):x:\(user.gid):" })
        {
            files.append(.file(path: group, contents: Self.appending(line, to: base), mode: 0o644))
        }
        return files
    }

    /// The contents the container would see at `path`: the host file behind the last bind
    /// covering it, "" when nothing binds it (an empty tmpfs), nil when it must not be replaced.
    static func baseFile(_ path: String, entries: [MountEntry], kernel: any Kernel) throws(SandboxError) -> String? {
        for entry in entries.reversed() {
            switch entry {
            case .bind(let source, let destination, _, _)
            where path == destination || path.hasPrefix(destination + "/"):
                let hostPath = source + path.dropFirst(destination.count)
                switch kernel.fileKind(hostPath) {
                case nil:
                    return ""
                case .regular:
                    do {
                        return try kernel.readFile(hostPath)
                    } catch {
                        throw SandboxError(
                            exitStatus: 125,
                            description: "reading \(hostPath) for the run user's entry in \(path): \(error.description)"
                        )
                    }
                default:
                    return nil
                }
            case .tmpfs(let destination, _) where path.hasPrefix(destination + "/"):
                return ""
            case .file(let filePath, _, _) where filePath == path:
                return nil
            default:
                continue
            }
        }
        return ""
    }

    /// The line to add for `id`, or nil when a line already has that id (field 3) or no name is
    /// free.
    static func missingLine(in text: String, id: UInt32, preferredName: String, format: (String) -> String) -> String? {
        var names: Set<Substring> = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count >= 3 else { continue }
            if UInt32(fields[2]) == id { return nil }
            names.insert(fields[0])
        }
        for candidate in [preferredName, "\(preferredName)-\(id)"] where !names.contains(Substring(candidate)) {
            return format(candidate)
        }
        return nil
    }

    static func appending(_ line: String, to base: String) -> String {
        base.isEmpty || base.hasSuffix("\n") ? base + line + "\n" : base + "\n" + line + "\n"
    }
}
