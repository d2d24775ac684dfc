import ArgumentParser
import Bench
import CKernels
import Foundation
import NSSR
import Runtime

/// `recur bench nssr`: the noise-column experiment (docs/nssr.md) searched by Recur and by the
/// PyTorch reference (tools/reference/nssr.py experiment) on the same model, data and primitives
/// registry, in one run: what each finds, whether the discoveries agree, seconds per task.
struct BenchNssrCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nssr",
        abstract: "Search time and discoveries of the noise-column experiment, against the PyTorch reference search.",
        discussion: "Each repetition runs the five tasks in order on a fresh copy of the registry, registering what it finds; Recur's time per task is the median over repetitions.")

    @Option(name: [.customShort("m"), .customLong("model")], help: "An nssr GGUF (default: models/\(DefaultModel.nssrFileName)).")
    var model: String?
    @Option(name: .customLong("registry"), help: "The registry to start from, copied, never written (default: \(DefaultModel.nssrRegistry)).")
    var registry: String?
    @Option(name: .customLong("data"), help: "The folder of the experiment's CSV files (default: models/nssr/experiment).")
    var data: String?
    @Option(name: .customLong("repetitions"), help: "Runs of the whole experiment through Recur.")
    var repetitions = 5
    @Flag(name: .customLong("no-reference"), help: "Skip the PyTorch reference.")
    var noReference = false
    @Option(name: [.customShort("t"), .customLong("threads")], help: "Threads for the kernels (and for PyTorch).")
    var threads = 1
    @OptionGroup var recording: BenchRecording

    func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)
        guard repetitions >= 1 else { throw CLIError("--repetitions must be at least 1") }
        recur_set_num_threads(Int32(threads))
        let modelPath = try model ?? DefaultModel.path(DefaultModel.nssrFileName)
        guard let start = registry ?? ShippedFile.locate(DefaultModel.nssrRegistry) else {
            throw CLIError("no registry given and \(DefaultModel.nssrRegistry) was not found; pass --registry DB")
        }
        guard let dataDir = data ?? ShippedFile.locate("models/nssr/experiment") else {
            throw CLIError("no data folder given and models/nssr/experiment was not found; pass --data DIR")
        }
        let guide = try loadSearchGuide(path: modelPath)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recur-bench-nssr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        print("noise-column experiment: \(dataDir) on \(modelPath), registry \(start), \(threads) thread(s), \(repetitions) repetition(s)")

        var seconds: [[Double]] = Array(repeating: [], count: NoiseColumnExperiment.tasks.count)
        var outcomes: [NoiseColumnExperiment.Outcome] = []
        for r in 0..<repetitions {
            let copy = dir.appendingPathComponent("registry-\(r).sqlite")
            try FileManager.default.copyItem(atPath: start, toPath: copy.path)
            let store = try Registry(path: copy.path, writable: true)
            BenchSupport.progress("Recur: repetition \(r + 1) of \(repetitions)")
            outcomes = try NoiseColumnExperiment.run(registry: store, data: dataDir, guide: guide)
            for (i, o) in outcomes.enumerated() { seconds[i].append(o.report.seconds) }
        }
        BenchSupport.endProgress()
        let ours = seconds.map { $0.sorted()[$0.count / 2] }

        var reference: [String: [String: Any]] = [:]
        if !noReference, let script = ShippedFile.locate("tools/reference/nssr.py") {
            BenchSupport.progress("PyTorch reference: the five tasks")
            let r = try Subprocess.run("/usr/bin/env", ["python3", script, "experiment", "--gguf", modelPath, "--registry", start,
                                                        "--data", dataDir, "--threads", "\(threads)"])
            BenchSupport.endProgress()
            if r.status == 0 || r.status == 2 {
                for line in r.stdout.split(separator: "\n") {
                    if let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let task = row["task"] as? String {
                        reference[task] = row
                    }
                }
            } else {
                print("the PyTorch reference failed (exit \(r.status)), continuing without it: \(r.stderr.suffix(400))")
            }
        }

        print("task      Recur: found over the task's columns             candidates  seconds | reference: same?  candidates  seconds   speed-up")
        var figures: [String: Double] = [:]
        var sameAll = true, ourTotal = 0.0, refTotal = 0.0
        for (i, o) in outcomes.enumerated() {
            let a = o.report.answer
            let found = a?.taskExpression ?? "(none)"
            var line = BenchSupport.pad(o.task, 9) + " " + BenchSupport.pad(found, 48) + String(format: " %10d %8.4f", o.report.candidatesValidated, ours[i])
            ourTotal += ours[i]
            figures["\(o.task.lowercased())_seconds"] = ours[i]
            figures["\(o.task.lowercased())_found"] = a == nil ? 0 : 1
            if let ref = reference[o.task] {
                let refFound = ref["task_expression"] as? String
                let refComposition = (ref["composition"] as? [Any]).flatMap { try? JSONSerialization.data(withJSONObject: $0) }
                    .map { compact(String(decoding: $0, as: UTF8.self)) }
                let same = refFound == a?.taskExpression && refComposition == a.map { compact($0.compositionJSON) }
                sameAll = sameAll && same
                let refSeconds = ref["seconds"] as? Double ?? .nan
                refTotal += refSeconds
                figures["\(o.task.lowercased())_reference_seconds"] = refSeconds
                line += String(format: " | %@  %10d %8.3f %9.1fx", same ? "same" : "DIFFERS (\(refFound ?? "none"))", ref["candidates"] as? Int ?? 0, refSeconds, refSeconds / ours[i])
            }
            print(line)
        }
        figures["found"] = Double(outcomes.filter { $0.report.answer != nil }.count)
        figures["seconds"] = ourTotal
        var summary = String(format: "Recur: %d of %d found in %.3f s (medians per task)", outcomes.filter { $0.report.answer != nil }.count, outcomes.count, ourTotal)
        if !reference.isEmpty {
            figures["reference_seconds"] = refTotal
            figures["speedup_vs_reference"] = refTotal / ourTotal
            figures["same_discoveries"] = sameAll ? 1 : 0
            summary += String(format: "; the reference %.3f s: %.1fx faster, %@", refTotal, refTotal / ourTotal, sameAll ? "the same discoveries" : "DIFFERENT discoveries")
        }
        print(summary)
        var run = BenchRun(kind: "nssr", startedAt: Date(), machine: .current(probeThreads: threads), gitCommit: GitCommit.current(),
                           command: (["recur", "bench", "nssr"] + CommandLine.arguments.dropFirst(3)).joined(separator: " "))
        run.measurements.append(BenchMeasurement(engine: "recur", modelPath: modelPath, modelSHA256: try SHA256.hex(file: modelPath), modelType: "f32",
                                                 threads: threads, batch: 1, halt: "-", puzzles: outcomes.count, repetitions: repetitions, figures: figures))
        try recording.record(run)
    }

    /// A composition's JSON without spaces, to compare Python's `json.dumps` spacing with ours.
    private func compact(_ json: String) -> String { json.filter { $0 != " " } }
}
