import ArgumentParser

@main
struct Recur: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recur",
        abstract: "Run tiny recursive reasoning models (TRM, HRM) on the CPU.",
        subcommands: [Solve.self, Export.self, Inspect.self, BenchCommand.self, QHeadEval.self],
        defaultSubcommand: nil)
}
