import RukoArchive

/// How the app sits in the slug.
public enum SlugLayout: String, Sendable, CaseIterable, Codable {
    /// Heroku's documented layout: `./app/Procfile`.
    case app
    /// herokuish/openruko's layout: `./Procfile`.
    case flat

    /// The archive name prefix.
    public var prefix: String { self == .app ? "./app/" : "./" }
}

/// Packing a built tree into a slug, with Heroku's size rules and messages.
public enum Slug {
    /// Heroku's hard limit, 500 MB.
    public static let defaultMaxSize: UInt64 = 500 * 1024 * 1024
    /// Heroku's soft limit, 300 MB: above it a warning, not a failure.
    public static let softLimit: UInt64 = 300 * 1024 * 1024

    /// Options for ``pack(directory:to:options:output:)``.
    public struct Options: Sendable {
        public var layout: SlugLayout = .app
        public var compression: CompressionLevel = .default
        public var maxSize: UInt64 = Slug.defaultMaxSize
        public var softLimit: UInt64 = Slug.softLimit
        /// mtimes later than this are clamped to it (reproducible slugs); nil keeps them.
        public var sourceDateEpoch: Int64?
        /// `.slugignore` rules (`.git` is always excluded).
        public var ignore: SlugIgnore = .empty
        /// Compressor threads; nil = every core.
        public var threads: Int?
        /// Polled before each entry: true stops packing (BuildError `.cancelled`, no file left).
        public var isCancelled: (@Sendable () -> Bool)?

        public init() {}
    }

    /// Packs `directory` into `outputPath` (written to a temporary file, renamed on success).
    /// Prints `-----> Compressing... done, 25.3M` and the soft-limit warning; over the hard
    /// limit it fails with Heroku's messages and leaves no file.
    public static func pack(
        directory: String, to outputPath: String, options: Options, output: (BuildOutputLine) -> Void
    ) throws(BuildError) -> PackResult {
        let ignore = options.ignore
        var packOptions = PackOptions(
            prefix: options.layout.prefix, compression: options.compression, threads: options.threads,
            sourceDateEpoch: options.sourceDateEpoch,
            exclude: { path, isDirectory in ignore.excludes(path, isDirectory: isDirectory) },
            maxOutputBytes: options.maxSize)
        packOptions.isCancelled = options.isCancelled
        let result: PackResult
        do {
            result = try SlugPacker.pack(directory: directory, to: outputPath, options: packOptions)
        } catch {
            if case .tooLarge(let actual, let limit) = error.kind {
                output(.header("Compressing... done, \(Units.slugSize(actual))"))
                throw tooLargeError(actual: actual, limit: limit)
            }
            if case .cancelled = error.kind {
                throw BuildError(.cancelled, "Packing the slug was cancelled; no slug was written.")
            }
            throw BuildError(.pack, "Packing the slug failed: \(error).")
        }
        output(.header("Compressing... done, \(Units.slugSize(result.bytes))"))
        if result.bytes > options.softLimit {
            output(.error(softLimitWarning(result.bytes, softLimit: options.softLimit)))
        }
        return result
    }

    /// ` !     Compiled slug size: 502.5M is too large (max is 500M).` and the two lines after it.
    public static func tooLargeError(actual: UInt64, limit: UInt64) -> BuildError {
        BuildError(
            .slugTooLarge,
            "Compiled slug size: \(Units.slugSize(actual)) is too large (max is \(Units.limitSize(limit))).",
            "See: https://devcenter.heroku.com/articles/slug-size",
            "Push failed")
    }

    /// `Warning: Your slug size (367 MB) exceeds our soft limit (300 MB) which may affect boot time.`
    public static func softLimitWarning(_ bytes: UInt64, softLimit: UInt64) -> String {
        "Warning: Your slug size (\(Units.wholeMegabytes(bytes)) MB) exceeds our soft limit "
            + "(\(Units.wholeMegabytes(softLimit)) MB) which may affect boot time."
    }
}
