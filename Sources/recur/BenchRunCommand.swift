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

    @Option(name: .long, help: "Attention dot products: f32 (the reference) or bf16 (CPUs with AVX-512 BF16).")
    var attention: AttentionPrecision = .f32

    @Flag(name: .long, help: "Also time the strongest peers on the same weights: PyTorch eager BF16 and ONNX Runtime with dynamic INT8 quantization (needs onnxruntime and onnx; skipped if missing).")
    var peers = false

    @OptionGroup var recording: BenchRecording

    func run() throws {
        let stop = BenchSupport.installInterruptHandler()
        setvbuf(stdout, nil, _IOLBF, 0)
        if attention == .bf16 && !AttentionPrecision.bf16Available {
            throw CLIError("--attention bf16 needs a CPU with AVX-512 BF16 and the avx512 or amx tier")
        }
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
        print("throughput on \(run.machine.cpu) (\(run.machine.isa) kernels, \(run.machine.cores) cores), \(lines.count) puzzles from \(inputPath), \(repetitions) repetitions after \(warmup) warm-up"
              + (attention == .bf16 ? "; Recur's attention in bf16" : ""))
        if let probe = run.machine.probeSummary { print("machine: " + probe) }

        // Baselines first: they are the yardstick, and a failure there should not cost the Recur figures.
        var engines: [PyTorchBaseline.Engine] = noBaseline ? [] : [.torchFP32]
        if peers { engines += [.torchBF16, .ortInt8] }
        var baselines: [PyTorchBaseline.Engine: [String: Spread]] = [:]
        var skipped: [PyTorchBaseline.Engine: String] = [:]
        var notes: [String] = []
        if !engines.isEmpty, !stop.isSet {
            let script = ShippedFile.locate("tools/reference/time_steps.py")
            let torchMissing = PyTorchBaseline.missing(.torchFP32)
            let reference = variants.first { [.f32, .f16, .bf16].contains($0.type) } ?? variants[0]
            for engine in engines where !stop.isSet {
                guard let script else {
                    skipped[engine] = "tools/reference/time_steps.py not found"
                    print(engine == .torchFP32 ? "tools/reference/time_steps.py not found: no baseline"
                          : "\(engine.label) peer skipped: tools/reference/time_steps.py not found")
                    continue
                }
                if let why = torchMissing ?? PyTorchBaseline.missing(engine) {
                    skipped[engine] = why
                    if engine == .torchFP32 { print("PyTorch not installed: no baseline") } else {
                        let hint = engine == .ortInt8 ? " (python3 -m pip install onnxruntime onnx)" : ""
                        print("\(engine.label) peer skipped: \(why)\(hint)")
                    }
                    continue
                }
                for t in threadList where !stop.isSet {
                    BenchSupport.progress("\(engine.label) baseline, \(t) threads, batch \(batchList.map(String.init).joined(separator: ","))")
                    do {
                        let r = try PyTorchBaseline.measure(engine: engine, script: script, model: reference.path, puzzles: inputPath,
                                                            batches: batchList, threads: t, steps: max(repetitions, 3), warmup: warmup,
                                                            stop: stop)
                        for (b, s) in r.steps.sorted(by: { $0.key < $1.key }) {
                            baselines[engine, default: [:]]["t\(t)b\(b)"] = s
                            run.measurements.append(BenchMeasurement(
                                engine: engine.historyName, modelPath: reference.path, modelSHA256: reference.sha256, modelType: engine.modelType,
                                threads: t, batch: b, halt: "max", puzzles: b, repetitions: s.count,
                                figures: s.figures("ms_per_step").merging(r.figures[b] ?? [:]) { a, _ in a }))
                            if let f = r.figures[b], let agree = f["argmax_agreement"], let steps = f["drift_steps"] {
                                notes.append("\(engine.label) (t\(t)b\(b)): logits argmax agreement with float32 \(String(format: "%.2f%%", agree * 100)) "
                                             + "after \(Int(steps)) ACT step\(steps == 1 ? "" : "s"), max |logit diff| \(String(format: "%.3g", f["max_abs_logit_diff"] ?? .nan))")
                            }
                        }
                        if let c = r.exportCheck, t == threadList.first {
                            notes.append("ONNX float32 export against PyTorch float32, one step: max |logit diff| \(String(format: "%.3g", c))")
                        }
                    } catch {
                        BenchSupport.endProgress()
                        if !stop.isSet {
                            skipped[engine] = "failed"
                            print(engine == .torchFP32 ? "PyTorch baseline failed, continuing without it: \(error)"
                                  : "\(engine.label) peer failed, continuing without it: \(error)")
                        }
                    }
                }
                BenchSupport.endProgress()
            }
        }
        let baseline = baselines[.torchFP32] ?? [:]
        let peerEngines = engines.filter { $0 != .torchFP32 }
        var peerRows: [(label: String, recur: Double, key: String)] = []

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
                        var settings = ThroughputSettings(threads: t, batch: b, halt: policy, repetitions: repetitions, warmup: warmup, maxSteps: maxSteps)
                        settings.attention = attention
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
                        if haltName == "max" {
                            for engine in peerEngines {
                                guard let peer = baselines[engine]?["t\(t)b\(b)"] else { continue }
                                let key = engine.historyName.replacingOccurrences(of: "-", with: "_")
                                figures["\(key)_ms_per_step_median"] = peer.median
                                figures["speedup_vs_\(key)"] = peer.median / result.msPerStep.median
                            }
                            if !peerEngines.isEmpty {
                                peerRows.append((BenchSupport.pad(v.type.name, 8) + String(format: " %7d %5d", t, b), result.msPerStep.median, "t\(t)b\(b)"))
                            }
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
        for engine in engines {
            for (key, s) in (baselines[engine] ?? [:]).sorted(by: { $0.key < $1.key }) {
                print("\(engine.label) (\(key)): " + String(format: "%.1f ms/step median [%.1f-%.1f] over %d steps", s.median, s.min, s.max, s.count))
            }
        }
        if !peerEngines.isEmpty {
            // Recur against every same-run engine, fixed steps: peer ms / Recur ms, above 1 means Recur is faster.
            let shown = engines
            print("same run, halt max, ms/step median (peer/Recur):")
            print("type     threads batch " + BenchSupport.pad("Recur", 10, right: true)
                  + shown.map { BenchSupport.pad($0.label, 22, right: true) }.joined())
            for row in peerRows {
                var line = row.label + BenchSupport.pad(String(format: "%.1f", row.recur), 11, right: true)
                for engine in shown {
                    let cell: String
                    if let s = baselines[engine]?[row.key] {
                        cell = String(format: "%.1f (%.2fx)", s.median, s.median / row.recur)
                    } else {
                        cell = skipped[engine].map { $0 == "failed" ? "failed" : "skipped" } ?? "-"
                    }
                    line += BenchSupport.pad(cell, 22, right: true)
                }
                print(line)
            }
            for note in notes { print(note) }
        }
        run.interrupted = stop.isSet
        try recording.record(run)
        if stop.isSet { throw ExitCode(130) }
    }
}

extension Int {
    func roundedUp(to multiple: Int) -> Int { (self + multiple - 1) / multiple * multiple }
}
