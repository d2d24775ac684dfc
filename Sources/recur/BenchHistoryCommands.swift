import ArgumentParser
import Bench
import Foundation

struct BenchHistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "List the stored benchmark runs.")

    @Option(name: .long, help: "History database (default: $RECUR_BENCH_DB or ~/.local/share/recur/bench.sqlite).")
    var history: String?

    func run() throws {
        let store = try HistoryStore(path: history ?? HistoryStore.defaultPath)
        let runs = try store.runs()
        if runs.isEmpty { print("\(store.path): no runs yet"); return }
        print("  id  started (UTC)         kind        rows  commit        isa      cpu")
        for r in runs {
            let date = ISO8601DateFormatter().string(from: r.startedAt)
            var line: String = BenchSupport.pad(String(r.id ?? 0), 4, right: true) + "  " + date + "  " + BenchSupport.pad(r.kind, 10)
            line += BenchSupport.pad(String(r.measurements.count), 5, right: true) + "  " + BenchSupport.pad(String(r.gitCommit.prefix(12)), 12)
            line += "  " + BenchSupport.pad(r.machine.isa, 7) + "  " + r.machine.cpu
            print(r.interrupted ? line + "  (interrupted)" : line)
        }
    }
}

struct BenchCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare", abstract: "Differences between two runs, per matching configuration, with regressions flagged.",
        discussion: "Rule: \(Comparison.rule).")

    @Argument(help: "Run id of the baseline run (A).") var a: Int64
    @Argument(help: "Run id of the new run (B).") var b: Int64

    @Option(name: .long, help: "History database (default: $RECUR_BENCH_DB or ~/.local/share/recur/bench.sqlite).")
    var history: String?

    func run() throws {
        let store = try HistoryStore(path: history ?? HistoryStore.defaultPath)
        guard let runA = try store.run(id: a) else { throw CLIError("\(store.path): no run \(a)") }
        guard let runB = try store.run(id: b) else { throw CLIError("\(store.path): no run \(b)") }
        if runA.machine != runB.machine {
            print("note: the runs come from different machines (\(runA.machine.cpu) / \(runB.machine.cpu)); differences are not regressions of the code alone")
        }
        let rows = Comparison.compare(runA, runB)
        if rows.isEmpty { print("no configuration of run \(b) matches one of run \(a) (same engine, type, file hash, threads, batch, halting)"); return }
        print(BenchSupport.pad("configuration", 30) + BenchSupport.pad("figure", 20) + BenchSupport.pad("run \(a)", 13, right: true)
              + BenchSupport.pad("run \(b)", 13, right: true) + "     change  verdict")
        for r in rows {
            let verdict = r.verdict == .regression ? "REGRESSION" : r.verdict == .improvement ? "improvement" : "within noise"
            var line: String = BenchSupport.pad(r.configuration, 30) + BenchSupport.pad(r.figure, 20)
            line += String(format: " %12.4g %12.4g %+9.1f%%  ", r.a, r.b, 100 * r.relativeChange)
            print(line + verdict)
        }
        let regressions = rows.filter { $0.verdict == .regression }.count
        print("\(regressions) regression(s) of \(rows.count) compared figures. Rule: \(Comparison.rule)")
    }
}

struct BenchReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Markdown report with SVG plots of the latest throughput and drift runs.")

    @Option(name: .long, help: "History database (default: $RECUR_BENCH_DB or ~/.local/share/recur/bench.sqlite).")
    var history: String?

    @Option(name: .long, help: "Folder to write report.md and the SVG plots into.")
    var output: String

    func run() throws {
        let store = try HistoryStore(path: history ?? HistoryStore.defaultPath)
        let written = try BenchReport.write(runs: try store.runs(), to: output)
        for path in written { print("wrote \(path)") }
    }
}
