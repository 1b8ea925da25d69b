#if canImport(Glibc)
    import Glibc
#endif

/// Everything that can go wrong while packing or extracting an archive. `description` says what
/// happened, to which path, and what to do about it.
public struct ArchiveError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kinds of failure, for callers that react to one in particular.
    public enum Kind: Sendable, Equatable {
        /// The compressed slug (packing) or the extracted content (extracting) is over a limit.
        case tooLarge(actual: UInt64, limit: UInt64)
        /// More entries than `ExtractLimits.maxEntries` allows.
        case tooManyEntries(limit: Int)
        /// An archive entry that would land outside the destination, or go through a symlink.
        case unsafeEntry(path: String, reason: String)
        /// A fifo, socket or device node, which a slug may not contain and extraction refuses.
        case specialFile(path: String, kind: String)
        /// A file that cannot be read (packing).
        case unreadable(path: String, errno: Int32)
        /// A system call failed.
        case system(operation: String, path: String, errno: Int32)
        /// libarchive rejected the archive or an entry.
        case format(path: String, message: String)
        /// The compressor failed (an internal error: please report it).
        case compression(String)
        /// Packing was stopped from outside (a signal, a hang-up).
        case cancelled
    }

    /// What went wrong.
    public var kind: Kind

    /// Creates an error of the given kind.
    public init(_ kind: Kind) { self.kind = kind }

    public var description: String {
        switch kind {
        case .tooLarge(let actual, let limit):
            return "archive too large: \(formatSize(actual)) is over the limit of \(formatSize(limit))"
        case .tooManyEntries(let limit):
            return "archive has more than \(limit) entries; refusing to extract (possible archive bomb)"
        case .unsafeEntry(let path, let reason):
            return "refusing archive entry '\(path)': \(reason)"
        case .specialFile(let path, let kind):
            return "'\(path)' is a \(kind); slugs may contain only files, directories and symlinks — remove it"
        case .unreadable(let path, let code):
            return "cannot read '\(path)': \(errnoText(code)); fix its permissions or exclude it (.slugignore)"
        case .system(let operation, let path, let code):
            return "\(operation) '\(path)': \(errnoText(code))"
        case .format(let path, let message):
            return path.isEmpty ? "archive: \(message)" : "archive: \(path): \(message)"
        case .compression(let message):
            return "gzip compressor: \(message)"
        case .cancelled:
            return "packing was cancelled; no file was written"
        }
    }
}

/// `strerror` text plus the symbolic-free errno number, e.g. "Permission denied (errno 13)".
func errnoText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return "\(String(cString: text)) (errno \(code))"
}

/// Sizes the way the slug messages print them: "25.3M".
func formatSize(_ bytes: UInt64) -> String {
    let mib = Double(bytes) / 1_048_576
    if mib >= 1 { return "\((mib * 10).rounded() / 10)M" }
    return "\(bytes) bytes"
}

/// Switches the calling thread's LC_CTYPE to C.UTF-8 until `restore()`: libarchive converts entry
/// names between the locale's charset and UTF-8 (pax), and in the default "C" locale every
/// non-ASCII name would be marked as undecodable binary.
struct ThreadUTF8Locale {
    private let locale: locale_t?
    private let previous: locale_t?

    init() {
        locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil)
        previous = locale.map { uselocale($0) }
    }

    func restore() {
        if let previous { uselocale(previous) }
        if let locale { freelocale(locale) }
    }
}
