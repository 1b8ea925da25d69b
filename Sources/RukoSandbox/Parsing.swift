/// Parsers for the human-friendly values of ruko's options (sizes, durations, .env files),
/// shared by ruko-run and ruko-build.
public enum ValueParser {
    /// Splits a long option word the way ArgumentParser reads it: `--name=value` → (name, value),
    /// `--name` → (name, nil); nil when the word does not start with `--`. Used by the CLIs' fast
    /// command-line readers.
    public static func longOption(_ word: String) -> (name: String, value: String?)? {
        guard word.hasPrefix("--") else { return nil }
        let body = word.dropFirst(2)
        guard let equals = body.firstIndex(of: "=") else { return (String(body), nil) }
        return (String(body[..<equals]), String(body[body.index(after: equals)...]))
    }

    /// Parses a size: `512`, `64k`, `64M`, `1.5G`, `2T` (binary units; optional `B`/`iB`).
    public static func size(_ text: String) -> UInt64? {
        var s = Substring(text.trimmingASCIIWhitespace())
        guard !s.isEmpty else { return nil }
        if s.hasSuffix("iB") || s.hasSuffix("ib") {
            s = s.dropLast(2)
        } else if s.hasSuffix("B") || s.hasSuffix("b") {
            s = s.dropLast()
        }
        var multiplier: Double = 1
        if let last = s.last, last.isLetter {
            switch last.lowercased() {
            case "k": multiplier = 1024
            case "m": multiplier = 1024 * 1024
            case "g": multiplier = 1024 * 1024 * 1024
            case "t": multiplier = 1024 * 1024 * 1024 * 1024
            default: return nil
            }
            s = s.dropLast()
        }
        guard let value = Double(s), value >= 0, value.isFinite, value * multiplier < 1.8e19 else { return nil }
        return UInt64((value * multiplier).rounded())
    }

    /// Parses a duration: `90` (seconds), `500ms`, `30s`, `15m`, `2h`, or combinations like `1m30s`.
    public static func duration(_ text: String) -> Duration? {
        let s = text.trimmingASCIIWhitespace()
        guard !s.isEmpty else { return nil }
        if let seconds = Double(s), seconds >= 0, seconds.isFinite { return .milliseconds(Int64(seconds * 1000)) }
        var total: Double = 0
        var number = ""
        var chars = Array(s)
        var i = 0
        var sawUnit = false
        while i < chars.count {
            let c = chars[i]
            if c.isNumber || c == "." {
                number.append(c)
                i += 1
                continue
            }
            var unit = String(c)
            if c == "m", i + 1 < chars.count, chars[i + 1] == "s" {
                unit = "ms"
                i += 1
            }
            i += 1
            guard let value = Double(number), value >= 0 else { return nil }
            switch unit {
            case "ms": total += value / 1000
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            case "d": total += value * 86400
            default: return nil
            }
            number = ""
            sawUnit = true
        }
        chars = []
        guard number.isEmpty, sawUnit, total.isFinite, total < 1e9 else { return nil }
        return .milliseconds(Int64(total * 1000))
    }

    /// Parses a `.env` file (foreman/docker style): `KEY=VALUE` lines, `#` comments, blank lines,
    /// optional `export `, values in single quotes (literal) or double quotes (with `\n`, `\"`,
    /// `\\` escapes). Errors name the line.
    public static func envFile(_ text: String, name: String) throws(EnvFileError) -> [(String, String)] {
        var result: [(String, String)] = []
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(raw)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            var body = trimmed
            if body.hasPrefix("export ") { body = body.dropFirst(7).drop { $0 == " " } }
            guard let eq = body.firstIndex(of: "=") else {
                throw EnvFileError(file: name, line: lineNumber, message: "expected KEY=VALUE")
            }
            let key = String(body[..<eq]).trimmingASCIIWhitespace()
            guard let first = key.first, first.isLetter || first == "_",
                key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
            else {
                throw EnvFileError(file: name, line: lineNumber, message: "bad variable name '\(key)'")
            }
            var value = Substring(body[body.index(after: eq)...])
            if value.hasPrefix("'") {
                guard value.count >= 2, value.hasSuffix("'") else {
                    throw EnvFileError(file: name, line: lineNumber, message: "unterminated single quote")
                }
                value = value.dropFirst().dropLast()
                result.append((key, String(value)))
            } else if value.hasPrefix("\"") {
                guard value.count >= 2, value.hasSuffix("\""), !value.hasSuffix("\\\"") || value.hasSuffix("\\\\\"")
                else {
                    throw EnvFileError(file: name, line: lineNumber, message: "unterminated double quote")
                }
                var out = ""
                var escaping = false
                for c in value.dropFirst().dropLast() {
                    if escaping {
                        switch c {
                        case "n": out.append("\n")
                        case "t": out.append("\t")
                        case "r": out.append("\r")
                        default: out.append(c)
                        }
                        escaping = false
                    } else if c == "\\" {
                        escaping = true
                    } else {
                        out.append(c)
                    }
                }
                result.append((key, out))
            } else {
                // Unquoted: an inline comment starts at " #".
                if let hash = value.range(of: " #") { value = value[..<hash.lowerBound] }
                result.append((key, String(value).trimmingASCIIWhitespace()))
            }
        }
        return result
    }
}

/// A malformed `.env` file.
public struct EnvFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var message: String
    public var description: String { "\(file), line \(line): \(message)" }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        let ws: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(drop(while: ws).reversed().drop(while: ws).reversed())
    }
}

extension Substring {
    func range(of needle: String) -> Range<Substring.Index>? {
        guard !needle.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}
