import Foundation

/// The noise-column experiment (docs/nssr.md): SQUARE, FORCE, KE, PE and TOTAL_E from their CSV
/// files, searched in that order, each function found registered under the task's name before
/// the next task (so KE may use SQUARE, and TOTAL_E the learned KE and PE).
public enum NoiseColumnExperiment {
    public static let tasks = ["SQUARE", "FORCE", "KE", "PE", "TOTAL_E"]

    public struct Outcome: Sendable {
        public let task: String
        public let report: SearchReport
        public let registered: RegisteredFunction?
    }

    /// Runs every task of `data` (a folder holding `<TASK>.csv`) against `registry`, which must be
    /// writable and must not hold the tasks' names yet.
    public static func run(registry: Registry, data: String, guide: SearchGuide, settings: SearchSettings = SearchSettings(),
                           progress: (String) -> Void = { _ in }) throws -> [Outcome] {
        try registry.check(modelFunctions: guide.functionNames)
        if let taken = tasks.first(where: { registry.table.function(named: $0) != nil }) {
            throw NSSRError("\(registry.path): a function named '\(taken)' already exists; run the experiment on a registry without the tasks' names (recur nssr init NEW.sqlite)")
        }
        var outcomes: [Outcome] = []
        for name in tasks {
            progress(name)
            let task = try TaskTable.read(path: URL(fileURLWithPath: data).appendingPathComponent("\(name).csv").path)
            let report = try NSSRSearch(table: registry.table, task: task, settings: settings).run(guide: guide)
            let registered = try report.answer.map {
                try registry.register(name: name, arity: $0.arity, steps: $0.steps, constant: $0.constant, constMode: $0.constMode ?? .multiplicative)
            }
            outcomes.append(Outcome(task: name, report: report, registered: registered))
        }
        return outcomes
    }
}
