/// Sizes and durations as users write them on the command line (`500M`, `15m`).
public enum Units {
    /// Parses a byte size: a number with an optional binary suffix `K`, `M`, `G`, `T` (also
    /// `KB`, `MiB`, …, case-insensitive), or bytes without a suffix. `500M` is 500 × 2²⁰ bytes.
    public static func parseSize(_ text: String) -> UInt64? {
        let trimmed = text.trimmingWhitespace()
        var digits = ""
        var suffix = ""
        for character in trimmed {
            if suffix.isEmpty, character.isNumber || character == "." {
                digits.append(character)
            } else {
                suffix.append(character)
            }
        }
        guard !digits.isEmpty, let value = Double(digits), value >= 0 else { return nil }
        let multiplier: Double
        switch suffix.lowercased() {
        case "", "b": multiplier = 1
        case "k", "kb", "kib": multiplier = 1024
        case "m", "mb", "mib": multiplier = 1024 * 1024
        case "g", "gb", "gib": multiplier = 1024 * 1024 * 1024
        case "t", "tb", "tib": multiplier = 1024 * 1024 * 1024 * 1024
        default: return nil
        }
        let bytes = (value * multiplier).rounded()
        guard bytes < Double(UInt64.max) else { return nil }
        return UInt64(bytes)
    }

    /// Parses a duration: a number with a suffix `ms`, `s`, `m`, `h`, or seconds without one.
    /// Compound forms such as `1h30m` are accepted.
    public static func parseDuration(_ text: String) -> Duration? {
        var remaining = Substring(text.trimmingWhitespace())
        guard !remaining.isEmpty else { return nil }
        var total = Duration.zero
        while !remaining.isEmpty {
            let number = remaining.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number), value >= 0 else { return nil }
            remaining = remaining.dropFirst(number.count)
            let unit = remaining.prefix { $0.isLetter }
            remaining = remaining.dropFirst(unit.count)
            let seconds: Double
            switch unit.lowercased() {
            case "ms": seconds = value / 1000
            case "", "s": seconds = value
            case "m", "min": seconds = value * 60
            case "h": seconds = value * 3600
            default: return nil
            }
            total += .milliseconds(Int64((seconds * 1000).rounded()))
        }
        return total
    }

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
