import Testing

@testable import RukoBuild

@Suite("Release")
struct ReleaseTests {
    @Test func parsesHerokuReleaseOutput() throws {
        let yaml = """
            ---
            addons: [] # ignored
            config_vars: {PATH: "/app/.venv/bin:/usr/bin", WORKERS: 4}
            default_process_types:
              web: bin/start
              worker: bin/work --queue=a:b
            """
        let release = try BuildpackRelease(parsingYAML: yaml, buildpack: "python")
        #expect(release.configVars == ["PATH": "/app/.venv/bin:/usr/bin", "WORKERS": "4"])
        #expect(release.defaultProcessTypes == ["web": "bin/start", "worker": "bin/work --queue=a:b"])
    }

    @Test func emptyOutputIsAnEmptyRelease() throws {
        #expect(try BuildpackRelease(parsingYAML: "", buildpack: "x") == BuildpackRelease())
        #expect(try BuildpackRelease(parsingYAML: "---\n", buildpack: "x") == BuildpackRelease())
        #expect(
            try BuildpackRelease(parsingYAML: "---\ndefault_process_types:\n", buildpack: "x") == BuildpackRelease())
    }

    static let malformed = [
        "default_process_types: {web: [unclosed",
        "- a\n- b\n",
        "config_vars: [1, 2]\n",
        "default_process_types:\n  web: {nested: map}\n",
        "default_process_types:\n  'bad type': x\n",
        "\tconfig_vars: x: y: z\n",
    ]

    @Test("malformed YAML is a clear error", arguments: malformed)
    func malformedIsAnError(_ yaml: String) {
        #expect {
            _ = try BuildpackRelease(parsingYAML: yaml, buildpack: "broken")
        } throws: { error in
            guard let error = error as? BuildError else { return false }
            return error.kind == .release && error.messages[0].hasPrefix("Buildpack broken:")
        }
    }

    @Test func procfileWinsAndBuildpacksMergeInOrder() throws {
        let first = BuildpackRelease(
            configVars: ["A": "1", "B": "1"], defaultProcessTypes: ["web": "first-web", "a": "x"])
        let second = BuildpackRelease(configVars: ["B": "2"], defaultProcessTypes: ["web": "second-web", "b": "y"])
        let procfile = try Procfile(parsing: "web: procfile-web\nclock: tick\n")
        let merged = MergedRelease(buildpacks: [("one", first), ("two", second)], procfile: procfile)
        #expect(merged.processTypes == ["web": "procfile-web", "a": "x", "b": "y", "clock": "tick"])
        #expect(merged.configVars == ["A": "1", "B": "2"])
        #expect(merged.origins["web"] == "Procfile")
        #expect(merged.origins["b"] == "two")
        let withoutProcfile = MergedRelease(buildpacks: [("one", first), ("two", second)], procfile: nil)
        #expect(withoutProcfile.processTypes["web"] == "second-web")
    }
}
