import ArgumentParser
import Foundation
import NSSR
import Runtime

/// `recur nssr`: neuro-symbolic search (docs/nssr.md). A function registry in SQLite, a search
/// guided by the NSSR model that finds a composition of registered functions matching example
/// rows, and registering what it finds.
struct NssrCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nssr",
        abstract: "Neuro-symbolic search: find a composition of registered functions that fits example rows.",
        subcommands: [NssrInit.self, NssrSearch.self, NssrList.self, NssrEval.self])
}

extension DefaultModel {
    static let nssrFileName = "nssr-f32.gguf"
    static let nssrRegistry = "models/nssr/registry.sqlite"
}

struct NssrInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a registry holding the 22 primitives (never overwrites a file).")

    @Argument(help: "The registry to create (SQLite).")
    var registry: String

    func run() throws {
        let r = try Registry.create(path: registry)
        print("\(registry): a new registry with \(r.functions.count) primitives")
    }
}

struct NssrList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List a registry's functions: id, name, arity, layer and what a learned one computes.")

    @Argument(help: "The registry (SQLite).")
    var registry: String

    func run() throws {
        let r = try Registry(path: registry)
        let width = max(4, r.functions.map(\.name.count).max() ?? 4)
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? fill + s : s + fill
        }
        var lines = ["\(pad("id", 4, left: true))  \(pad("name", width))  arity  layer  expression"]
        for f in r.functions {
            lines.append("\(pad("\(f.id)", 4, left: true))  \(pad(f.name, width))  \(pad("\(f.arity)", 5, left: true))  \(pad("\(f.layer)", 5, left: true))  \(r.table.expression(of: f))")
        }
        print(lines.joined(separator: "\n"))
    }
}

struct NssrEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a registered function on example rows: how many rows it matches, and R^2.",
        discussion: "The examples are a CSV: an optional header line, then rows of numbers, the output last; the function takes the input columns in order.")

    @Argument(help: "The registry (SQLite).")
    var registry: String
    @Argument(help: "The function's name.")
    var name: String
    @Option(name: [.customShort("e"), .customLong("examples")], help: "The example rows (CSV).")
    var examples: String
    @Flag(name: .customLong("json"), help: "Print {\"exact\": n, \"rows\": m, \"r2\": x}.")
    var json = false

    func run() throws {
        let task = try TaskTable.read(path: examples)
        let r = try Registry(path: registry)
        guard let f = r.table.function(named: name) else {
            throw CLIError("\(registry): no function named '\(name)' (`recur nssr list \(registry)` lists them)")
        }
        guard !f.isIteration else {
            throw CLIError("\(f.name) is an iteration primitive and needs a body; evaluate a learned function that uses it")
        }
        guard f.arity == task.inputCount else {
            throw CLIError("\(f.name) takes \(f.arity) input\(f.arity == 1 ? "" : "s"), but \(examples) has \(task.inputCount) input column\(task.inputCount == 1 ? "" : "s") (the last column is the output)")
        }
        let p = try r.table.evaluate(f.id, rows: task.inputs)
        let y = task.outputs
        let exact = zip(p, y).filter { nssrMatches($0, $1) }.count
        let r2 = NSSRSearch.r2(p, y)
        if json {
            print(try JSONOutput.line(["exact": exact, "rows": task.rowCount, "r2": r2]))
        } else {
            print("\(f.name): \(exact) of \(task.rowCount) rows exact, R^2 \(formatNumber(r2))")
        }
    }
}

struct NssrSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search for a composition of registered functions that fits example rows.",
        discussion: """
        The examples are a CSV: an optional header line, then rows of numbers, the output last; inputs are named a, b, c, ... \
        by column. Prints the simplified function's expression (over its own inputs a, b, ..., the task columns it reads, \
        in order), the same over the task's columns, its composition and R^2; with --register NAME the answer is stored in \
        the registry. The default registry is opened read-only. Exit status 2 when no composition fits.
        """)

    @Option(name: [.customShort("e"), .customLong("examples")], help: "The example rows (CSV).")
    var examples: String
    @Option(name: [.customShort("m"), .customLong("model")], help: "An nssr GGUF (default: models/\(DefaultModel.nssrFileName)).")
    var model: String?
    @Option(name: .customLong("registry"), help: "The registry (default: \(DefaultModel.nssrRegistry), read-only).")
    var registry: String?
    @Option(name: .customLong("register"), help: "Store the answer in the registry under this name (needs --registry).")
    var register: String?
    @Flag(name: .customLong("json"), help: "Print one JSON object.")
    var json = false

    func run() throws {
        if register != nil && registry == nil {
            throw CLIError("--register needs an explicit --registry: the default registry (\(DefaultModel.nssrRegistry)) is only read")
        }
        let task = try TaskTable.read(path: examples)
        let registryPath: String
        if let registry {
            registryPath = registry
        } else {
            guard let shipped = ShippedFile.locate(DefaultModel.nssrRegistry) else {
                throw CLIError("no registry given and \(DefaultModel.nssrRegistry) was not found from the current folder or the recur binary; pass --registry DB")
            }
            registryPath = shipped
        }
        let store = try Registry(path: registryPath, writable: register != nil)
        if let register, !Registry.isValidName(register) {
            throw CLIError("'\(register)' is not a function name: use letters, digits and _, not starting with a digit")
        }
        if let register, store.table.function(named: register) != nil {
            throw CLIError("\(registryPath): a function named '\(register)' already exists; pick another --register name")
        }
        let guide = try loadSearchGuide(path: try model ?? DefaultModel.path(DefaultModel.nssrFileName))
        try store.check(modelFunctions: guide.functionNames)
        let search = NSSRSearch(table: store.table, task: task)
        let report = try search.run(guide: guide)
        var registered: RegisteredFunction?
        if let register, let a = report.answer {
            registered = try store.register(name: register, arity: a.arity, steps: a.steps, constant: a.constant,
                                            constMode: a.constMode ?? .multiplicative)
        }
        if json {
            // The keys of the reference's search result (tools/reference/nssr.py search --json).
            var object: [String: Any] = ["found": report.answer != nil, "steps": report.stepsRun, "candidates": report.candidatesValidated,
                                         "seconds": report.seconds, "registered": registered?.name ?? NSNull()]
            let a = report.answer
            object["expression"] = a?.expression ?? NSNull()
            object["task_expression"] = a?.taskExpression ?? NSNull()
            object["composition"] = try a.map { try JSONSerialization.jsonObject(with: Data($0.compositionJSON.utf8)) } ?? NSNull()
            object["arity"] = a?.arity ?? 0
            object["columns"] = a?.columns ?? NSNull()
            object["constant"] = a?.constant ?? NSNull()
            object["const_mode"] = a?.constMode?.rawValue ?? NSNull()
            object["r2"] = a?.r2 ?? NSNull()
            object["exact"] = a?.exact ?? false
            object["group"] = a?.group.rawValue ?? NSNull()
            object["attempt"] = a?.retry ?? NSNull()
            object["step"] = a?.supervisionStep ?? NSNull()
            print(try JSONOutput.line(object))
        } else if let a = report.answer {
            print(a.expression)
            let inputs = a.columns.enumerated().map { "\(TaskTable.columnName($0.offset)) = column \(TaskTable.columnName($0.element))" }
            print("over the task's columns: \(a.taskExpression) (\(inputs.joined(separator: ", ")))")
            var composition = "composition: \(a.compositionJSON)"
            if let c = a.constant { composition += ", constant \(formatNumber(c)) (\(a.constMode?.rawValue ?? ""))" }
            print(composition)
            print("R^2: \(formatNumber(a.r2))\(a.exact ? " (matches every row)" : " (does not match every row)")")
        }
        let found = report.answer.map { a in
            a.group == .reuse ? "found by reusing a learned function" : "found at supervision step \(a.supervisionStep ?? 0) (\(a.group.rawValue) candidates, attempt \(a.retry ?? 0))"
        } ?? "no solution"
        FileHandle.standardError.write(Data(String(format: "%@; %d steps run, %d candidates validated in %.3f s\n", found, report.stepsRun,
                                                   report.candidatesValidated, report.seconds).utf8))
        if let registered {
            FileHandle.standardError.write(Data("registered \(registered.name) as id \(registered.id) (layer \(registered.layer), arity \(registered.arity)) in \(registryPath)\n".utf8))
        }
        if report.answer == nil {
            FileHandle.standardError.write(Data("no composition of the registry's functions fits \(examples)\(register != nil ? "; nothing was registered" : "")\n".utf8))
            // As the reference: 2 when the search found nothing (1 is an error).
            throw ExitCode(2)
        }
    }
}
