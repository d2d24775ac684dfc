import ArgumentParser
import Bench
import Foundation
import Runtime

extension DriftCommand {
    /// `recur bench drift` for recursive language models: every variant reads the held-out text
    /// teacher-forced with Q-head halting; the reference also at fixed maximum depth, which gives
    /// the perplexity halting is judged against.
    func runText(reference refVariant: BenchSupport.Variant, variants: [BenchSupport.Variant], stop: StopFlag) throws {
        let textPath = try text ?? DefaultModel.path("rlm-kjv-heldout.txt")
        guard let data = FileManager.default.contents(atPath: textPath), let content = String(validatingUTF8: data) else {
            throw CLIError("\(textPath): cannot read the text, or it is not UTF-8 (--text)")
        }
        guard window >= 2, maxTokens >= 2 else { throw CLIError("--window and --max-tokens must be at least 2") }
        let ref = try LanguageModel(path: refVariant.path)
        let tokens = Array(ref.tokenizer.encode(content, addSpecial: false, parseSpecial: false).prefix(maxTokens))
        guard tokens.count >= 2 else { throw CLIError("\(textPath): fewer than 2 tokens of text") }
        var run = BenchRun(kind: "drift", startedAt: Date(), machine: .current(), gitCommit: GitCommit.current(),
                           command: (["recur"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        print("drift against \(refVariant.path) (\(refVariant.type.name)) on \(tokens.count) tokens of \(textPath), windows of \(window), \(threads) threads")
        func pass(_ model: CausalModel, _ name: String, _ policy: HaltingPolicy) throws -> TextDrift.Pass? {
            BenchSupport.progress("\(name): \(tokens.count) tokens")
            defer { BenchSupport.endProgress() }
            do {
                return try TextDrift.run(model, tokens: tokens, window: window, threads: threads, policy: policy, maxSteps: maxSteps, stop: stop)
            } catch is BenchInterrupted {
                return nil
            }
        }
        func measurement(_ v: BenchSupport.Variant, _ halt: String, _ figures: [String: Double]) -> BenchMeasurement {
            BenchMeasurement(engine: "recur", modelPath: v.path, modelSHA256: v.sha256, modelType: v.type.name, threads: threads,
                             batch: 1, halt: halt, puzzles: tokens.count, repetitions: 1, figures: figures)
        }
        guard let deepest = try pass(ref.model, "\(refVariant.type.name) at max depth", .maxSteps),
              let refPass = try pass(ref.model, "\(refVariant.type.name) with halting", .qHead) else { throw ExitCode(130) }
        let maxPPL = TextDrift.perplexity(deepest, tokens: tokens, window: window)
        let halted = TextDrift.compare(reference: deepest, candidate: refPass, tokens: tokens, window: window)
        let cap = deepest.steps.first.map(Int.init) ?? 0
        print("\(refVariant.type.name) reference: " + String(format: "perplexity %.3f at max depth (%d steps), %.3f with Q-head halting (%+.2f%%) at %.2f mean ACT steps (%.1f%% of the work)",
                     maxPPL, cap, halted.candidatePerplexity, 100 * halted.perplexityChange,
                     halted.candidateMeanSteps, 100 * halted.candidateMeanSteps / Double(max(cap, 1))))
        run.measurements.append(measurement(refVariant, "max", ["ppl": maxPPL, "mean_steps": Double(cap)]))
        run.measurements.append(measurement(refVariant, "qhead", halted.figures()))
        print("model                   ppl      ppl +/-   steps   KL mean    KL p50    KL p90    KL p99    KL max  same-top1  halting changed")
        var reports: [String: TextDriftReport] = ["halting vs max depth": halted]
        for v in variants where !stop.isSet {
            let candidate = try CausalModel(path: v.path)
            guard candidate.vocabSize == ref.model.vocabSize, candidate.isRecursive == ref.model.isRecursive else {
                throw CLIError("\(v.path) and \(refVariant.path) differ in vocabulary or kind")
            }
            let name = v.derived ? v.type.name : URL(fileURLWithPath: v.path).lastPathComponent
            guard let candPass = try pass(candidate, name, .qHead) else { break }
            let r = TextDrift.compare(reference: refPass, candidate: candPass, tokens: tokens, window: window)
            var line = name.padding(toLength: 20, withPad: " ", startingAt: 0)
            line += String(format: " %8.3f  %+7.2f%%  %5.2f", r.candidatePerplexity, 100 * r.perplexityChange, r.candidateMeanSteps)
            for value in [r.klMean, r.klPercentiles["p50"] ?? 0, r.klPercentiles["p90"] ?? 0, r.klPercentiles["p99"] ?? 0, r.klMax] {
                line += String(format: "  %8.2e", value)
            }
            line += String(format: "  %8.4f%%  %d of %d", 100 * r.sameTop1, r.haltingChanged, tokens.count)
            print(line)
            reports[v.derived ? v.type.name : v.path] = r
            run.measurements.append(measurement(v, "qhead", r.figures()))
        }
        run.interrupted = stop.isSet
        if let json {
            try JSONOutput.encoder(pretty: true).encode(reports).write(to: URL(fileURLWithPath: json), options: .atomic)
        }
        BenchSupport.store(run, history: history)
        if stop.isSet { throw ExitCode(130) }
    }
}
