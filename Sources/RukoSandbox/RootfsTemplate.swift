import RukoMount
import RukoSystem

/// A declarative container layout: the file format of `rootfs-templates/` (documented in
/// docs/rootfs-templates.md). Templates are data, parsed here; nothing in them is executed.
///
/// ```
/// ro-bind /usr                 # read-only, recursive, nosuid, nodev
/// ro-bind? /lib64              # '?' = skip when the host lacks it
/// bind /srv/data /data         # read-write
/// tmpfs /tmp size=512m,mode=1777
/// proc /proc
/// dev /dev
/// mask /proc/kcore /proc/keys
/// read-only /proc/sys
/// dir /app 0755
/// symlink usr/bin /bin
/// app /app                     # where --app is bound
/// hostname ruko
/// env PATH=/usr/local/bin:/usr/bin:/bin
/// user ruko                    # the run uid's name in /etc/passwd and /etc/group
/// ```
public struct RootfsTemplate: Sendable, Equatable {
    /// The template's name (file name) or path, for messages.
    public var name: String
    /// Filesystem entries in order.
    public var entries: [MountEntry]
    /// Where the app directory is bound (default `/app`).
    public var appDestination: String
    /// Default host name.
    public var hostname: String?
    /// Default environment, overridden by the caller's.
    public var environment: [String: String]
    /// The run user's passwd/group entry, when the template asks for one (`user`).
    public var account: UserAccount?

    /// Creates a template from its parts.
    public init(
        name: String, entries: [MountEntry], appDestination: String = "/app", hostname: String? = nil,
        environment: [String: String] = [:], account: UserAccount? = nil
    ) {
        self.name = name
        self.entries = entries
        self.appDestination = appDestination
        self.hostname = hostname
        self.environment = environment
        self.account = account
    }

    /// Parses template text. Errors name the template, the line and what is wrong.
    public static func parse(_ text: String, name: String) throws(TemplateError) -> RootfsTemplate {
        var template = RootfsTemplate(name: name, entries: [])
        var lineNumber = 0
        // Bytes, not Characters: "\r\n" is one Character, and a combining or prepend character
        // could merge with the separators the kernel sees.
        for rawLine in Array(text.utf8).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let line =
                rawLine.split(separator: UInt8(ascii: "#"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
            let words = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D })
                .map { String(decoding: $0, as: UTF8.self) }
            guard let directive = words.first else { continue }
            let args = Array(words.dropFirst())
            func fail(_ why: String) -> TemplateError {
                TemplateError(template: name, line: lineNumber, message: why)
            }
            func paths(_ min: Int, _ max: Int) throws(TemplateError) -> [String] {
                guard args.count >= min, args.count <= max else {
                    throw fail(
                        "'\(directive)' takes \(min == max ? "\(min)" : "\(min) to \(max)") argument(s), got \(args.count)"
                    )
                }
                return args
            }
            func absolute(_ p: String) throws(TemplateError) -> String {
                guard ContainerPath.isAbsolute(p), !ContainerPath.hasParentReference(p) else {
                    throw fail("'\(p)' must be an absolute path without '..' (at most 4095 bytes)")
                }
                return p.utf8.count > 1 && p.hasSuffix("/") ? String(p.dropLast()) : p
            }
            switch directive {
            case "ro-bind", "ro-bind?", "bind", "bind?":
                let a = try paths(1, 2)
                let source = try absolute(a[0])
                let destination = try absolute(a.count == 2 ? a[1] : a[0])
                template.entries.append(
                    .bind(
                        source: source, destination: destination, readOnly: directive.hasPrefix("ro-"),
                        optional: directive.hasSuffix("?")))
            case "tmpfs":
                let a = try paths(1, 2)
                let options = a.count == 2 ? a[1] : "mode=0755"
                guard options.utf8.allSatisfy({ isASCIIAlphanumeric($0) || "=,_-".utf8.contains($0) }) else {
                    throw fail("tmpfs options '\(options)' may contain only letters, digits and = , _ -")
                }
                template.entries.append(.tmpfs(destination: try absolute(a[0]), options: options))
            case "proc":
                template.entries.append(.proc(destination: try absolute(try paths(1, 1)[0])))
            case "dev":
                template.entries.append(.dev(destination: try absolute(try paths(1, 1)[0])))
            case "mask", "read-only":
                let a = try paths(1, 64)
                for p in a {
                    let path = try absolute(p)
                    template.entries.append(directive == "mask" ? .mask(path: path) : .readOnly(path: path))
                }
            case "dir":
                let a = try paths(1, 2)
                var mode: UInt32 = 0o755
                if a.count == 2 {
                    guard let m = UInt32(a[1], radix: 8), m <= 0o7777 else {
                        throw fail("bad mode '\(a[1])' (octal, e.g. 0755)")
                    }
                    mode = m
                }
                template.entries.append(.directory(path: try absolute(a[0]), mode: mode))
            case "symlink":
                let a = try paths(2, 2)
                guard !a[0].isEmpty, !a[0].contains("\0") else { throw fail("empty symlink target") }
                template.entries.append(.symlink(target: a[0], path: try absolute(a[1])))
            case "app":
                template.appDestination = try absolute(try paths(1, 1)[0])
            case "hostname":
                let h = try paths(1, 1)[0]
                guard h.count <= 64,
                    h.utf8.allSatisfy({ isASCIIAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") })
                else {
                    throw fail("bad hostname '\(h)'")
                }
                template.hostname = h
            case "env":
                let a = try paths(1, 1)
                let bytes = Array(a[0].utf8)
                guard let eq = bytes.firstIndex(of: UInt8(ascii: "=")), eq != 0, !bytes.contains(0) else {
                    throw fail("env takes KEY=VALUE, got '\(a[0])'")
                }
                let key = String(decoding: bytes[..<eq], as: UTF8.self)
                template.environment[key] = String(decoding: bytes[(eq + 1)...], as: UTF8.self)
            case "user":
                let a = try paths(1, 3)
                guard UserAccount.isValidName(a[0]) else {
                    throw fail("bad user name '\(a[0])' (lowercase letters, digits, _ and -, at most 32 bytes)")
                }
                var account = UserAccount(name: a[0])
                for (index, p) in a.dropFirst().enumerated() {
                    let path = try absolute(p)
                    guard !path.contains(":"), !path.contains("\n") else {
                        throw fail("'\(p)' cannot go in /etc/passwd (contains ':' or a newline)")
                    }
                    if index == 0 { account.home = path } else { account.shell = path }
                }
                template.account = account
            default:
                throw fail(
                    "unknown directive '\(directive)' (known: ro-bind, bind, tmpfs, proc, dev, mask, read-only, dir, symlink, app, hostname, env, user)"
                )
            }
        }
        guard !template.entries.isEmpty else {
            throw TemplateError(template: name, line: 0, message: "the template declares nothing")
        }
        return template
    }

    /// Loads a template by name (searched in `searchDirectories`) or by path (contains a `/`).
    public static func load(_ nameOrPath: String, searchDirectories: [String]? = nil) throws(TemplateError)
        -> RootfsTemplate
    {
        let kernel = LinuxKernel()
        var candidates: [String] = []
        if nameOrPath.contains("/") {
            candidates = [nameOrPath]
        } else {
            guard nameOrPath.utf8.allSatisfy({ isASCIIAlphanumeric($0) || "-_.".utf8.contains($0) }),
                !nameOrPath.hasPrefix(".")
            else { throw TemplateError(template: nameOrPath, line: 0, message: "not a template name") }
            candidates = (searchDirectories ?? defaultSearchDirectories()).map { $0 + "/" + nameOrPath }
        }
        for path in candidates {
            guard let kind = kernel.fileKind(path) else { continue }
            if kind == .directory || kind == .other {
                throw TemplateError(template: path, line: 0, message: "not a regular file")
            }
            let text: String
            do {
                text = try kernel.readFile(path)
            } catch {
                throw TemplateError(template: path, line: 0, message: error.description)
            }
            return try parse(text, name: nameOrPath)
        }
        throw TemplateError(
            template: nameOrPath, line: 0,
            message: "no such template (looked in \(candidates.map { parentDirectory($0) }.joined(separator: ", ")))")
    }

    /// Where named templates are looked up: `$RUKO_TEMPLATES`, then `../share/ruko/rootfs-templates`
    /// next to the executable, then the source tree's `rootfs-templates` (for `.build/...` binaries).
    public static func defaultSearchDirectories() -> [String] {
        var dirs: [String] = []
        if let env = getenvString("RUKO_TEMPLATES") { dirs.append(env) }
        if let exe = try? Syscall.readLink("/proc/self/exe") {
            var dir = parentDirectory(exe)
            dirs.append(parentDirectory(dir) + "/share/ruko/rootfs-templates")
            for _ in 0..<5 {
                dirs.append(dir + "/rootfs-templates")
                dir = parentDirectory(dir)
            }
        }
        return dirs
    }
}

/// A template that does not parse or cannot be found.
public struct TemplateError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The template's name or path.
    public var template: String
    /// The 1-based line, or 0 for the whole template.
    public var line: Int
    /// What is wrong.
    public var message: String

    public var description: String {
        line > 0 ? "rootfs template \(template), line \(line): \(message)" : "rootfs template \(template): \(message)"
    }
}

func isASCIIAlphanumeric(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
}

func parentDirectory(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
    return String(path[..<slash])
}

func getenvString(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    let s = String(cString: v)
    return s.isEmpty ? nil : s
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
