/// `.slugignore` rules with gitignore semantics.
///
/// - `#` starts a comment line (`\#` is a literal `#`); blank lines are skipped; trailing spaces
///   are dropped.
/// - A trailing `/` matches directories only (`docs/`).
/// - A pattern with a `/` at the start or in the middle is anchored to the top of the app
///   (`/test`, `a/b`); one without matches a name at any depth (`spec`, `*.psd`).
/// - `*` and `?` do not cross `/`; `[abc]`, `[a-z]`, `[!a]` are character classes; `**` as a
///   whole segment spans directories (`**/x`, `a/**`, `a/**/b`).
/// - A path is excluded when it, or any directory above it, matches a rule.
/// - `!` (negation) is rejected with an error: Heroku does not support it, and silently ignoring
///   it would ship files the user meant to keep out or keep in.
public struct SlugIgnore: Sendable, Equatable {
    /// One parsed pattern.
    public struct Rule: Sendable, Equatable {
        /// The pattern as written (after trimming), for messages.
        public var source: String
        /// The 1-based line number in `.slugignore`.
        public var line: Int
        var pattern: [UInt8]
        var anchored: Bool
        var directoryOnly: Bool
    }

    /// The rules, in file order.
    public private(set) var rules: [Rule]

    /// No rules: excludes nothing (but ``excludes(_:isDirectory:)`` still excludes `.git`).
    public static let empty = SlugIgnore(rules: [])

    init(rules: [Rule]) { self.rules = rules }

    /// Parses the text of a `.slugignore` file.
    public init(parsing text: String) throws(BuildError) {
        var rules: [Rule] = []
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.last == "\r" { line.removeLast() }
            line = Self.trimTrailingSpaces(line)
            // From here on bytes: a combining mark after `/` or `!` must not hide it.
            var bytes = Array(line.utf8)
            guard let first = bytes.first, first != UInt8(ascii: "#") else { continue }
            if first == UInt8(ascii: "!") {
                throw BuildError(
                    .slugIgnore,
                    ".slugignore line \(lineNumber): `\(line)`: negation (!) is not supported (Heroku does not support it either).",
                    "Remove the line, or list only the paths to exclude.")
            }
            if first == UInt8(ascii: "\\"), bytes.count > 1,
                bytes[1] == UInt8(ascii: "#") || bytes[1] == UInt8(ascii: "!")
            {
                bytes.removeFirst()
            }
            var directoryOnly = false
            while bytes.last == UInt8(ascii: "/") {
                directoryOnly = true
                bytes.removeLast()
            }
            guard !bytes.isEmpty else { continue }  // "/" alone would mean the whole app; ignore it
            let anchored = bytes.contains(UInt8(ascii: "/"))
            if bytes.first == UInt8(ascii: "/") { bytes.removeFirst() }
            rules.append(
                Rule(
                    source: String(rawLine).trimmingWhitespace(), line: lineNumber, pattern: bytes,
                    anchored: anchored, directoryOnly: directoryOnly))
        }
        self.rules = rules
    }

    /// Reads and parses `DIR/.slugignore`; a missing file means no rules. The file is opened
    /// without following symlinks.
    public static func load(appDirectory: String) throws(BuildError) -> SlugIgnore {
        let path = appDirectory + "/.slugignore"
        let text: String?
        do {
            text = try SafeFile.readTextIfPresent(path, limit: 1 << 20)
        } catch {
            throw BuildError(.slugIgnore, lines: error.messages)
        }
        guard let text else { return .empty }
        return try SlugIgnore(parsing: text)
    }

    /// Whether a path (relative to the app, `a/b/c`, no leading `./`) is excluded from the slug,
    /// either by a rule (on the path or a directory above it) or because it is in `.git`.
    public func excludes(_ relativePath: String, isDirectory: Bool) -> Bool {
        var path = Substring(relativePath)
        while path.hasPrefix("./") { path.removeFirst(2) }
        while path.hasPrefix("/") { path.removeFirst() }
        while path.hasSuffix("/") { path.removeLast() }
        guard !path.isEmpty, path != "." else { return false }
        let bytes = Array(path.utf8)
        // Check every ancestor directory, then the path itself.
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "/") {
                if matches(bytes[0..<index], isDirectory: true) { return true }
            }
            index += 1
        }
        return matches(bytes[0..<bytes.count], isDirectory: isDirectory)
    }

    /// Whether the rule set matches exactly this path (ancestors not considered).
    func matches(_ path: ArraySlice<UInt8>, isDirectory: Bool) -> Bool {
        let name = path.lastIndex(of: UInt8(ascii: "/")).map { path[($0 + 1)...] } ?? path
        if name.elementsEqual(".git".utf8) { return true }
        for rule in rules {
            if rule.directoryOnly, !isDirectory { continue }
            let subject = rule.anchored ? path : name
            if Glob.match(rule.pattern[...], subject) { return true }
        }
        return false
    }

    private static func trimTrailingSpaces(_ line: Substring) -> Substring {
        var line = line
        while line.hasSuffix(" ") || line.hasSuffix("\t") {
            // A trailing space escaped with a backslash is kept.
            let beforeLast = line.index(before: line.endIndex)
            if beforeLast > line.startIndex, line[line.index(before: beforeLast)] == "\\" { break }
            line.removeLast()
        }
        return line
    }
}

/// gitignore-style wildcard matching on bytes.
enum Glob {
    private static let slash = UInt8(ascii: "/")
    private static let star = UInt8(ascii: "*")
    private static let question = UInt8(ascii: "?")
    private static let bracket = UInt8(ascii: "[")
    private static let backslash = UInt8(ascii: "\\")

    /// Matches `pattern` against the whole of `subject`. Failed (pattern, subject) positions are
    /// remembered, so `*` and `**/` backtracking stays polynomial (a fuzzer found patterns like
    /// `*a*a*a*a*a*a*a*a*b` that took seconds per name).
    static func match(_ pattern: ArraySlice<UInt8>, _ subject: ArraySlice<UInt8>) -> Bool {
        var failed = [Bool](repeating: false, count: (pattern.count + 1) * (subject.count + 1))
        return match(pattern, subject, from: pattern.startIndex, subject.startIndex, &failed)
    }

    private static func match(
        _ pattern: ArraySlice<UInt8>, _ subject: ArraySlice<UInt8>, from p0: Int, _ s0: Int, _ failed: inout [Bool]
    ) -> Bool {
        let state = (p0 - pattern.startIndex) * (subject.count + 1) + (s0 - subject.startIndex)
        if failed[state] { return false }
        let result = step(pattern, subject, from: p0, s0, &failed)
        if !result { failed[state] = true }
        return result
    }

    private static func step(
        _ pattern: ArraySlice<UInt8>, _ subject: ArraySlice<UInt8>, from p0: Int, _ s0: Int, _ failed: inout [Bool]
    ) -> Bool {
        var p = p0
        var s = s0
        while p < pattern.endIndex {
            let c = pattern[p]
            if c == star {
                var q = p
                while q < pattern.endIndex, pattern[q] == star { q += 1 }
                let isDouble = q - p >= 2
                let startsSegment = p == pattern.startIndex || pattern[p - 1] == slash
                let endsSegment = q == pattern.endIndex || pattern[q] == slash
                if isDouble, startsSegment, endsSegment {
                    if q == pattern.endIndex { return true }  // `a/**` or `**`: everything below
                    // `**/`: zero or more whole directories.
                    if match(pattern, subject, from: q + 1, s, &failed) { return true }
                    var k = s
                    while k < subject.endIndex {
                        if subject[k] == slash, match(pattern, subject, from: q + 1, k + 1, &failed) { return true }
                        k += 1
                    }
                    return false
                }
                // `*`: any run of characters other than `/`.
                var k = s
                while true {
                    if match(pattern, subject, from: q, k, &failed) { return true }
                    if k == subject.endIndex || subject[k] == slash { return false }
                    k += 1
                }
            }
            guard s < subject.endIndex else { return false }
            if c == question {
                if subject[s] == slash { return false }
                p += 1
                s += 1
                continue
            }
            if c == bracket, let (matched, next) = matchClass(pattern, at: p, subject[s]) {
                if !matched { return false }
                p = next
                s += 1
                continue
            }
            var literal = c
            if c == backslash, p + 1 < pattern.endIndex {
                p += 1
                literal = pattern[p]
            }
            if subject[s] != literal { return false }
            p += 1
            s += 1
        }
        return s == subject.endIndex
    }

    /// Matches a `[...]` class at `start`; nil when the bracket is not a well-formed class (then
    /// it is a literal `[`).
    private static func matchClass(_ pattern: ArraySlice<UInt8>, at start: Int, _ byte: UInt8) -> (Bool, Int)? {
        var i = start + 1
        var negated = false
        if i < pattern.endIndex, pattern[i] == UInt8(ascii: "!") || pattern[i] == UInt8(ascii: "^") {
            negated = true
            i += 1
        }
        var matched = false
        var first = true
        while i < pattern.endIndex {
            var c = pattern[i]
            if c == UInt8(ascii: "]"), !first {
                if byte == slash { return (false, i + 1) }
                return (matched != negated, i + 1)
            }
            first = false
            if c == backslash, i + 1 < pattern.endIndex {
                i += 1
                c = pattern[i]
            }
            if i + 2 < pattern.endIndex, pattern[i + 1] == UInt8(ascii: "-"), pattern[i + 2] != UInt8(ascii: "]") {
                let high = pattern[i + 2]
                if byte >= c, byte <= high { matched = true }
                i += 3
                continue
            }
            if byte == c { matched = true }
            i += 1
        }
        return nil
    }
}
