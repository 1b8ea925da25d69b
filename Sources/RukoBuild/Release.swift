import Yams

/// What one buildpack's `bin/release` printed.
public struct BuildpackRelease: Sendable, Equatable {
    /// `config_vars`: defaults for the app's config (a user's config var overrides them).
    public var configVars: [String: String]
    /// `default_process_types`.
    public var defaultProcessTypes: [String: String]

    /// An empty release (no `bin/release`, or it printed nothing).
    public init(configVars: [String: String] = [:], defaultProcessTypes: [String: String] = [:]) {
        self.configVars = configVars
        self.defaultProcessTypes = defaultProcessTypes
    }

    /// Parses `bin/release` output. `addons` and unknown keys are ignored; anything but a mapping
    /// at the top, or a non-mapping `config_vars` / `default_process_types`, is an error.
    public init(parsingYAML text: String, buildpack: String) throws(BuildError) {
        self.init()
        if text.trimmingWhitespace().isEmpty { return }
        let node: Node?
        do {
            // The basic resolver: every scalar stays a string (what config vars and commands
            // are), and no regex rules are compiled (`.default` costs milliseconds per build).
            node = try Yams.compose(yaml: text, .basic)
        } catch {
            throw BuildError(
                .release, "Buildpack \(buildpack): bin/release printed malformed YAML: \(Self.oneLine("\(error)")).",
                "Fix the buildpack's bin/release; it must print a YAML mapping.")
        }
        guard let node else { return }
        if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "~" { return }
        guard let mapping = node.mapping else {
            throw BuildError(
                .release,
                "Buildpack \(buildpack): bin/release must print a YAML mapping (`config_vars:`, `default_process_types:`)."
            )
        }
        configVars = Dictionary(
            try Self.stringPairs(Self.value(of: "config_vars", in: mapping), key: "config_vars", buildpack: buildpack),
            uniquingKeysWith: { _, last in last })
        // Checked in document order, so the error names the first bad type, every time.
        let types = try Self.stringPairs(
            Self.value(of: "default_process_types", in: mapping), key: "default_process_types", buildpack: buildpack)
        defaultProcessTypes = Dictionary(types, uniquingKeysWith: { _, last in last })
        for (type, command) in types {
            guard Procfile.isValidType(type) else {
                throw BuildError(
                    .release, "Buildpack \(buildpack): bin/release declares an invalid process type `\(type)`.")
            }
            if command.isEmpty {
                throw BuildError(
                    .release, "Buildpack \(buildpack): bin/release declares process type `\(type)` without a command.")
            }
        }
    }

    /// The value of a plain-scalar key (the last one, as Yams's subscript picks), compared as a
    /// string so that no tag resolution happens.
    private static func value(of key: String, in mapping: Node.Mapping) -> Node? {
        mapping.reversed().first { $0.key.scalar?.string == key }?.value
    }

    private static func stringPairs(_ node: Node?, key: String, buildpack: String) throws(BuildError)
        -> [(String, String)]
    {
        guard let node else { return [] }
        if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null" {
            return []
        }
        guard let mapping = node.mapping else {
            throw BuildError(.release, "Buildpack \(buildpack): `\(key)` in bin/release output must be a mapping.")
        }
        var result: [(String, String)] = []
        for (keyNode, valueNode) in mapping {
            guard let name = keyNode.scalar?.string, let value = valueNode.scalar?.string else {
                throw BuildError(
                    .release, "Buildpack \(buildpack): `\(key)` in bin/release output must map names to plain values.")
            }
            result.append((name, value))
        }
        return result
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }.joined(
            separator: " ")
    }
}

/// The release of a whole build: buildpack releases merged, then the Procfile.
public struct MergedRelease: Sendable, Equatable {
    public var processTypes: [String: String]
    public var configVars: [String: String]
    /// Where each process type came from (`Procfile` or a buildpack name), for the summary.
    public var origins: [String: String]

    /// Merge rule: buildpacks in order, a later buildpack's `default_process_types` and
    /// `config_vars` entries replace an earlier one's on a clash (types and vars merge); then the
    /// Procfile's types replace any buildpack default of the same name.
    public init(buildpacks: [(name: String, release: BuildpackRelease)], procfile: Procfile?) {
        processTypes = [:]
        configVars = [:]
        origins = [:]
        for (name, release) in buildpacks {
            for (type, command) in release.defaultProcessTypes {
                processTypes[type] = command
                origins[type] = name
            }
            configVars.merge(release.configVars) { _, later in later }
        }
        for entry in procfile?.entries ?? [] {
            processTypes[entry.type] = entry.command
            origins[entry.type] = "Procfile"
        }
    }
}
