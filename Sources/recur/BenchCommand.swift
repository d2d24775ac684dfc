import ArgumentParser
import Bench
import Foundation
import Runtime

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure speed and quantization drift; keep every run in a history database.",
        subcommands: [BenchRunCommand.self, BenchLMCommand.self, BenchRLMCommand.self, BenchControllerCommand.self, BenchRulesCommand.self, BenchNssrCommand.self, DriftCommand.self, BenchProbeCommand.self, BenchHistoryCommand.self, BenchCompareCommand.self, BenchReportCommand.self],
        defaultSubcommand: BenchRunCommand.self)
}

struct DriftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "KL divergence, same-top-1, solve rates or perplexity, halting and ACT steps of models against an F32 reference.",
        discussion: """
        Without --reference, the first --model (default: the shipped model) is the reference and \
        the other models, plus --types quantized from the reference (default q8_0,q4_0,q4_1 when \
        only one model is given), are measured against it. Puzzle models solve --input; recursive \
        language models read --text teacher-forced in windows of --window tokens.
        """)

    @Option(name: .long, parsing: .upToNextOption, help: "Models to measure (GGUF files).")
    var model: [String] = []

    @Option(name: .long, help: "The F32 reference model (default: the first --model).")
    var reference: String?

    @Option(name: .long, help: "Types to quantize from the reference and measure, e.g. q8_0,q4_0.")
    var types: [String] = []

    @Option(name: .long, help: "Puzzle file with solutions (default: models/sudoku-samples.txt).")
    var input: String?

    @Option(name: .long, help: "Only the first N puzzles.")
    var limit: Int?

    @Option(name: .long, help: "ACT step cap (default: the model's halt_max_steps).")
    var maxSteps: Int?

    @Option(name: .long, help: "Language models: held-out text (default: models/rlm-kjv-heldout.txt).")
    var text: String?

    @Option(name: .long, help: "Language models: tokens per window (each window a fresh context).")
    var window: Int = 128

    @Option(name: .long, help: "Language models: score at most this many tokens of --text.")
    var maxTokens: Int = 4096

    @Option(name: .long) var batch: Int = 16
    @Option(name: .long) var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Also write the figures as JSON to this file.")
    var json: String?

    @Option(name: .long, help: "History database (default: $RECUR_BENCH_DB or ~/.local/share/recur/bench.sqlite).")
    var history: String?

    func run() throws {
        let stop = BenchSupport.installInterruptHandler()
        setvbuf(stdout, nil, _IOLBF, 0)
        var candidates = model
        let referencePath: String
        if let reference { referencePath = reference } else if !candidates.isEmpty { referencePath = candidates.removeFirst() } else {
            referencePath = try DefaultModel.path()
        }
        var typeList = try BenchSupport.parseTypes(types)
        if typeList.isEmpty && candidates.isEmpty { typeList = [.q8_0, .q4_0, .q4_1] }
        let temp = FileManager.default.temporaryDirectory.appendingPathComponent("recur-drift-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: temp) }
        let refVariant = try BenchSupport.variants(models: [referencePath], types: [], temp: temp)[0]
        var variants = try BenchSupport.variants(models: candidates, types: [], temp: temp)
        if !typeList.isEmpty {
            variants += try BenchSupport.variants(models: [referencePath], types: typeList, temp: temp).filter { $0.path != referencePath }
        }
        if try ModelFamilies.describe(GGUFFile(path: referencePath)).isCausal {
            return try runText(reference: refVariant, variants: variants, stop: stop)
        }
        let (inputPath, lines) = try BenchSupport.puzzles(input, limit: limit)

        let ref = try RecursiveModel(path: referencePath)
        var run = BenchRun(kind: "drift", startedAt: Date(), machine: .current(), gitCommit: GitCommit.current(),
                           command: (["recur"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        print("drift against \(referencePath) (\(refVariant.type.name)) on \(lines.count) puzzles from \(inputPath), Q-head halting")
        print("model                      valid   exact  tok.acc  steps   KL mean    KL p50    KL p90    KL p95    KL p99  KL p99.9    KL max  same-top1  halts changed  valid +/- (p)")
        func row(_ name: String, _ s: SolveStats, _ r: DriftReport?) {
            var line = name.padding(toLength: 24, withPad: " ", startingAt: 0)
            line += String(format: " %6.2f%% %6.2f%% %7.2f%% %6.2f", 100 * s.validRate, 100 * s.exactRate, 100 * s.tokenAccuracy, s.meanSteps)
            if let r {
                for v in [r.klMean] + ["p50", "p90", "p95", "p99", "p99.9"].map({ r.klPercentiles[$0] ?? 0 }) + [r.klMax] {
                    line += String(format: "  %8.2e", v)
                }
                line += String(format: "  %8.4f%%  %d of %d", 100 * r.sameTop1, r.haltingChanged, r.puzzles)
                line += String(format: "  +%d/-%d (p %.2g)", r.validGained, r.validLost, r.validChangeP)
            }
            print(line)
        }
        func measurement(_ v: BenchSupport.Variant, _ figures: [String: Double]) -> BenchMeasurement {
            BenchMeasurement(engine: "recur", modelPath: v.path, modelSHA256: v.sha256, modelType: v.type.name, threads: threads,
                             batch: batch, halt: "qhead", puzzles: lines.count, repetitions: 1, figures: figures)
        }
        /// The model's outputs, or nil when Ctrl-C stopped it part way.
        func solve(_ model: RecursiveModel, _ name: String) throws -> [ModelOutput]? {
            defer { BenchSupport.endProgress() }
            do {
                return try Drift.run(model, lines: lines, batch: batch, threads: threads, maxSteps: maxSteps, stop: stop) {
                    BenchSupport.progress("\(name): \($0)/\(lines.count) puzzles")
                }
            } catch is BenchInterrupted {
                return nil
            }
        }
        guard let refOutputs = try solve(ref, "\(refVariant.type.name) reference") else { throw ExitCode(130) }
        var refStats = SolveStats()
        for (out, line) in zip(refOutputs, lines) { refStats.add(prediction: out.prediction, steps: out.steps, line: line) }
        row("\(refVariant.type.name) (reference)", refStats, nil)
        run.measurements.append(measurement(refVariant, refStats.figures()))
        var reports: [String: DriftReport] = [:]
        for v in variants {
            if stop.isSet { break }
            let candidate = try RecursiveModel(path: v.path)
            guard candidate.config.seqLen == ref.config.seqLen, candidate.config.vocabSize == ref.config.vocabSize else {
                throw CLIError("\(v.path) and \(referencePath) differ in tokens per input or vocabulary")
            }
            let name = v.derived ? v.type.name : URL(fileURLWithPath: v.path).lastPathComponent
            guard let outputs = try solve(candidate, name) else { break }
            let report = Drift.compare(reference: refOutputs, candidate: outputs, lines: lines, vocab: ref.config.vocabSize)
            row(name, report.candidate, report)
            reports[v.derived ? v.type.name : v.path] = report
            run.measurements.append(measurement(v, report.figures))
        }
        run.interrupted = stop.isSet
        if let json {
            try JSONOutput.encoder(pretty: true).encode(reports).write(to: URL(fileURLWithPath: json), options: .atomic)
        }
        BenchSupport.store(run, history: history)
        if stop.isSet { throw ExitCode(130) }
    }
}
