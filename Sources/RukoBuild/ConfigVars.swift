#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Config vars from the command line, env files and env directories, and the ENV_DIR written for
/// `bin/compile` (one file per var, file name = name, content = value, no newline added).
public enum ConfigVars {
    /// Whether `name` can be a config var (and so a file name in ENV_DIR): `[A-Za-z_][A-Za-z0-9_]*`.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else {
            return false
        }
        return name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
        }
    }

    /// Parses one `K=V` assignment (`--env`). The value is everything after the first `=`.
    public static func parseAssignment(_ text: String) throws(BuildError) -> (String, String) {
        guard let equals = text.firstIndex(of: "=") else {
            throw BuildError(.invalidRequest, "--env \(text): expected NAME=VALUE.")
        }
        let name = String(text[..<equals])
        guard isValidName(name) else {
            throw BuildError(
                .invalidRequest, "--env \(text): `\(name)` is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*).")
        }
        return (name, String(text[text.index(after: equals)...]))
    }

    /// Parses an env file: `NAME=VALUE` lines, optional `export ` prefix, `#` comments, blank
    /// lines; a value wrapped in matching single or double quotes is unwrapped (double quotes
    /// also understand `\n`, `\"` and `\\`).
    public static func parseEnvFile(_ text: String, name: String) throws(BuildError) -> [String: String] {
        var result: [String: String] = [:]
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst(7).trimmingWhitespace() }
            guard let equals = line.firstIndex(of: "=") else {
                throw BuildError(.invalidRequest, "\(name) line \(lineNumber): expected NAME=VALUE.")
            }
            let key = String(line[..<equals]).trimmingWhitespace()
            guard isValidName(key) else {
                throw BuildError(.invalidRequest, "\(name) line \(lineNumber): `\(key)` is not a valid variable name.")
            }
            var value = String(line[line.index(after: equals)...]).trimmingWhitespace()
            if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") {
                value = String(value.dropFirst().dropLast())
            } else if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = unescapeDoubleQuoted(value.dropFirst().dropLast())
            }
            result[key] = value
        }
        return result
    }

    /// Reads an env directory (one file per var). Dot files, subdirectories and names that are not
    /// variable names are skipped; symlinks are refused.
    public static func readEnvDirectory(_ path: String) throws(BuildError) -> [String: String] {
        guard let directory = opendir(path) else {
            throw BuildError(.invalidRequest, "--env-dir \(path): \(describeErrno(errno)).")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") || !isValidName(name) { continue }
            names.append(name)
        }
        var result: [String: String] = [:]
        for name in names {
            let file = path + "/" + name
            var info = stat()
            guard lstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            do {
                result[name] = try SafeFile.readTextIfPresent(file, limit: 1 << 20) ?? ""
            } catch {
                throw BuildError(.invalidRequest, lines: error.messages)
            }
        }
        return result
    }

    /// Writes ENV_DIR: a file per var with `mode`, owned by `owner` (nil: the caller).
    static func writeEnvDirectory(
        _ vars: [String: String], to path: String, owner: (uid: UInt32, gid: UInt32)?, mode: mode_t = 0o600
    ) throws(BuildError) {
        for (name, value) in vars.sorted(by: { $0.key < $1.key }) {
            guard isValidName(name) else {
                throw BuildError(
                    .invalidRequest, "Config var `\(name)` is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*).")
            }
            let file = path + "/" + name
            let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            guard fd >= 0 else {
                throw BuildError(.io, "Writing ENV_DIR file \(file): \(describeErrno(errno)).")
            }
            defer { close(fd) }
            do {
                try SafeFile.writeAll(fd, Array(value.utf8), path: file)
            } catch {
                throw BuildError(.io, lines: error.messages)
            }
            fchmod(fd, mode)
            if let owner, fchown(fd, owner.uid, owner.gid) != 0 {
                throw BuildError(.io, "chown(\(file)): \(describeErrno(errno)).")
            }
        }
    }

    private static func unescapeDoubleQuoted(_ text: Substring) -> String {
        var result = ""
        var escaping = false
        for character in text {
            if escaping {
                switch character {
                case "n": result.append("\n")
                case "t": result.append("\t")
                default: result.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                result.append(character)
            }
        }
        if escaping { result.append("\\") }
        return result
    }
}
