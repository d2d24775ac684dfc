import ArgumentParser
import Bench
import Foundation
import Runtime

/// `recur bench`: ms per ACT step, puzzles/s and output tokens/s per type, thread count, batch
/// size and halting rule, with a same-run PyTorch baseline, stored in the history.
struct BenchRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Throughput: ms per ACT step, puzzles/s and tokens/s (median and min-max over repetitions), with a same-run PyTorch baseline.",
        discussion: """
        Each repetition solves every puzzle once; one warm-up pass comes first. Tokens are the \
        output cells every solved puzzle emits (81 for Sudoku). With --types, types that no --model \
        file has are quantized in a temporary file from the first F32/F16 model, with the \
        exporter's type policy. Ctrl-C stops at the next puzzle and stores what finished, marked interrupted.
        """)

    enum Halt: String, ExpressibleByArgument, CaseIterable { case qhead, max, both }
    enum Profile: String, ExpressibleByArgument, CaseIterable { case i5 }

    @Option(name: .long, help: "GGUF model; repeat for several (default: models/\(DefaultModel.fileName)).")
    var model: [String] = []

    @Option(name: .long, help: "Weight types to measure, e.g. f16,q8_0,q4_0 (default: the models' own).")
    var types: [String] = []

    @Option(name: .long, help: "Thread counts, e.g. 1,2,4 (default: all cores).")
    var threads: [String] = []

    @Option(name: .long, help: "Batch sizes, e.g. 1,16 (default: 1,16).")
    var batch: [String] = []

    @Option(name: .long, help: "Timed repetitions per configuration.")
    var repetitions: Int = 3

    @Option(name: .long, help: "Untimed warm-up passes per configuration.")
    var warmup: Int = 1

    @Option(name: .long, help: "Halting: qhead, max (always --max-steps) or both.")
    var halt: Halt = .both

    @Option(name: .long, help: "Settings of a reference machine: i5 = 4 threads, batch 1 and 16.")
    var profile: Profile?

    @Option(name: .long, help: "Puzzle file (default: models/sudoku-samples.txt).")
    var input: String?

    @Option(name: .long, help: "Only the first N puzzles of the file.")
    var limit: Int?

    @Option(name: .long, help: "ACT step cap (default: the model's halt_max_steps).")
    var maxSteps: Int?

    @Flag(name: .long, help: "Skip the PyTorch eager baseline.")
    var noBaseline = false

    @OptionGroup var recording: BenchRecording

    func run() throws {
        let stop = BenchSupport.installInterruptHandler()
        setvbuf(stdout, nil, _IOLBF, 0)
        var threadList = try BenchSupport.parseInts(threads, option: "--threads")
        var batchList = try BenchSupport.parseInts(batch, option: "--batch")
        if profile == .i5 {
            if threadList.isEmpty { threadList = [4] }
            if batchList.isEmpty { batchList = [1, 16] }
        }
        if threadList.isEmpty { threadList = [ProcessInfo.processInfo.activeProcessorCount] }
        if batchList.isEmpty { batchList = [1, 16] }
        guard repetitions >= 1 else { throw CLIError("--repetitions must be at least 1") }
        let halts: [(String, HaltingPolicy)] = halt == .both ? [("qhead", .qHead), ("max", .maxSteps)]
            : halt == .qhead ? [("qhead", .qHead)] : [("max", .maxSteps)]
        let (inputPath, lines) = try BenchSupport.puzzles(input, limit: limit)
        let models = model.isEmpty ? [try DefaultModel.path()] : model
        let temp = FileManager.default.temporaryDirectory.appendingPathComponent("recur-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: temp) }
        let variants = try BenchSupport.variants(models: models, types: try BenchSupport.parseTypes(types), temp: temp)

        var run = BenchRun(kind: "throughput", startedAt: Date(), machine: .current(probeThreads: threadList.max()), gitCommit: GitCommit.current(),
                           command: (["recur", "bench"] + CommandLine.arguments.dropFirst().filter { $0 != "bench" && $0 != "run" }).joined(separator: " "))
        print("throughput on \(run.machine.cpu) (\(run.machine.isa) kernels, \(run.machine.cores) cores), \(lines.count) puzzles from \(inputPath), \(repetitions) repetitions after \(warmup) warm-up")
        if let probe = run.machine.probeSummary { print("machine: " + probe) }

        // Baseline first: it is the yardstick, and a failure there should not cost the Recur figures.
        var baseline: [String: Spread] = [:]
        if !noBaseline, !stop.isSet {
            if !PyTorchBaseline.isAvailable() {
                print("PyTorch not installed: no baseline")
            } else if let script = ShippedFile.locate("tools/reference/time_steps.py") {
                let reference = variants.first { [.f32, .f16, .bf16].contains($0.type) } ?? variants[0]
                for t in threadList where !stop.isSet {
                    BenchSupport.progress("PyTorch eager baseline, \(t) threads, batch \(batchList.map(String.init).joined(separator: ","))")
                    do {
                        let r = try PyTorchBaseline.measure(script: script, model: reference.path, puzzles: inputPath, batches: batchList,
                                                            threads: t, steps: max(repetitions, 3), warmup: warmup, stop: stop)
                        for (b, s) in r {
                            baseline["t\(t)b\(b)"] = s
                            run.measurements.append(BenchMeasurement(
                                engine: "pytorch", modelPath: reference.path, modelSHA256: reference.sha256, modelType: "F32",
                                threads: t, batch: b, halt: "max", puzzles: b, repetitions: s.count, figures: s.figures("ms_per_step")))
                        }
                    } catch {
                        BenchSupport.endProgress()
                        if !stop.isSet { print("PyTorch baseline failed, continuing without it: \(error)") }
                    }
                }
                BenchSupport.endProgress()
            } else {
                print("tools/reference/time_steps.py not found: no baseline")
            }
        }

        print("type     threads batch halt     ms/step median [min-max]       puzzles/s [min-max]   tokens/s  steps  PyTorch/Recur")
        let total = variants.count * threadList.count * batchList.count * halts.count
        var done = 0
        outer: for v in variants {
            let net = try RecursiveModel(path: v.path)
            for t in threadList {
                for b in batchList {
                    // At least one full batch, and whole batches, so fixed-step runs keep every slot busy.
                    let count = max(lines.count, b).roundedUp(to: b)
                    let inputs = (0..<count).map { ModelInput(tokens: lines[$0 % lines.count].puzzle.tokens) }
                    for (haltName, policy) in halts {
                        if stop.isSet { break outer }
                        done += 1
                        let label = "[\(done)/\(total)] \(v.type.name) \(t) threads, batch \(b), \(haltName)"
                        let settings = ThroughputSettings(threads: t, batch: b, halt: policy, repetitions: repetitions, warmup: warmup, maxSteps: maxSteps)
                        let result = try Throughput.measure(model: net, inputs: inputs, settings: settings, stop: stop) { r, n in
                            BenchSupport.progress("\(label): repetition \(r)/\(n)")
                        }
                        BenchSupport.endProgress()
                        guard let result else { break outer }
                        var figures = result.figures
                        var ratio = ""
                        if haltName == "max", let base = baseline["t\(t)b\(b)"] {
                            figures["pytorch_ms_per_step_median"] = base.median
                            figures["speedup_vs_pytorch"] = base.median / result.msPerStep.median
                            ratio = String(format: "%.2fx", base.median / result.msPerStep.median)
                        }
                        run.measurements.append(BenchMeasurement(
                            engine: "recur", modelPath: v.path, modelSHA256: v.sha256, modelType: v.type.name, threads: t, batch: b,
                            halt: haltName, puzzles: count, repetitions: result.repetitions, figures: figures))
                        let m = result.msPerStep, p = result.puzzlesPerSecond
                        print(BenchSupport.pad(v.type.name, 8) + String(format: " %7d %5d ", t, b) + BenchSupport.pad(haltName, 6)
                              + BenchSupport.pad(String(format: "%9.1f [%.1f-%.1f]", m.median, m.min, m.max), 30, right: true)
                              + BenchSupport.pad(String(format: "%.3f [%.3f-%.3f]", p.median, p.min, p.max), 26, right: true)
                              + String(format: " %10.1f %6.2f  ", result.tokensPerSecond.median, result.meanSteps) + ratio)
                        if result.repetitions < repetitions { break outer }
                    }
                }
            }
        }
        for (key, s) in baseline.sorted(by: { $0.key < $1.key }) {
            print("PyTorch eager F32 (\(key)): " + String(format: "%.1f ms/step median [%.1f-%.1f] over %d steps", s.median, s.min, s.max, s.count))
        }
        run.interrupted = stop.isSet
        try recording.record(run)
        if stop.isSet { throw ExitCode(130) }
    }
}

extension Int {
    func roundedUp(to multiple: Int) -> Int { (self + multiple - 1) / multiple * multiple }
}
