import Foundation

/// foreman's `.env` format: `KEY=value` lines, values single- or double-quoted.
///
/// foreman reads `KEY='literal'` verbatim and `KEY="…"` by first turning `\n` into a newline and
/// then `\X` into `X`. ``format(_:)`` picks the quoting that round-trips through that reader.
public enum DotEnv {
    /// Renders config vars as `.env` lines, sorted by key.
    ///
    /// Throws when a value cannot be read back identically by foreman: a value holding both a
    /// backslash directly followed by `n` and a newline or single quote has no faithful encoding.
    public static func format(_ vars: [String: String]) throws(RukoAPIError) -> String {
        var out = ""
        for key in vars.keys.sorted() {
            let value = vars[key] ?? ""
            out += "\(key)=\(try quote(value, key: key))\n"
        }
        return out
    }

    /// Quotes one value (see ``format(_:)``).
    public static func quote(_ value: String, key: String = "value") throws(RukoAPIError) -> String {
        let needsDoubleQuotes = value.contains("'") || value.contains("\n") || value.contains("\r")
        if !needsDoubleQuotes {
            return "'" + value + "'"
        }
        if value.contains("\\n") {
            throw .unrepresentable(
                "config var \(key) holds a newline or single quote and the two characters '\\n'; "
                    + "foreman's .env reader cannot represent that combination")
        }
        if value.contains("\r") {
            throw .unrepresentable("config var \(key) holds a carriage return, which foreman's .env reader drops")
        }
        var quoted = "\""
        for character in value {
            switch character {
            case "\\": quoted += "\\\\"
            case "\"": quoted += "\\\""
            case "\n": quoted += "\\n"
            default: quoted.append(character)
            }
        }
        return quoted + "\""
    }

    /// Reads `.env` text the way foreman does (used to prove ``format(_:)`` round-trips).
    public static func parse(_ text: String) -> [String: String] {
        var vars: [String: String] = [:]
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(rawLine)
            guard let equals = line.firstIndex(of: "="), line.first != "#" else { continue }
            let key = String(line[..<equals])
            guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                continue
            }
            var value = String(line[line.index(after: equals)...])
            if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") {
                value = String(value.dropFirst().dropLast())
            } else if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                let inner = String(value.dropFirst().dropLast()).replacingOccurrences(of: "\\n", with: "\n")
                var unescaped = ""
                var iterator = inner.makeIterator()
                while let character = iterator.next() {
                    if character == "\\", let next = iterator.next() {
                        if next == "\n" {
                            unescaped.append("\\")
                        }
                        unescaped.append(next)
                    } else {
                        unescaped.append(character)
                    }
                }
                value = unescaped
            }
            vars[key] = value
        }
        return vars
    }
}
