import RukoSandbox

/// Sizes and durations as users write them on the command line (`500M`, `15m`).
public enum Units {
    /// Parses a byte size (`500M` is 500 × 2²⁰ bytes); the same rules as ruko-run's options
    /// (``ValueParser/size(_:)``).
    public static func parseSize(_ text: String) -> UInt64? { ValueParser.size(text) }

    /// Parses a duration (`90`, `500ms`, `15m`, `1h30m`); ``ValueParser/duration(_:)``.
    public static func parseDuration(_ text: String) -> Duration? { ValueParser.duration(text) }

    /// Heroku's slug size notation: mebibytes with one decimal and an `M` (`25.3M`).
    public static func slugSize(_ bytes: UInt64) -> String {
        let mebibytes = Double(bytes) / (1024 * 1024)
        return formatOneDecimal(mebibytes) + "M"
    }

    /// A limit in Heroku's notation: whole mebibytes without decimals (`500M`), else one decimal.
    public static func limitSize(_ bytes: UInt64) -> String {
        if bytes % (1024 * 1024) == 0 { return "\(bytes / (1024 * 1024))M" }
        return slugSize(bytes)
    }

    /// Whole mebibytes, rounded (`367`), for the soft-limit warning.
    public static func wholeMegabytes(_ bytes: UInt64) -> UInt64 {
        (bytes + 512 * 1024) / (1024 * 1024)
    }

    /// A duration for messages: `15m`, `90s`, `1h`, `1.5s`.
    public static func describe(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 3_600_000 == 0, milliseconds > 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0, milliseconds > 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return formatOneDecimal(Double(milliseconds) / 1000) + "s"
    }

    static func formatOneDecimal(_ value: Double) -> String {
        let tenths = Int64((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}

extension String {
    /// Trims white space by Unicode scalar (a Character would carry a joiner or a combining mark
    /// along with the space it follows).
    func trimmingWhitespace() -> String {
        var view = Substring(self).unicodeScalars
        while let first = view.first, first.properties.isWhitespace { view.removeFirst() }
        while let last = view.last, last.properties.isWhitespace { view.removeLast() }
        return String(String.UnicodeScalarView(view))
    }
}

extension Substring {
    /// Trims white space by Unicode scalar.
    func trimmingWhitespace() -> Substring {
        var view = self.unicodeScalars
        while let first = view.first, first.properties.isWhitespace { view.removeFirst() }
        while let last = view.last, last.properties.isWhitespace { view.removeLast() }
        return Substring(view)
    }
}
