import ArgumentParser
import Bench
import Foundation
import Runtime

/// `recur bench lm`: llama-bench's pp and tg figures for language models, Recur and llama.cpp on
/// the same file, same threads, same run.
struct BenchLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm",
        abstract: "Prompt (pp) and generation (tg) tokens/s of language models, with llama.cpp on the same file in the same run.",
        discussion: "llama.cpp runs through llama-cpp-python (tools/llm/llamacpp_bench.py); without it only Recur is measured.")

    @Option(name: .long, parsing: .upToNextOption, help: "GGUF language models to measure.")
    var model: [String]
    @Option(name: .long, help: "Thread counts, e.g. 1,2.")
    var threads: [String] = []
    @Option(name: .customLong("pp"), help: "Prompt tokens evaluated as one batch.")
    var promptTokens: Int = 512
    @Option(name: .customLong("tg"), help: "Tokens generated one at a time.")
    var generatedTokens: Int = 128
    @Option(name: .long, help: "Repetitions of each test (after one warm-up).")
    var repetitions: Int = 5
    @Flag(name: .customLong("no-baseline"), help: "Skip llama.cpp.")
    var noBaseline = false
    @Flag(name: .long, help: "Print Recur's time per operation for one pp and one tg run.")
    var profile = false
    @OptionGroup var recording: BenchRecording

    func run() throws {
        let stop = BenchSupport.installInterruptHandler()
        setvbuf(stdout, nil, _IOLBF, 0)
        guard !model.isEmpty else { throw CLIError("pass --model FILE (a GGUF language model)") }
        guard repetitions >= 1, promptTokens >= 1, generatedTokens >= 1 else { throw CLIError("--pp, --tg and --repetitions must be at least 1") }
        var threadList = try BenchSupport.parseInts(threads, option: "--threads")
        if threadList.isEmpty { threadList = [ProcessInfo.processInfo.activeProcessorCount] }
        var run = BenchRun(kind: "lm-throughput", startedAt: Date(), machine: .current(probeThreads: threadList.max()), gitCommit: GitCommit.current(),
                           command: (["recur", "bench", "lm"] + CommandLine.arguments.dropFirst(3)).joined(separator: " "))
        print("pp\(promptTokens) and tg\(generatedTokens) on \(run.machine.cpu) (\(run.machine.isa) kernels, \(run.machine.cores) cores), \(repetitions) repetitions after 1 warm-up")
        if let probe = run.machine.probeSummary { print("machine: " + probe) }
        let script = ShippedFile.locate("tools/llm/llamacpp_bench.py")
        print(BenchSupport.pad("model", 34) + "type   threads test    " + BenchSupport.pad("Recur t/s median [min-max]", 28)
              + BenchSupport.pad("llama.cpp t/s median [min-max]", 32) + "Recur/llama.cpp")
        for path in model {
            let lm = try CausalModel(path: path)
            let type = Self.weightType(lm.file)
            let sha = try SHA256.hex(file: path)
            for t in threadList where !stop.isSet {
                BenchSupport.progress("\(path): Recur, \(t) threads")
                let ours = try LanguageModelSpeed.measureRecur(model: lm, threads: t, promptTokens: promptTokens,
                                                               generatedTokens: generatedTokens, repetitions: repetitions, stop: stop)
                var theirs: LanguageModelSpeed.Result?
                if !noBaseline, !stop.isSet, let script {
                    BenchSupport.progress("\(path): llama.cpp, \(t) threads")
                    do {
                        theirs = try LanguageModelSpeed.measureLlamaCpp(script: script, model: path, threads: t, promptTokens: promptTokens,
                                                                        generatedTokens: generatedTokens, repetitions: repetitions, stop: stop)
                    } catch {
                        BenchSupport.endProgress()
                        print("llama.cpp baseline failed, continuing without it: \(error)")
                    }
                }
                BenchSupport.endProgress()
                var figures = ours.promptTokensPerSecond.figures("pp_tokens_per_s").merging(ours.tokensPerSecond.figures("tg_tokens_per_s")) { a, _ in a }
                for (name, mine, other, tokens) in [("pp\(promptTokens)", ours.promptTokensPerSecond, theirs?.promptTokensPerSecond, promptTokens),
                                                    ("tg\(generatedTokens)", ours.tokensPerSecond, theirs?.tokensPerSecond, generatedTokens)] {
                    _ = tokens
                    let ratio = other.map { String(format: "%.2fx", mine.median / $0.median) } ?? ""
                    if let other { figures["\(name.hasPrefix("pp") ? "pp" : "tg")_ratio_vs_llamacpp"] = mine.median / other.median }
                    print(BenchSupport.pad(URL(fileURLWithPath: path).lastPathComponent, 34) + BenchSupport.pad(type, 7)
                          + String(format: "%7d ", t) + BenchSupport.pad(name, 8)
                          + BenchSupport.pad(Self.format(mine), 28) + BenchSupport.pad(other.map(Self.format) ?? "-", 32) + ratio)
                }
                run.measurements.append(BenchMeasurement(engine: "recur", modelPath: path, modelSHA256: sha, modelType: type, threads: t,
                                                         batch: 1, halt: "-", puzzles: 0, repetitions: repetitions, figures: figures))
                if let theirs {
                    run.measurements.append(BenchMeasurement(
                        engine: "llama.cpp", modelPath: path, modelSHA256: sha, modelType: type, threads: t, batch: 1, halt: "-", puzzles: 0,
                        repetitions: repetitions,
                        figures: theirs.promptTokensPerSecond.figures("pp_tokens_per_s").merging(theirs.tokensPerSecond.figures("tg_tokens_per_s")) { a, _ in a }))
                }
            }
            if profile, !stop.isSet {
                let context = try DecoderContext(model: lm, contextSize: promptTokens + generatedTokens + 8, threads: threadList[0])
                let p = OpProfile()
                context.profile = p
                _ = try context.feed(LanguageModelSpeed.promptIds(count: promptTokens, vocab: lm.vocabSize))
                print("time per operation, one pp\(promptTokens) at \(threadList[0]) threads:\n" + p.table(peak: MachinePeak.int8GOPS(threads: threadList[0])))
                context.truncate(to: 0)
                let q = OpProfile()
                context.profile = q
                var token: Int32 = 1
                for _ in 0..<generatedTokens {
                    _ = try context.feed([token])
                    token = Int32((Int(token) * 31 + 7) % lm.vocabSize)
                }
                print("time per operation, one tg\(generatedTokens) at \(threadList[0]) threads:\n" + q.table(peak: MachinePeak.int8GOPS(threads: threadList[0])))
            }
        }
        run.interrupted = stop.isSet
        try recording.record(run)
        if stop.isSet { throw ExitCode(130) }
    }

    static func format(_ s: Spread) -> String { String(format: "%.1f [%.1f-%.1f]", s.median, s.min, s.max) }

    /// The type holding most elements of the block linears (`blk.N.*.weight`).
    static func weightType(_ file: GGUFFile) -> String {
        var count: [String: Int] = [:]
        for t in file.tensors where t.name.hasPrefix("blk.") && t.shape.count == 2 { count[t.type.name, default: 0] += t.elementCount }
        return count.max { $0.value < $1.value }?.key ?? "?"
    }
}
