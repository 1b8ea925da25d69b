// libFuzzer target: the Procfile parser (`Procfile(parsing:)`, Sources/RukoBuild/Procfile.swift).
//
// Invariants, from the parser's documented rules and the Procfile contract:
// - errors are `.procfile` BuildErrors with a message;
// - a parse yields at least one entry; types are `[A-Za-z0-9_-]{1,63}` (checked byte by byte
//   here, independently of the parser's own check) and unique; commands are non-empty, have no
//   line break and no surrounding whitespace; line numbers increase and exist in the text;
// - `processTypes` holds every entry;
// - rendering the entries as `type: command` lines and parsing again gives the same entries
//   (`roundtrip`); parsing is deterministic;
// - CRLF line endings parse exactly like LF (`crlf`).
@testable import RukoBuild

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProcfile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = fuzzString(data, size)
    let result: Result<Procfile, BuildError>
    do throws(BuildError) {
        result = .success(try Procfile(parsing: text))
    } catch {
        result = .failure(error)
    }

    let again: Result<Procfile, BuildError>
    do throws(BuildError) { again = .success(try Procfile(parsing: text)) } catch { again = .failure(error) }
    require(result == again, "deterministic", "two parses of \(escaped(text)) differ")

    // Checked last, so an input that breaks a more specific invariant is reported for that one.
    defer {
        let windows: Result<Procfile, BuildError>
        do throws(BuildError) { windows = .success(try Procfile(parsing: crlf(text))) } catch {
            windows = .failure(error)
        }
        switch (result, windows) {
        case (.success(let lf), .success(let cr)):
            require(lf.entries == cr.entries, "crlf", "LF \(lf.entries) vs CRLF \(cr.entries) for \(escaped(text))")
        case (.failure, .failure): break
        default:
            require(false, "crlf", "LF gives \(result), CRLF gives \(windows) for \(escaped(text))")
        }
    }

    let procfile: Procfile
    switch result {
    case .failure(let error):
        require(error.kind == .procfile, "error-kind", "\(error.kind)")
        require(!error.messages.isEmpty && error.messages.allSatisfy { !$0.isEmpty }, "error-message", "\(error)")
        return 0
    case .success(let parsed): procfile = parsed
    }

    let lineCount = text.utf8.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    require(!procfile.entries.isEmpty, "non-empty", escaped(text))
    var seen = Set<String>()
    var lastLine = 0
    for entry in procfile.entries {
        require(isProcessTypeBytes(entry.type), "valid-type", escaped(entry.type))
        require(seen.insert(entry.type).inserted, "unique-type", escaped(entry.type))
        require(!entry.command.isEmpty, "command-non-empty", entry.type)
        require(
            !entry.command.utf8.contains(UInt8(ascii: "\n")), "command-one-line", escaped(entry.command))
        require(
            entry.command.unicodeScalars.first.map { !$0.properties.isWhitespace } ?? false
                && entry.command.unicodeScalars.last.map { !$0.properties.isWhitespace } ?? false,
            "command-trimmed", escaped(entry.command))
        require(entry.line > lastLine && entry.line <= lineCount, "line-number", "\(entry.line) after \(lastLine)")
        lastLine = entry.line
    }
    require(procfile.processTypes.count == procfile.entries.count, "process-types", "\(procfile.processTypes)")
    for entry in procfile.entries {
        require(procfile.processTypes[entry.type] == entry.command, "process-types", entry.type)
    }

    let rendered = procfile.entries.map { "\($0.type): \($0.command)\n" }.joined()
    do throws(BuildError) {
        let reparsed = try Procfile(parsing: rendered)
        let pairs = { (p: Procfile) in p.entries.map { [$0.type, $0.command] } }
        require(pairs(reparsed) == pairs(procfile), "roundtrip", "\(escaped(rendered)) → \(reparsed.entries)")
    } catch {
        require(false, "roundtrip", "rendering \(escaped(rendered)) does not parse: \(error)")
    }
    return 0
}
