// libFuzzer target: `.slugignore` parsing and matching (Sources/RukoBuild/SlugIgnore.swift).
//
// Input: the `.slugignore` text, then a NUL byte, then NUL-separated paths to ask about.
// Invariants, from the documented gitignore-like rules:
// - errors are `.slugIgnore` BuildErrors; a line starting with `!` is always refused (`negation`);
// - parsing and matching are pure: the same question twice, or on a second parse, gets the same
//   answer (`deterministic`); CRLF files give the same rules as LF (`crlf`); there are no more
//   rules than lines;
// - `.git` and everything in it is always excluded (`git`); `""` and `.` never are;
// - a path below an excluded directory is excluded (`ancestor`);
// - `./p`, `/p` and `p/` are the same path as `p` (`normalise`);
// - a rule that is a plain literal (no `*?[\`, no `.`/`..`/empty segments) excludes the path it
//   names; an unanchored one excludes that name at any depth too (`literal`);
// - matching finishes quickly (libFuzzer's -timeout catches exponential backtracking).
@testable import RukoBuild

private func parse(_ text: String) -> Result<SlugIgnore, BuildError> {
    do throws(BuildError) { return .success(try SlugIgnore(parsing: text)) } catch { return .failure(error) }
}

private func isLiteral(_ pattern: [UInt8]) -> Bool {
    guard !pattern.isEmpty, !pattern.contains(where: { "*?[\\".utf8.contains($0) }) else { return false }
    let segments = pattern.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    return segments.allSatisfy { !$0.isEmpty && !$0.elementsEqual(".".utf8) && !$0.elementsEqual("..".utf8) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSlugIgnore(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    let parts = bytes.split(separator: 0, omittingEmptySubsequences: false)
    let text = String(decoding: parts.first ?? [], as: UTF8.self)
    let paths = parts.dropFirst().map { String(decoding: $0, as: UTF8.self) }

    let result = parse(text)
    require(result == parse(text), "deterministic", "two parses of \(escaped(text)) differ")
    // Checked last, so an input that breaks a more specific invariant is reported for that one.
    defer {
        let windows = parse(crlf(text))
        switch (result, windows) {
        case (.success(let lf), .success(let cr)):
            require(lf.rules == cr.rules, "crlf", "LF \(lf.rules) vs CRLF \(cr.rules) for \(escaped(text))")
        case (.failure, .failure): break
        default: require(false, "crlf", "LF gives \(result), CRLF gives \(windows) for \(escaped(text))")
        }
    }

    let ignore: SlugIgnore
    switch result {
    case .failure(let error):
        require(error.kind == .slugIgnore, "error-kind", "\(error.kind)")
        return 0
    case .success(let parsed): ignore = parsed
    }
    let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    require(ignore.rules.count <= lines.count, "rule-count", "\(ignore.rules.count) rules from \(lines.count) lines")
    for line in lines where line.utf8.first == UInt8(ascii: "!") {
        require(false, "negation", "`\(escaped(String(line)))` was accepted")
    }

    require(ignore.excludes(".git", isDirectory: true), "git", ".git")
    require(!ignore.excludes("", isDirectory: true) && !ignore.excludes(".", isDirectory: true), "empty", "")

    for rule in ignore.rules where isLiteral(rule.pattern) {
        let literal = String(decoding: rule.pattern, as: UTF8.self)
        require(
            ignore.excludes(literal, isDirectory: true), "literal",
            "\(escaped(rule.source)) does not exclude \(escaped(literal))")
        if !rule.directoryOnly {
            require(
                ignore.excludes(literal, isDirectory: false), "literal",
                "\(escaped(rule.source)) file \(escaped(literal))")
        }
        if !rule.anchored {
            require(
                ignore.excludes("deep/er/" + literal, isDirectory: true), "literal", "\(escaped(rule.source)) at depth")
        }
    }

    let second = parse(text)
    for path in paths {
        for isDirectory in [false, true] {
            let answer = ignore.excludes(path, isDirectory: isDirectory)
            require(answer == ignore.excludes(path, isDirectory: isDirectory), "deterministic", escaped(path))
            if case .success(let other) = second {
                require(answer == other.excludes(path, isDirectory: isDirectory), "deterministic", escaped(path))
            }
            // (ASCII only: the normalisation is meant for ASCII `./` and `/`; a combining mark
            // after them makes a different character.)
            let base =
                path.utf8.first == UInt8(ascii: "/") ? String(decoding: path.utf8.dropFirst(), as: UTF8.self) : path
            if path.utf8.allSatisfy({ $0 < 0x80 }), !base.isEmpty, !base.hasPrefix("/"), !base.hasPrefix("./") {
                require(
                    answer == ignore.excludes("./" + base, isDirectory: isDirectory), "normalise", "./\(escaped(base))")
                require(
                    answer == ignore.excludes("/" + base, isDirectory: isDirectory), "normalise", "/\(escaped(base))")
                if !base.hasSuffix("/") {
                    require(
                        answer == ignore.excludes(base + "/", isDirectory: isDirectory), "normalise",
                        "\(escaped(base))/")
                }
            }
            let components = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
            if components.contains(where: { $0.elementsEqual(".git".utf8) }) {
                require(answer, "git", "\(escaped(path)) is inside .git but not excluded")
            }
            // Not excluded: then no directory above it may be excluded. (Paths from the tree walk
            // never have empty components; `a//b` is not normalised, and need not be.)
            if answer
                || path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
                    .dropLast().contains(where: \.isEmpty)
            {
                continue
            }
            var prefix = ""
            for component in components.dropLast() {
                prefix += (prefix.isEmpty ? "" : "/") + String(decoding: component, as: UTF8.self)
                require(
                    !ignore.excludes(prefix, isDirectory: true), "ancestor",
                    "\(escaped(prefix)) is excluded but \(escaped(path)) below it is not")
            }
        }
    }
    return 0
}
