#if canImport(Glibc)
    import Glibc
#endif

/// Everything that ends a shim session early. The message is what the git user sees (after
/// ` !  `); every case exits 1 and leaves the stored repo, cache and releases untouched.
public struct ShimError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Why the session ended, for tests and logs.
    public enum Code: String, Sendable, Equatable {
        case badCommand, badUser, notAuthorized, unknownApp, readOnly, locked
        case apiUnreachable, apiError, storage, buildFailed, configuration, system, daemon, stopped
    }

    public var message: String
    public var code: Code

    public init(_ message: String, code: Code) {
        self.message = message
        self.code = code
    }

    public var description: String { message }

    /// The line printed on stderr: ` !  message`.
    public var userLine: String { " !  \(message)" }

    /// The session was stopped from outside: the git client hung up, or the daemon sent SIGTERM.
    public static let sessionStopped = ShimError(
        "the session was stopped (the connection closed): nothing was deployed; push again", code: .stopped)

    /// An error from a failed system call: the operation, the path and errno.
    static func system(_ operation: String, _ path: String = "", errno code: Int32 = errno) -> ShimError {
        let target = path.isEmpty ? "" : " \(path)"
        return ShimError(
            "\(operation)\(target) failed: \(String(cString: strerror(code))) (errno \(code))", code: .system)
    }
}
