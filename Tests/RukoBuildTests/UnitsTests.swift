import Testing

@testable import RukoBuild

@Suite("Units and slug messages")
struct UnitsTests {
    @Test func sizes() {
        #expect(Units.parseSize("500M") == 500 * 1024 * 1024)
        #expect(Units.parseSize("1G") == 1 << 30)
        #expect(Units.parseSize("1.5k") == 1536)
        #expect(Units.parseSize("4096") == 4096)
        #expect(Units.parseSize("512MiB") == 512 << 20)
        #expect(Units.parseSize("lots") == nil)
        #expect(Units.parseSize("") == nil)
        #expect(Units.parseSize("5X") == nil)
    }

    @Test func durations() {
        #expect(Units.parseDuration("15m") == .seconds(900))
        #expect(Units.parseDuration("90s") == .seconds(90))
        #expect(Units.parseDuration("90") == .seconds(90))
        #expect(Units.parseDuration("1h30m") == .seconds(5400))
        #expect(Units.parseDuration("250ms") == .milliseconds(250))
        #expect(Units.parseDuration("soon") == nil)
        #expect(Units.parseDuration("5x") == nil)
        #expect(Units.parseDuration("2d") == .seconds(172_800))
        #expect(Units.describe(.seconds(900)) == "15m")
        #expect(Units.describe(.seconds(2)) == "2s")
        #expect(Units.describe(.seconds(7200)) == "2h")
    }

    @Test func herokuMessages() {
        let mebibyte: UInt64 = 1024 * 1024
        #expect(Units.slugSize(UInt64(25.3 * Double(mebibyte))) == "25.3M")
        let error = Slug.tooLargeError(actual: UInt64(502.5 * Double(mebibyte)), limit: 500 * mebibyte)
        #expect(
            error.formattedLines == [
                " !     Compiled slug size: 502.5M is too large (max is 500M).",
                " !     See: https://devcenter.heroku.com/articles/slug-size",
                " !     Push failed",
            ])
        #expect(
            Slug.softLimitWarning(367 * mebibyte, softLimit: 300 * mebibyte)
                == "Warning: Your slug size (367 MB) exceeds our soft limit (300 MB) which may affect boot time.")
    }
}
