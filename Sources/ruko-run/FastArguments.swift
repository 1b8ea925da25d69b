import RukoSandbox

/// A fast reader for the common `ruko-run` command lines, so that a sandbox start does not pay
/// for ArgumentParser's reflection (about 2 ms of a 6 ms start, measured with `perf`).
///
/// It accepts only what it can read exactly as `RukoRun` does: the long options by name, as
/// `--name value` or `--name=value`, the one flag, then `--` or the first non-option word starting
/// the command. Anything else — `-h`, `--help`, an unknown or misspelt option, a missing value, a
/// value that looks like an option, a number that does not parse, no command — returns nil, and
/// ArgumentParser reads the command line instead (and gives its help or its error). Tests check
/// that both readers agree on every command line the fast path accepts.
enum FastArguments {
    /// The options taking a value, by name.
    private static let valueOptions: Set<String> = [
        "template", "app", "bind", "env", "env-file", "user", "hostname", "workdir", "network", "memory", "pids",
        "cpus", "timeout", "cgroup-root",
    ]

    /// The options these arguments (without the program name) describe, or nil to let
    /// ArgumentParser decide.
    static func parse(_ arguments: [String]) -> RunOptions? {
        var options = RunOptions()
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            if word == "--" {
                options.command = Array(arguments[index...])
                break
            }
            guard word.hasPrefix("--") else {
                if word.hasPrefix("-") { return nil }  // short options: ArgumentParser's business
                options.command = Array(arguments[index...])
                break
            }
            guard let (name, inlineValue) = ValueParser.longOption(word) else { return nil }
            var value = inlineValue
            if name == "allow-missing-controllers" {
                guard value == nil, !options.allowMissingControllers else { return nil }
                options.allowMissingControllers = true
                index += 1
                continue
            }
            guard valueOptions.contains(name) else { return nil }
            if value == nil {
                index += 1
                guard index < arguments.count, !arguments[index].hasPrefix("-") else { return nil }
                value = arguments[index]
            }
            guard let value, apply(name, value, to: &options) else { return nil }
            index += 1
        }
        // No command, or one RukoRun.run answers with its help: ArgumentParser's path.
        let command = options.command.first == "--" ? Array(options.command.dropFirst()) : options.command
        if command.isEmpty || command == ["--help"] || command == ["-h"] { return nil }
        return options
    }

    /// Stores one option's value; false when it does not convert the way ArgumentParser would.
    private static func apply(_ name: String, _ value: String, to options: inout RunOptions) -> Bool {
        switch name {
        case "template": options.template = value
        case "app": options.app = value
        case "bind": options.binds.append(value)
        case "env": options.environment.append(value)
        case "env-file": options.envFiles.append(value)
        case "user": options.user = value
        case "hostname": options.hostname = value
        case "workdir": options.workdir = value
        case "network": options.network = value
        case "memory": options.memory = value
        case "pids":
            guard let number = Int(value) else { return false }
            options.pids = number
        case "cpus":
            guard let number = Double(value), number.isFinite else { return false }
            options.cpus = number
        case "timeout": options.timeout = value
        case "cgroup-root": options.cgroupRoot = value
        default: return false
        }
        return true
    }
}
