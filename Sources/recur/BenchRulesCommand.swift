import ArgumentParser
import Bench
import Foundation
import Rules
import Runtime

/// `recur bench rules`: a long rule-latent session (docs/rule-latent.md) through Recur, and the
/// first turns of it through the PyTorch reference on the same model and turns, in one run:
/// turns/s, fit time per turn, exact match over time (both engines, where the reference ran),
/// memory size.
struct BenchRulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Turns/s and accuracy of a long rule-latent session, against the PyTorch reference on the same turns.",
        discussion: "Turns: JSON lines with \"examples\", \"queries\" and \"expected\" (tools/reference/uzr.py make-session writes them).")

    @Option(name: [.customShort("m"), .customLong("model")], help: "A uzr GGUF (default: models/\(DefaultModel.rulesFileName)).")
    var model: String?
    @Option(name: .customLong("turns"), help: "The session's turns (JSON lines with expected answers).")
    var turns: String
    @Option(name: .customLong("limit"), help: "Run at most this many turns through Recur.")
    var limit: Int?
    @Option(name: .customLong("reference-turns"), help: "Turns the PyTorch reference runs (the first ones; 0: none).")
    var referenceTurns = 200
    @Option(name: .customLong("window"), help: "Turns per line of the accuracy-over-time table.")
    var window = 1000
    @Option(name: [.customShort("t"), .customLong("threads")], help: "Threads for the kernels.")
    var threads = 1
    @OptionGroup var recording: BenchRecording

    func run() throws {
        let stop = BenchSupport.installInterruptHandler()
        setvbuf(stdout, nil, _IOLBF, 0)
        guard window >= 1, referenceTurns >= 0, (limit ?? 1) >= 1 else { throw CLIError("--window and --limit must be positive, --reference-turns not negative") }
        let path = try model ?? DefaultModel.path(DefaultModel.rulesFileName)
        let m = try RuleModel(path: path)
        let fitter = RuleFitter(model: m, threads: threads)
        guard let data = FileManager.default.contents(atPath: turns) else { throw CLIError("\(turns): cannot read the turns") }
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        if let limit { lines = Array(lines.prefix(limit)) }
        let parsed = try lines.enumerated().map { try RuleTurnLine($0.element, number: $0.offset + 1, model: m) }
        guard !parsed.isEmpty else { throw CLIError("\(turns): no turns") }
        var run = BenchRun(kind: "rules", startedAt: Date(), machine: .current(probeThreads: threads), gitCommit: GitCommit.current(),
                           command: (["recur", "bench", "rules"] + CommandLine.arguments.dropFirst(3)).joined(separator: " "))
        let s = fitter.settings
        print("\(parsed.count) turns of \(turns) on \(path) (\(s.steps) Adam steps per fit, gate \(s.gate), capacity \(s.capacity)), \(threads) thread(s)")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recur-bench-rules-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let memory = try RuleMemory(path: dir.appendingPathComponent("memory.sqlite").path, hidden: m.hidden, latent: m.latent, capacity: s.capacity)
        let session = try RuleSession(fitter: fitter, memory: memory)
        var correct: [Bool] = [], turnCorrect: [Int] = [], turnScored: [Int] = [], fitSeconds = 0.0, confident = 0
        var ourAnswers: [[String]] = [], turnSeconds: [Double] = []
        let start = DispatchTime.now().uptimeNanoseconds
        for (i, t) in parsed.enumerated() {
            if stop.isSet { break }
            if i % 100 == 0 { BenchSupport.progress("Recur: turn \(i + 1) of \(parsed.count)") }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let r = try session.turn(examples: t.examples, queries: t.queries)
            turnSeconds.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            let answers = r.answers.map { String(decoding: $0, as: UTF8.self) }
            ourAnswers.append(answers)
            fitSeconds += r.fitSeconds
            if r.zSlowUpdated { confident += 1 }
            var c = 0, n = 0
            for (a, e) in zip(answers, t.expected ?? []) {
                correct.append(a == e)
                n += 1
                if a == e { c += 1 }
            }
            turnCorrect.append(c)
            turnScored.append(n)
        }
        BenchSupport.endProgress()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let done = ourAnswers.count
        let accuracy = Double(correct.filter { $0 }.count) / Double(max(correct.count, 1))
        print(String(format: "Recur: %d turns in %.1f s: %.2f turns/s, fit %.1f ms per turn, %d confident; exact match %.1f%% of %d answers; memory %d sketches, %d bytes",
                     done, seconds, Double(done) / seconds, 1000 * fitSeconds / Double(max(done, 1)), confident, 100 * accuracy, correct.count,
                     memory.sketches.count, memory.fileBytes))
        var figures: [String: Double] = [
            "turns": Double(done), "turns_per_s": Double(done) / seconds, "fit_ms_per_turn": 1000 * fitSeconds / Double(max(done, 1)),
            "exact_match": accuracy, "memory_sketches": Double(memory.sketches.count), "memory_bytes": Double(memory.fileBytes), "window": Double(window),
        ]

        // The reference's correct and scored answers per turn (the first n turns).
        var refTurnCorrect: [Int] = [], refTurnScored: [Int] = []
        let n = min(referenceTurns, done)
        if n > 0, !stop.isSet, let script = ShippedFile.locate("tools/reference/uzr_gguf.py") {
            let prefix = dir.appendingPathComponent("reference-turns.jsonl")
            try (lines.prefix(n).joined(separator: "\n") + "\n").write(to: prefix, atomically: true, encoding: .utf8)
            BenchSupport.progress("PyTorch reference: \(n) turns")
            let r = try Subprocess.run("/usr/bin/env", ["python3", script, "session", "--gguf", path, "--turns", prefix.path, "--threads", "\(threads)"])
            BenchSupport.endProgress()
            if r.status == 0 {
                let rows = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                let refSeconds = rows.compactMap { $0["seconds"] as? Double }.reduce(0, +)
                var same = 0, answered = 0, ourCorrect = 0
                for (i, row) in rows.enumerated() where i < n {
                    let answers = (row["answers"] as? [String] ?? []).map { String(decoding: $0.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }, as: UTF8.self) }
                    var c = 0, scored = 0
                    for (j, (a, e)) in zip(answers, parsed[i].expected ?? []).enumerated() {
                        scored += 1
                        if a == e { c += 1 }
                        if j < ourAnswers[i].count, ourAnswers[i][j] == e { ourCorrect += 1 }
                    }
                    refTurnCorrect.append(c)
                    refTurnScored.append(scored)
                    for (a, b) in zip(answers, ourAnswers[i]) {
                        answered += 1
                        if a == b { same += 1 }
                    }
                }
                let refCorrect = refTurnCorrect.reduce(0, +), refScored = refTurnScored.reduce(0, +)
                let ourRate = Double(n) / max(turnSeconds.prefix(n).reduce(0, +), 1e-9)
                let refRate = Double(rows.count) / max(refSeconds, 1e-9)
                print(String(format: "on the first %d turns: PyTorch %.2f turns/s, exact match %.1f%%; Recur %.2f turns/s, exact match %.1f%%; %.1fx faster; %d of %d answers identical",
                             n, refRate, 100 * Double(refCorrect) / Double(max(refScored, 1)), ourRate,
                             100 * Double(ourCorrect) / Double(max(refScored, 1)), ourRate / refRate, same, answered))
                figures["reference_turns"] = Double(n)
                figures["reference_turns_per_s"] = refRate
                figures["reference_exact_match"] = Double(refCorrect) / Double(max(refScored, 1))
                figures["reference_memory_sketches"] = (rows.last?["memory"] as? Double) ?? 0
                figures["speedup_vs_reference"] = ourRate / refRate
                figures["same_answers_vs_reference"] = Double(same) / Double(max(answered, 1))
            } else {
                print("the PyTorch reference failed (exit \(r.status)), continuing without it: \(r.stderr.suffix(400))")
            }
        }
        // Exact match over time, both engines where the reference ran.
        print("turns          Recur exact match" + (refTurnScored.isEmpty ? "" : "       PyTorch exact match"))
        for (k, w) in stride(from: 0, to: done, by: window).enumerated() {
            let end = min(w + window, done)
            let c = turnCorrect[w..<end].reduce(0, +), scored = turnScored[w..<end].reduce(0, +)
            var line = BenchSupport.pad("\(w + 1)-\(end)", 14) + String(format: " %5.1f%% of %d", 100 * Double(c) / Double(max(scored, 1)), scored)
            figures["exact_match_window_\(k + 1)"] = Double(c) / Double(max(scored, 1))
            if w < refTurnScored.count {
                let refEnd = min(end, refTurnScored.count)
                let rc = refTurnCorrect[w..<refEnd].reduce(0, +), rs = refTurnScored[w..<refEnd].reduce(0, +)
                line = BenchSupport.pad(line, 39) + String(format: "%5.1f%% of %d", 100 * Double(rc) / Double(max(rs, 1)), rs) + (refEnd < end ? " (turns \(w + 1)-\(refEnd))" : "")
                figures["reference_exact_match_window_\(k + 1)"] = Double(rc) / Double(max(rs, 1))
            }
            print(line)
        }
        run.measurements.append(BenchMeasurement(engine: "recur", modelPath: path, modelSHA256: try SHA256.hex(file: path), modelType: BenchLMCommand.weightType(m.file),
                                                 threads: threads, batch: 1, halt: "-", puzzles: done, repetitions: 1, figures: figures))
        run.interrupted = stop.isSet
        try recording.record(run)
        if stop.isSet { throw ExitCode(130) }
    }
}
