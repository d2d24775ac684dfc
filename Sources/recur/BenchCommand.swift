import ArgumentParser
import Bench
import Foundation
import Runtime

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure accuracy drift against an F32 reference.",
        subcommands: [DriftCommand.self])
}

struct DriftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "KL divergence, same-top-1, solve rates, halting and ACT steps of models against an F32 reference.")

    @Option(name: .long, parsing: .upToNextOption, help: "Models to measure (GGUF files).")
    var model: [String]

    @Option(name: .long, help: "The F32 reference model.")
    var reference: String

    @Option(name: .long, help: "Puzzle file with solutions ('PUZZLE SOLUTION' per line).")
    var input: String

    @Option(name: .long, help: "Only the first N puzzles.")
    var limit: Int?

    @Option(name: .long) var batch: Int = 16
    @Option(name: .long) var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Also write the reports as JSON to this file.")
    var json: String?

    func run() throws {
        guard let data = FileManager.default.contents(atPath: input) else { throw CLIError("\(input): cannot read the file") }
        var lines = try SudokuLine.parseFile(String(decoding: data, as: UTF8.self), name: input)
        if let limit { lines = Array(lines.prefix(max(limit, 0))) }
        guard !lines.isEmpty else { throw CLIError("\(input): no puzzles found") }
        let ref = try RecursiveModel(path: reference)
        var reports: [String: DriftReport] = [:]
        print("drift against \(reference) on \(lines.count) puzzles, Q-head halting")
        print("model                               valid   exact  tok.acc  steps  KL mean    KL p99    KL max   same-top1  halts changed")
        func row(_ name: String, _ s: SolveStats, _ r: DriftReport?) {
            var line = name.padding(toLength: 34, withPad: " ", startingAt: 0)
            line += String(format: " %6.2f%% %6.2f%% %7.2f%% %6.2f", 100 * s.validRate, 100 * s.exactRate, 100 * s.tokenAccuracy, s.meanSteps)
            if let r {
                line += String(format: "  %.2e  %.2e  %.2e  %8.4f%%  %d", r.klMean, r.klPercentiles["p99"] ?? 0, r.klMax, 100 * r.sameTop1, r.haltingChanged)
            }
            print(line)
        }
        let refOutputs = try Drift.run(ref, lines: lines, batch: batch, threads: threads)
        var refStats = SolveStats()
        for (out, line) in zip(refOutputs, lines) { refStats.add(prediction: out.prediction, steps: out.steps, line: line) }
        row(URL(fileURLWithPath: reference).lastPathComponent + " (reference)", refStats, nil)
        for path in model {
            let candidate = try RecursiveModel(path: path)
            guard candidate.config.seqLen == ref.config.seqLen, candidate.config.vocabSize == ref.config.vocabSize else {
                throw CLIError("\(path) and \(reference) differ in tokens per input or vocabulary")
            }
            let outputs = try Drift.run(candidate, lines: lines, batch: batch, threads: threads)
            let report = Drift.compare(reference: refOutputs, candidate: outputs, lines: lines, vocab: ref.config.vocabSize)
            row(URL(fileURLWithPath: path).lastPathComponent, report.candidate, report)
            reports[path] = report
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(reports).write(to: URL(fileURLWithPath: json), options: .atomic)
        }
    }
}
