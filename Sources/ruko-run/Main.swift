import ArgumentParser

/// The entry point: the fast reader for common command lines, ArgumentParser for the rest.
@main
enum RukoRunMain {
    static func main() {
        if let options = FastArguments.parse(Array(CommandLine.arguments.dropFirst())) {
            options.execute()
        }
        RukoRun.main()
    }
}
