/// Why a build (or a pack) failed.
///
/// `messages` are plain sentences; ``formattedLines`` prefixes each with ` !     `, the way the
/// front ends print errors on standard error.
public struct BuildError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The stage that failed.
    public enum Kind: String, Sendable, Equatable {
        case invalidRequest
        case selection
        case fetch
        case detect
        case compile
        case release
        case procfile
        case slugIgnore
        case tree
        case slugTooLarge
        case pack
        case sandbox
        case timeout
        case cancelled
        case io
    }

    /// The stage that failed.
    public var kind: Kind
    /// One or more sentences: what failed, where, and what to do.
    public var messages: [String]

    /// Creates an error with one or more message lines.
    public init(_ kind: Kind, _ messages: String...) {
        self.kind = kind
        self.messages = messages
    }

    /// Creates an error with message lines.
    public init(_ kind: Kind, lines: [String]) {
        self.kind = kind
        self.messages = lines
    }

    /// The messages, one per line, prefixed with ` !     `.
    public var formattedLines: [String] { messages.map { BuildOutputLine.errorPrefix + $0 } }

    public var description: String { messages.joined(separator: "\n") }
}

/// One line of build output, already formatted: `-----> ` headers, 7-space indented detail,
/// ` !     ` errors. Buildpack output is passed through as the buildpack printed it.
public struct BuildOutputLine: Sendable, Equatable {
    /// The text, without the trailing newline.
    public var text: String
    /// Whether the line belongs on standard error (buildpack stderr, warnings, errors).
    public var isError: Bool

    /// Creates an output line.
    public init(text: String, isError: Bool = false) {
        self.text = text
        self.isError = isError
    }

    static let headerPrefix = "-----> "
    static let detailPrefix = "       "
    static let errorPrefix = " !     "

    /// A `-----> ` header line.
    public static func header(_ text: String) -> BuildOutputLine { BuildOutputLine(text: headerPrefix + text) }
    /// A 7-space indented detail line.
    public static func detail(_ text: String) -> BuildOutputLine { BuildOutputLine(text: detailPrefix + text) }
    /// A ` !     ` line on standard error.
    public static func error(_ text: String) -> BuildOutputLine {
        BuildOutputLine(text: errorPrefix + text, isError: true)
    }
}
