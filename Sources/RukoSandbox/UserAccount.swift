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

    /// The line to add for `id`, or nil when a line already has that id (field 3) or no name is
    /// free. (A plain byte scan: this runs before every sandbox start, and Swift's generic
    /// `split`/`Set<Substring>` cost more in first-use metadata lookups than the whole file.)
    static func missingLine(in text: String, id: UInt32, preferredName: String, format: (String) -> String) -> String? {
        let bytes = Array(text.utf8)
        let idBytes = Array(String(id).utf8)
        let candidates = [preferredName, "\(preferredName)-\(id)"].map { Array($0.utf8) }
        var taken = [false, false]
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            // Fields 1 and 3: the name and the id, between the first three colons.
            var colons = (first: -1, second: -1, third: -1)
            var i = lineStart
            while i < lineEnd && colons.third < 0 {
                if bytes[i] == 0x3A {
                    if colons.first < 0 {
                        colons.first = i
                    } else if colons.second < 0 {
                        colons.second = i
                    } else {
                        colons.third = i
                    }
                }
                i += 1
            }
            if colons.third >= 0 {
                if bytes[(colons.second + 1)..<colons.third].elementsEqual(idBytes) { return nil }
                for index in candidates.indices where bytes[lineStart..<colons.first].elementsEqual(candidates[index]) {
                    taken[index] = true
                }
            }
            lineStart = lineEnd + 1
        }
        guard let free = taken.firstIndex(of: false) else { return nil }
        return format(free == 0 ? preferredName : "\(preferredName)-\(id)")
    }

    static func appending(_ line: String, to base: String) -> String {
        base.isEmpty || base.hasSuffix("\n") ? base + line + "\n" : base + "\n" + line + "\n"
    }
}
