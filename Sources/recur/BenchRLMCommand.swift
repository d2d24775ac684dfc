import ArgumentParser
import Bench
import Foundation
import Runtime

/// `recur bench rlm`: generation tokens/s of recursive language models, Recur against the PyTorch
/// reference (eager, same file, prompt, threads and halting), with the ACT steps tokens ran.
struct BenchRLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rlm",
        abstract: "Greedy generation tokens/s of recursive LMs with Q-head halting and at max depth, against PyTorch eager on the same file.",
        discussion: "PyTorch runs tools/reference/rlm_gguf.py bench; without torch only Recur is measured.")

    @Option(name: .long, parsing: .upToNextOption, help: "GGUF recursive LMs (default: the shipped one).")
    var model: [String] = []
    @Option(name: .long, help: "Prompt text (tokenized with the model's tokenizer).")
    var prompt: String = "And God said unto Moses,"
    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Tokens to generate.")
    var count: Int = 64
    @Option(name: .long, help: "Threads (both engines).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .long, help: "Halting policies to measure: qhead, max.")
    var halt: [String] = ["qhead", "max"]
    @Option(name: .long, help: "Repetitions (after one warm-up).")
    var repetitions: Int = 3
    @Flag(name: .customLong("no-baseline"), help: "Skip PyTorch.")
    var noBaseline = false
    @OptionGroup var recording: BenchRecording

    func run() throws {
        let stop = BenchSupport.installInterruptHandler()
        setvbuf(stdout, nil, _IOLBF, 0)
        guard repetitions >= 1, count >= 2 else { throw CLIError("--repetitions must be at least 1 and -n at least 2") }
        let models = try model.isEmpty ? [DefaultModel.path(DefaultModel.languageFileName)] : model
        let policies: [(String, HaltingPolicy)] = try halt.flatMap { $0.split(separator: ",") }.map {
            switch $0 {
            case "qhead": return ("qhead", .qHead)
            case "max": return ("max", .maxSteps)
            default: throw CLIError("unknown --halt '\($0)': use qhead or max")
            }
        }
        var run = BenchRun(kind: "rlm-throughput", startedAt: Date(), machine: .current(probeThreads: threads), gitCommit: GitCommit.current(),
                           command: (["recur", "bench", "rlm"] + CommandLine.arguments.dropFirst(3)).joined(separator: " "))
        print("greedy generation of \(count) tokens on \(run.machine.cpu) (\(run.machine.isa) kernels), \(threads) threads, \(repetitions) repetitions after 1 warm-up")
        if let probe = run.machine.probeSummary { print("machine: " + probe) }
        let script = noBaseline ? nil : ShippedFile.locate("tools/reference/rlm_gguf.py")
        print(BenchSupport.pad("model", 28) + "type   halt   " + BenchSupport.pad("Recur t/s median [min-max]", 28) + "steps  "
              + BenchSupport.pad("PyTorch t/s median [min-max]", 30) + "steps  Recur/PyTorch  same tokens")
        for path in models where !stop.isSet {
            let language = try LanguageModel(path: path)
            guard language.model.isRecursive else { throw CLIError("\(path) is not a recursive LM ('\(language.model.description.architecture)'): use `recur bench lm`") }
            let ids = language.tokenizer.encode(prompt, addSpecial: true, parseSpecial: false)
            guard !ids.isEmpty else { throw CLIError("the prompt has no tokens") }
            let type = Requantizer.weightType(of: language.model.file).name
            let sha = try SHA256.hex(file: path)
            for (name, policy) in policies where !stop.isSet {
                BenchSupport.progress("\(path): Recur, \(name)")
                let ours = try RecursiveLMSpeed.measureRecur(model: language.model, prompt: ids, generated: count, threads: threads, policy: policy,
                                                             repetitions: repetitions, stop: stop)
                var theirs: RecursiveLMSpeed.Result?
                if let script, !stop.isSet {
                    BenchSupport.progress("\(path): PyTorch, \(name)")
                    do {
                        theirs = try RecursiveLMSpeed.measureTorch(script: script, model: path, prompt: ids, generated: count, threads: threads,
                                                                   policy: name, repetitions: repetitions, stop: stop)
                    } catch {
                        BenchSupport.endProgress()
                        print("PyTorch baseline failed, continuing without it: \(error)")
                    }
                }
                BenchSupport.endProgress()
                let mine = ours.tokensPerSecond
                var figures = mine.figures("tg_tokens_per_s")
                figures["mean_steps"] = ours.meanSteps
                var line = BenchSupport.pad(URL(fileURLWithPath: path).lastPathComponent, 28) + BenchSupport.pad(type, 7) + BenchSupport.pad(name, 7)
                    + BenchSupport.pad(format(mine), 28) + BenchSupport.pad(String(format: "%.2f", ours.meanSteps), 7)
                if let theirs {
                    let other = theirs.tokensPerSecond
                    figures["tg_ratio_vs_pytorch"] = mine.median / other.median
                    let same = zip(ours.tokens, theirs.tokens).prefix { $0 == $1 }.count
                    line += BenchSupport.pad(format(other), 30) + BenchSupport.pad(String(format: "%.2f", theirs.meanSteps), 7)
                        + BenchSupport.pad(String(format: "%.2fx", mine.median / other.median), 15) + "\(same)/\(count)"
                    run.measurements.append(BenchMeasurement(engine: "pytorch", modelPath: path, modelSHA256: sha, modelType: type, threads: threads,
                                                             batch: 1, halt: name, puzzles: 0, repetitions: repetitions,
                                                             figures: other.figures("tg_tokens_per_s").merging(["mean_steps": theirs.meanSteps]) { a, _ in a }))
                }
                print(line)
                run.measurements.append(BenchMeasurement(engine: "recur", modelPath: path, modelSHA256: sha, modelType: type, threads: threads,
                                                         batch: 1, halt: name, puzzles: 0, repetitions: repetitions, figures: figures))
            }
        }
        run.interrupted = stop.isSet
        try recording.record(run)
        if stop.isSet { throw ExitCode(130) }
    }

    private func format(_ s: Spread) -> String { String(format: "%.2f [%.2f-%.2f]", s.median, s.min, s.max) }
}
