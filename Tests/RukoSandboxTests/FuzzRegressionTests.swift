import RukoMount
import RukoSystem
import Testing

@testable import RukoSandbox

/// Inputs the rootfs-template fuzzer found (Tests/Fuzz/FuzzTemplate.swift; docs/fuzzing.md). Each
/// one is also kept as `Tests/Fuzz/corpus/template/crash-*`.
@Suite("Fuzz regressions: rootfs templates")
struct TemplateFuzzRegressionTests {
    func parse(_ text: String) throws(TemplateError) -> RootfsTemplate {
        try RootfsTemplate.parse(text, name: "fuzz")
    }

    /// crash-crlf: Swift reads "\r\n" as one Character, so splitting on "\n" kept a CRLF file as
    /// one line, and "\r\n" ended up inside paths.
    @Test func crlfTemplateParsesLikeLF() throws {
        let lf = try parse("ro-bind /usr\nproc /proc\nhostname crlf\n")
        let crlf = try parse("ro-bind /usr\r\nproc /proc\r\nhostname crlf\r\n")
        #expect(crlf == lf)
        #expect(
            crlf.entries == [
                .bind(source: "/usr", destination: "/usr", readOnly: true, optional: false),
                .proc(destination: "/proc"),
            ])
        #expect(crlf.hostname == "crlf")
    }

    /// crash-hidden-dotdot: U+0600 is a "prepend" character, so "\u{600}/" is one Character and
    /// the Character-wise split on "/" does not see the `..` component the kernel will resolve.
    @Test func dotDotBehindAPrependCharacterIsRefused() {
        #expect(throws: TemplateError.self) { try parse("tmpfs /x\u{600}/../etc\n") }
        #expect(throws: TemplateError.self) { try parse("ro-bind /usr/lib\u{600}/../../etc /data\n") }
        #expect(throws: TemplateError.self) { try parse("app /app\u{600}/..\n") }
    }

    /// The planner's own check (defence in depth) has the same Character-wise split.
    @Test func plannerRefusesDotDotBehindAPrependCharacter() {
        let kernel = FakeKernel()
        #expect(throws: MountPlanError.self) {
            try MountPlanner(kernel: kernel).plan(
                [.tmpfs(destination: "/x\u{600}/../etc", options: "mode=0755")], root: "/r")
        }
    }

    /// crash-long-path (found by review of the `path` invariant): the length limit counts
    /// Characters, so 3000 "a\u{301}" pass as 3000 while the kernel sees 9001 bytes (PATH_MAX 4096).
    @Test func pathLengthIsCountedInBytes() {
        let long = "/" + String(repeating: "a\u{301}", count: 3000)
        #expect(throws: TemplateError.self) { try parse("tmpfs \(long)\n") }
    }

    /// crash-env-nul: a NUL in an env entry would silently cut the value at execve.
    @Test func nulInEnvIsRefused() {
        #expect(throws: TemplateError.self) { try parse("ro-bind /usr\nenv PATH=/usr/bin:/\0bin\n") }
        #expect(throws: TemplateError.self) { try parse("ro-bind /usr\nenv PA\0TH=/usr/bin\n") }
    }

    /// crash-env-key-with-equals: `firstIndex(of: "=")` compares Characters, and "=\u{200D}" is
    /// one Character, so the key ran on to a later `=` and kept an `=` inside it; execve would then
    /// set `A`, not the key the template (and the caller's override) think they set.
    @Test func envSplitsAtTheFirstEqualsByte() throws {
        let template = try parse("ro-bind /usr\nenv A=\u{200D}B=C\n")
        #expect(template.environment == ["A": "\u{200D}B=C"])
    }

    /// crash-tmpfs-unicode-digits: `isLetter`/`isNumber` accept non-ASCII letters and digits
    /// ("١٢"), which the kernel's tmpfs option parser then rejects at run time.
    @Test func tmpfsOptionsAreASCII() {
        #expect(throws: TemplateError.self) { try parse("tmpfs /t size=\u{661}\u{662}m\n") }
        #expect(throws: TemplateError.self) { try parse("tmpfs /t modé=0755\n") }
    }
}
