/// A parsed `Procfile`: `<type>: <command>` lines.
///
/// Rules: `#` comment lines and blank lines are skipped; the type is `[A-Za-z0-9_-]`, 1 to 63
/// characters (a DNS label's length), directly followed by `:`; the command is the rest of the
/// line, trimmed, and may itself contain `:` and `#`; a duplicate type is an error naming both
/// lines; a file without any process type is an error.
public struct Procfile: Sendable, Equatable {
    /// One `type: command` entry.
    public struct Entry: Sendable, Equatable {
        public var type: String
        public var command: String
        public var line: Int
    }

    /// The entries in file order.
    public private(set) var entries: [Entry]

    /// The process types as a dictionary.
    public var processTypes: [String: String] {
        Dictionary(entries.map { ($0.type, $0.command) }, uniquingKeysWith: { first, _ in first })
    }

    /// Parses Procfile text. `name` is used in messages.
    public init(parsing text: String, name: String = "Procfile") throws(BuildError) {
        var entries: [Entry] = []
        var seen: [String: Int] = [:]
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw BuildError(
                    .procfile, "\(name) line \(lineNumber): expected `<type>: <command>`, found `\(line)`.")
            }
            let type = String(line[..<colon])
            let command = line[line.index(after: colon)...].trimmingWhitespace()
            guard Self.isValidType(type) else {
                throw BuildError(
                    .procfile,
                    "\(name) line \(lineNumber): invalid process type `\(type)`: use 1 to 63 letters, digits, `_` or `-`, followed directly by `:`."
                )
            }
            guard !command.isEmpty else {
                throw BuildError(.procfile, "\(name) line \(lineNumber): process type `\(type)` has no command.")
            }
            if let first = seen[type] {
                throw BuildError(
                    .procfile,
                    "\(name) line \(lineNumber): duplicate process type `\(type)` (first declared on line \(first)).")
            }
            seen[type] = lineNumber
            entries.append(Entry(type: type, command: String(command), line: lineNumber))
        }
        guard !entries.isEmpty else {
            throw BuildError(
                .procfile,
                "\(name) declares no process types: add a line such as `web: <command that listens on $PORT>`.")
        }
        self.entries = entries
    }

    /// Reads `DIR/Procfile` without following symlinks; nil when there is none.
    public static func load(appDirectory: String) throws(BuildError) -> Procfile? {
        let text: String?
        do {
            text = try SafeFile.readTextIfPresent(appDirectory + "/Procfile", limit: 1 << 20)
        } catch {
            throw BuildError(.procfile, lines: error.messages)
        }
        guard let text else { return nil }
        return try Procfile(parsing: text)
    }

    static func isValidType(_ type: String) -> Bool {
        guard !type.isEmpty, type.utf8.count <= 63 else { return false }
        return type.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}
