// Shared by every fuzz target (compiled into each one by scripts/fuzz.sh).
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The fuzz input as a Swift string; invalid UTF-8 becomes U+FFFD, so every valid string can be
/// reached (the files the parsers read are validated as UTF-8 first).
func fuzzString(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
    String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
}

/// The fuzz input's bytes.
func fuzzBytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: size))
}

/// Names of invariants to tolerate, from `RUKO_FUZZ_ALLOW=name,name`: lets a run look past a
/// finding that is already known (and has a regression test) instead of stopping on it.
let allowedViolations: Set<String> = {
    guard let raw = getenv("RUKO_FUZZ_ALLOW") else { return [] }
    return Set(String(cString: raw).split(separator: ",").map(String.init))
}()

/// Checks an invariant; on violation prints which one and why, then aborts (libFuzzer saves the
/// input as a crash).
func require(_ condition: Bool, _ invariant: String, _ detail: @autoclosure () -> String = "") {
    guard !condition, !allowedViolations.contains(invariant) else { return }
    let message = "\nINVARIANT VIOLATED [\(invariant)]: \(detail())\n"
    let bytes = Array(message.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}

/// A string's bytes rendered with escapes, for violation messages.
func escaped(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\\") {
            out.append(Character(Unicode.Scalar(byte)))
        } else {
            out += "\\x" + String(byte, radix: 16)
        }
    }
    return "\"" + out + "\""
}

/// `text` with every LF line ending turned into CRLF (an existing CRLF stays one CRLF).
func crlf(_ text: String) -> String {
    var out = ""
    for character in text {
        out += character == "\n" ? "\r\n" : String(character)
    }
    return out
}

/// Whether `bytes` is `[A-Za-z0-9_-]{1,63}` (a Procfile process type).
func isProcessTypeBytes(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    guard !bytes.isEmpty, bytes.count <= 63 else { return false }
    return bytes.allSatisfy { b in
        (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || (b >= 0x30 && b <= 0x39) || b == 0x5f || b == 0x2d
    }
}
