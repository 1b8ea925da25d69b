// libFuzzer target: the rootfs-template parser (`RootfsTemplate.parse`,
// Sources/RukoSandbox/RootfsTemplate.swift).
//
// Invariants, from the format's documentation (docs/rootfs-templates.md) and what the mount
// planner and the clone child need:
// - errors are TemplateErrors naming the template, with a line inside the text (or 0);
// - a template declares at least one entry;
// - every container path (mount destinations, masks, read-only paths, dirs, symlink paths, the
//   app destination) and every bind source starts with `/`, has no `..` component, no NUL and is
//   shorter than PATH_MAX (4096 bytes), judged on the bytes the kernel will see (`path`);
// - no path, symlink target, option, hostname or env entry contains a byte the line was split on
//   (space, tab, CR, LF) (`no-separator`) or a NUL (`no-nul`), since the kernel and execve see
//   C strings;
// - tmpfs options are ASCII `[A-Za-z0-9=,_-]` (`tmpfs-options`), the hostname ASCII
//   `[A-Za-z0-9.-]{1,64}` (`hostname`), env keys non-empty without `=` (`env`), dir modes ≤ 07777;
// - a `user` name is a portable user name, its home and shell absolute paths without `:` (`user`);
// - CRLF files parse like LF files (`crlf`); deterministic.
@testable import RukoMount
@testable import RukoSandbox

private func parse(_ text: String) -> Result<RootfsTemplate, TemplateError> {
    do throws(TemplateError) { return .success(try RootfsTemplate.parse(text, name: "fuzz")) } catch {
        return .failure(error)
    }
}

private func checkPath(_ path: String, _ what: String) {
    let bytes = Array(path.utf8)
    require(bytes.first == UInt8(ascii: "/"), "path", "\(what) \(escaped(path)) is not absolute")
    let components = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    require(!components.contains { $0.elementsEqual("..".utf8) }, "path", "\(what) \(escaped(path)) has a .. component")
    require(bytes.count < 4096, "path", "\(what) is \(bytes.count) bytes, over PATH_MAX")
    checkWord(path, what)
}

private func checkWord(_ word: String, _ what: String) {
    require(!word.utf8.contains(0), "no-nul", "\(what) \(escaped(word)) contains NUL")
    require(
        !word.utf8.contains { $0 == 0x20 || $0 == 0x09 || $0 == 0x0d || $0 == 0x0a }, "no-separator",
        "\(what) \(escaped(word)) contains a separator byte")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTemplate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = fuzzString(data, size)
    let result = parse(text)
    require(result == parse(text), "deterministic", escaped(text))
    // Checked last, so an input that breaks a more specific invariant is reported for that one.
    defer {
        let windows = parse(crlf(text))
        switch (result, windows) {
        case (.success(let lf), .success(let cr)):
            var renamed = cr
            renamed.name = lf.name
            require(lf == renamed, "crlf", "LF \(lf) vs CRLF \(cr) for \(escaped(text))")
        case (.failure(let lf), .failure(let cr)):
            require(lf.line == cr.line, "crlf", "LF error \(lf) vs CRLF error \(cr) for \(escaped(text))")
        default: require(false, "crlf", "LF gives \(result), CRLF gives \(windows) for \(escaped(text))")
        }
    }

    let lineCount = text.utf8.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    let template: RootfsTemplate
    switch result {
    case .failure(let error):
        require(error.template == "fuzz" && !error.message.isEmpty, "error", "\(error)")
        require(error.line >= 0 && error.line <= lineCount, "error", "line \(error.line) of \(lineCount)")
        return 0
    case .success(let parsed): template = parsed
    }

    require(!template.entries.isEmpty, "non-empty", escaped(text))
    checkPath(template.appDestination, "app")
    for entry in template.entries {
        switch entry {
        case .bind(let source, let destination, _, _):
            checkPath(source, "bind source")
            checkPath(destination, "bind destination")
        case .tmpfs(let destination, let options):
            checkPath(destination, "tmpfs")
            checkWord(options, "tmpfs options")
            require(
                !options.isEmpty
                    && options.utf8.allSatisfy { b in
                        (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39)
                            || "=,_-".utf8.contains(b)
                    }, "tmpfs-options", escaped(options))
        case .proc(let destination): checkPath(destination, "proc")
        case .dev(let destination): checkPath(destination, "dev")
        case .mask(let path): checkPath(path, "mask")
        case .readOnly(let path): checkPath(path, "read-only")
        case .symlink(let target, let path):
            checkPath(path, "symlink")
            require(!target.isEmpty, "symlink", "empty target")
            checkWord(target, "symlink target")
        case .directory(let path, let mode):
            checkPath(path, "dir")
            require(mode <= 0o7777, "dir", "mode \(mode)")
        case .file(let path, _, _):
            require(false, "file", "templates declare no files directly, got \(escaped(path))")
        }
    }
    if let hostname = template.hostname {
        let bytes = Array(hostname.utf8)
        require(
            !bytes.isEmpty && bytes.count <= 64
                && bytes.allSatisfy { b in
                    (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b == 0x2d
                        || b == 0x2e
                }, "hostname", escaped(hostname))
    }
    if let account = template.account {
        require(UserAccount.isValidName(account.name), "user", "name \(escaped(account.name))")
        for path in [account.home, account.shell].compactMap({ $0 }) {
            checkPath(path, "user path")
            require(!path.contains(":") && !path.contains("\n"), "user", "passwd field \(escaped(path))")
        }
    }
    for (key, value) in template.environment {
        require(!key.isEmpty && !key.utf8.contains(UInt8(ascii: "=")), "env", "key \(escaped(key))")
        checkWord(key, "env key")
        checkWord(value, "env value")
    }
    return 0
}
