import RukoMount
import RukoSystem

// The files behind ``UserAccount``, apart from the type so the template parser builds without
// the sandbox (scripts/fuzz.sh compiles RootfsTemplate and UserAccount alone).
extension UserAccount {
    /// `/etc/passwd` and `/etc/group` file entries for `user` (home: ``home``, else `defaultHome`,
    /// the sandbox's HOME), built from the files the earlier `entries` put at those paths. An id
    /// already listed needs no line (root, or a host user); a file that is not a regular file on
    /// the host (a symlink, say) is left alone.
    func fileEntries(
        for user: SandboxUser, defaultHome: String, in entries: [MountEntry], kernel: any Kernel
    ) throws(SandboxError) -> [MountEntry] {
        // HOME comes from the caller's environment: nothing in it may break the line's fields.
        let chosen = home ?? defaultHome
        let home = chosen.contains(":") || chosen.contains("\n") || chosen.isEmpty ? "/" : chosen
        var result: [MountEntry] = []
        // A local function, not an array of (path, id, closure) tuples: this runs at every sandbox
        // start, and a new generic type costs a metadata lookup the first time it is used.
        func add(_ path: String, id: UInt32, line: (String) -> String) throws(SandboxError) {
            if let base = try Self.baseFile(path, entries: entries, kernel: kernel),
                let line = Self.missingLine(in: base, id: id, preferredName: name, format: line)
            {
                result.append(.file(path: path, contents: Self.appending(line, to: base), mode: 0o644))
            }
        }
        try add("/etc/passwd", id: user.uid) { "\($0):x:\(user.uid):\(user.gid):\($0):\(home):\(shell)" }
        try add("/etc/group", id: user.gid) { "\($0):x:\(user.gid):" }
        return result
    }

    /// The contents the container would see at `path`: the host file behind the last bind
    /// covering it, "" when nothing binds it (an empty tmpfs), nil when it must not be replaced.
    static func baseFile(_ path: String, entries: [MountEntry], kernel: any Kernel) throws(SandboxError) -> String? {
        for entry in entries.reversed() {
            switch entry {
            case .bind(let source, let destination, _, _)
            where path == destination || path.hasPrefix(destination + "/"):
                let hostPath = source + String(path.dropFirst(destination.count))
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
}
