// libFuzzer target: buildpack `bin/release` YAML (`BuildpackRelease(parsingYAML:)`,
// Sources/RukoBuild/Release.swift, on Yams/libyaml, which are instrumented too).
//
// Invariants, from the parser's documented contract and the buildpack API:
// - errors are `.release` BuildErrors with a message, never a crash, hang or memory blow-up of
//   the YAML library (stack depth, aliases);
// - blank output is an empty release;
// - every `default_process_types` key is a valid process type (`[A-Za-z0-9_-]{1,63}`, checked
//   byte by byte here) with a non-empty command (`process-type`);
// - deterministic, error messages included (`deterministic-error`); merging one release alone gives back its types and vars with that buildpack
//   as every origin, and a Procfile entry always wins over a buildpack default (`merge`).
@testable import RukoBuild

private func parse(_ text: String) -> Result<BuildpackRelease, BuildError> {
    do throws(BuildError) {
        return .success(try BuildpackRelease(parsingYAML: text, buildpack: "fuzz"))
    } catch { return .failure(error) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRelease(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = fuzzString(data, size)
    let result = parse(text)
    let again = parse(text)
    switch (result, again) {
    case (.success(let a), .success(let b)): require(a == b, "deterministic", escaped(text))
    case (.failure(let a), .failure(let b)):
        require(a.kind == b.kind, "deterministic", escaped(text))
        // The same bad output must get the same message (tests and users compare them).
        require(a.messages == b.messages, "deterministic-error", "\(a) vs \(b) for \(escaped(text))")
    default: require(false, "deterministic", "\(result) vs \(again) for \(escaped(text))")
    }
    let release: BuildpackRelease
    switch result {
    case .failure(let error):
        require(error.kind == .release, "error-kind", "\(error.kind)")
        require(!error.messages.isEmpty && error.messages.allSatisfy { !$0.isEmpty }, "error-message", "\(error)")
        return 0
    case .success(let parsed): release = parsed
    }
    if text.allSatisfy(\.isWhitespace) {
        require(release == BuildpackRelease(), "blank", escaped(text))
    }
    for (type, command) in release.defaultProcessTypes {
        require(isProcessTypeBytes(type), "process-type", "invalid type \(escaped(type))")
        require(!command.isEmpty, "process-type", "\(escaped(type)) has an empty command")
    }

    let alone = MergedRelease(buildpacks: [(name: "only", release: release)], procfile: nil)
    require(alone.processTypes == release.defaultProcessTypes, "merge", "\(alone)")
    require(alone.configVars == release.configVars, "merge", "\(alone)")
    require(
        alone.origins.values.allSatisfy { $0 == "only" } && alone.origins.count == alone.processTypes.count, "merge",
        "\(alone)")
    if let (type, _) = release.defaultProcessTypes.first {
        do throws(BuildError) {
            let procfile = try Procfile(parsing: "\(type): from-procfile\n")
            let merged = MergedRelease(
                buildpacks: [(name: "a", release: release), (name: "b", release: release)], procfile: procfile)
            require(
                merged.processTypes[type] == "from-procfile" && merged.origins[type] == "Procfile", "merge", "\(merged)"
            )
            require(
                merged.origins.filter { $0.key != type }.values.allSatisfy { $0 == "b" }, "merge",
                "later buildpack wins: \(merged)")
        } catch {
            require(false, "process-type", "accepted type \(escaped(type)) is not a Procfile type: \(error)")
        }
    }
    return 0
}
