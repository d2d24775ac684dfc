import ArgumentParser
import Bench
import Foundation
import Runtime

/// `recur bench controller`: what an attention controller does to a student LM, in one run: KL of
/// the student's next-token distribution to the teacher's and same-top-1 over held-out text,
/// plain and steered; the gate's mean alpha per layer; and the cost, pp and tg tokens/s plain and
/// steered (docs/attention-controller.md).
struct BenchControllerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "KL to a teacher and tokens/s of a student LM with and without an attention controller, in one run.")

    @Option(name: .long, help: "The student GGUF language model the controller steers.")
    var model: String
    @Option(name: .long, help: "The teacher GGUF (same tokenizer) whose next-token distributions the student is compared with.")
    var teacher: String
    @Option(name: .long, help: "The attention controller GGUF.")
    var controller: String
    @Option(name: .long, help: "The controller's gate ceiling in [0, 1] (default: the file's).")
    var alphaMax: Float?
    @Option(name: .long, help: "Held-out text read teacher-forced (default: models/rlm-kjv-heldout.txt).")
    var text: String?
    @Option(name: .long, help: "Tokens per teacher-forced window.")
    var window = 256
    @Option(name: .customLong("max-tokens"), help: "Score at most this many tokens of --text.")
    var maxTokens = 2048
    @Option(name: .long, help: "Threads for the kernels.")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("pp"), help: "Prompt tokens of the speed test.")
    var promptTokens = 128
    @Option(name: .customLong("tg"), help: "Generated tokens of the speed test.")
    var generatedTokens = 64
    @Option(name: .long, help: "Repetitions of each speed test (after one warm-up).")
    var repetitions = 5
    @OptionGroup var recording: BenchRecording

    func run() throws {
        let stop = BenchSupport.installInterruptHandler()
        setvbuf(stdout, nil, _IOLBF, 0)
        guard window >= 2, maxTokens >= 2, repetitions >= 1, promptTokens >= 1, generatedTokens >= 1 else {
            throw CLIError("--window, --max-tokens, --pp, --tg and --repetitions must be positive (windows of at least 2 tokens)")
        }
        let textPath = try text ?? DefaultModel.path("rlm-kjv-heldout.txt")
        guard let data = FileManager.default.contents(atPath: textPath), let content = String(validatingUTF8: data) else {
            throw CLIError("\(textPath): cannot read the text, or it is not UTF-8 (--text)")
        }
        let student = try LanguageModel(path: model)
        let steered = try CausalModel(path: model, controller: controller, alphaMax: alphaMax)
        let reference = try CausalModel(path: teacher)
        guard reference.vocabSize == student.model.vocabSize else {
            throw CLIError("\(teacher) has \(reference.vocabSize) tokens, \(model) \(student.model.vocabSize): the teacher must share the student's tokenizer")
        }
        let tokens = Array(student.tokenizer.encode(content, addSpecial: false, parseSpecial: false).prefix(maxTokens))
        guard tokens.count >= 2 else { throw CLIError("\(textPath): fewer than 2 tokens of text") }
        let c = steered.controller!
        var run = BenchRun(kind: "controller", startedAt: Date(), machine: .current(probeThreads: threads), gitCommit: GitCommit.current(),
                           command: (["recur", "bench", "controller"] + CommandLine.arguments.dropFirst(3)).joined(separator: " "))
        print("controller \(controller): layers \(c.layers.map(String.init).joined(separator: ",")), \(c.heads.count) heads, window \(c.window), "
              + String(format: "alpha_max %.3f", c.alphaMax))
        print("KL(teacher || student) over \(tokens.count) tokens of \(textPath), windows of \(window), \(threads) threads")

        /// Teacher-forced logits window by window, and the gate's alphas when steered.
        func pass(_ m: CausalModel, _ name: String) throws -> (TextDrift.Pass, [[Float]]) {
            BenchSupport.progress("\(name): \(tokens.count) tokens")
            defer { BenchSupport.endProgress() }
            var p = TextDrift.Pass(logits: [], steps: [], vocab: m.vocabSize)
            var alphas: [[Float]] = []
            for start in stride(from: 0, to: tokens.count, by: window) {
                if stop.isSet { throw ExitCode(130) }
                let chunk = Array(tokens[start..<min(start + window, tokens.count)])
                let context = try DecoderContext(model: m, contextSize: chunk.count, threads: threads, maxBatch: 128)
                p.logits.append(try context.feedAll(chunk))
                p.steps += Array(repeating: 1, count: chunk.count)
                alphas += context.gateAlphas
            }
            return (p, alphas)
        }
        let (teacherPass, _) = try pass(reference, "teacher")
        let (plainPass, _) = try pass(student.model, "student")
        let (steeredPass, alphas) = try pass(steered, "student + controller")
        let plain = TextDrift.compare(reference: teacherPass, candidate: plainPass, tokens: tokens, window: window)
        let withController = TextDrift.compare(reference: teacherPass, candidate: steeredPass, tokens: tokens, window: window)
        print("student               KL mean    KL p50    KL p90    KL p99  same-top1  perplexity (teacher \(String(format: "%.3f", plain.referencePerplexity)))")
        for (name, r) in [("plain", plain), ("with controller", withController)] {
            var line = BenchSupport.pad(name, 18)
            for v in [r.klMean, r.klPercentiles["p50"] ?? 0, r.klPercentiles["p90"] ?? 0, r.klPercentiles["p99"] ?? 0] { line += String(format: "  %8.2e", v) }
            print(line + String(format: "  %8.2f%%  %10.3f", 100 * r.sameTop1, r.candidatePerplexity))
        }
        let meanAlpha = c.layers.indices.map { l in alphas.reduce(0.0) { $0 + Double($1[l]) } / Double(max(alphas.count, 1)) }
        print("gate: mean alpha " + zip(c.layers, meanAlpha).map { String(format: "layer %d %.3f", $0, $1) }.joined(separator: ", "))
        print(String(format: "KL change with the controller: %+.1f%%, same-top-1 %+.2f points", 100 * (withController.klMean / plain.klMean - 1),
                     100 * (withController.sameTop1 - plain.sameTop1)))

        var figures: [String: Double] = [
            "kl_mean_plain": plain.klMean, "kl_mean_steered": withController.klMean,
            "same_top1_plain": plain.sameTop1, "same_top1_steered": withController.sameTop1,
            "ppl_teacher": plain.referencePerplexity, "ppl_plain": plain.candidatePerplexity, "ppl_steered": withController.candidatePerplexity,
        ]
        for (l, a) in zip(c.layers, meanAlpha) { figures["mean_alpha_layer\(l)"] = a }

        print("speed, pp\(promptTokens) and tg\(generatedTokens), \(repetitions) repetitions after 1 warm-up (tokens/s median [min-max])")
        var speeds: [String: LanguageModelSpeed.Result] = [:]
        for (name, m) in [("plain", student.model), ("with controller", steered)] where !stop.isSet {
            BenchSupport.progress("speed, \(name)")
            speeds[name] = try LanguageModelSpeed.measureRecur(model: m, threads: threads, promptTokens: promptTokens, generatedTokens: generatedTokens,
                                                               repetitions: repetitions, stop: stop)
            BenchSupport.endProgress()
        }
        if let p = speeds["plain"], let s = speeds["with controller"] {
            for (test, a, b) in [("pp\(promptTokens)", p.promptTokensPerSecond, s.promptTokensPerSecond),
                                 ("tg\(generatedTokens)", p.tokensPerSecond, s.tokensPerSecond)] {
                print(BenchSupport.pad(test, 8) + "plain " + BenchLMCommand.format(a) + "   with controller " + BenchLMCommand.format(b)
                      + String(format: "   cost %.1f%%", 100 * (1 - b.median / a.median)))
                let key = test.hasPrefix("pp") ? "pp" : "tg"
                figures["\(key)_tokens_per_s_plain"] = a.median
                figures["\(key)_tokens_per_s_steered"] = b.median
            }
        }
        run.measurements.append(BenchMeasurement(engine: "recur", modelPath: model, modelSHA256: try SHA256.hex(file: model),
                                                 modelType: BenchLMCommand.weightType(student.model.file), threads: threads, batch: 1, halt: "-",
                                                 puzzles: tokens.count, repetitions: repetitions, figures: figures))
        run.interrupted = stop.isSet
        try recording.record(run)
        if stop.isSet { throw ExitCode(130) }
    }
}
