import ArgumentParser
import Dispatch
import Export
import CKernels
import Foundation
import Runtime

/// Compares halting heads on recorded Q-head inputs (tools/reference/record_qhead_states.py).
/// Halting never changes a sample's states, only where it stops, so one fixed-step recording
/// scores every head exactly as a full run would.
struct QHeadEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qhead-eval",
        abstract: "Score halting heads (GGUF files with a Q-head) on recorded states: agreement, steps, solve rate, size, ns per decision (1 thread).")

    @Option(name: .long, help: "Recorded states (safetensors: states [N, T, hidden], correct and valid [N, T]).")
    var states: String

    @Option(name: .long, help: "First puzzle of the recording to score (e.g. after those used for training).")
    var from: Int = 0

    @Option(name: .long, help: "Halting rule: qhead (q_halt > 0) or compare (q_halt > q_continue).")
    var halt: String = "qhead"

    @Option(name: .long, parsing: .upToNextOption, help: "Reference head files per row, in the same order as the heads (default: each row against the first head).")
    var reference: [String] = []

    @Argument(help: "GGUF files whose head (attached, else the official) is scored.")
    var heads: [String]

    func run() throws {
        // One thread: a head decision is far below what an OpenMP fork pays off for.
        recur_set_num_threads(1)
        let dict = try StateDict.load(states)
        guard let s = dict["states"], s.shape.count == 3, let correctT = dict["correct"], let validT = dict["valid"] else {
            throw CLIError("\(states): needs states [N, T, hidden], correct [N, T] and valid [N, T]")
        }
        let (total, steps, hidden) = (s.shape[0], s.shape[1], s.shape[2])
        guard from >= 0, from < total else { throw CLIError("--from \(from) is outside 0..<\(total)") }
        let n = total - from
        let all = try s.floats(), correct = try correctT.floats(), valid = try validT.floats()
        let x = Array(all[from * steps * hidden..<total * steps * hidden])
        let policy: HaltingPolicy = halt == "compare" ? .compare : .qHead
        guard reference.isEmpty || reference.count == heads.count else { throw CLIError("give one --reference per head, or none") }

        func haltSteps(_ head: QHead) -> [Int] {
            let session = QHeadSession(head: head, capacity: n)
            for b in 0..<n { session.reset(slot: b) }
            var result = [Int](repeating: steps, count: n)
            var row = [Float](repeating: 0, count: n * hidden)
            for t in 0..<steps {
                for b in 0..<n { row.replaceSubrange(b * hidden..<(b + 1) * hidden, with: x[(b * steps + t) * hidden..<(b * steps + t + 1) * hidden]) }
                let q = session.evaluate(row, batch: n)
                for b in 0..<n where result[b] == steps && t < steps - 1 {
                    if policy.halts(qHalt: q[2 * b], qContinue: q[2 * b + 1], rule: .qHaltPositive) { result[b] = t + 1 }
                }
            }
            return result
        }

        /// Fastest of 7 passes (the least disturbed on a shared machine): ns of one batch-1 decision over every recorded state, sequences in order.
        func nsPerDecision(_ head: QHead) -> Double {
            let session = QHeadSession(head: head, capacity: 1)
            var q = [Float](repeating: 0, count: 2)
            var samples: [Double] = []
            for _ in 0..<7 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                x.withUnsafeBufferPointer { xs in
                    for b in 0..<n {
                        session.reset(slot: 0)
                        for t in 0..<steps { session.evaluate(xs.baseAddress! + (b * steps + t) * hidden, q: &q, batch: 1) }
                    }
                }
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(n * steps))
            }
            return samples.min() ?? 0
        }

        print("\(n) puzzles (recording rows \(from)..<\(total)), \(steps) steps, halting \(halt)")
        print("| head | file | agreement | mean ACT steps | valid at halt | exact at halt | head bytes | ns/decision |")
        print("|---|---|---|---|---|---|---|---|")
        var firstSteps: [Int]?
        for (i, path) in heads.enumerated() {
            let head = try QHeadLoader.effective(file: GGUFFile(path: path))
            let ours = haltSteps(head)
            let base: [Int]
            if !reference.isEmpty {
                base = haltSteps(try QHeadLoader.effective(file: GGUFFile(path: reference[i])))
            } else {
                base = firstSteps ?? ours
            }
            if firstSteps == nil { firstSteps = ours }
            let agree = zip(ours, base).filter { $0 == $1 }.count
            let v = (0..<n).filter { valid[((from + $0) * steps) + ours[$0] - 1] > 0 }.count
            let e = (0..<n).filter { correct[((from + $0) * steps) + ours[$0] - 1] > 0 }.count
            let mean = Double(ours.reduce(0, +)) / Double(n)
            print(String(format: "| %@ | %@ | %.1f%% | %.2f | %.1f%% | %.1f%% | %d | %.0f |", head.summary, URL(fileURLWithPath: path).lastPathComponent,
                         100 * Double(agree) / Double(n), mean, 100 * Double(v) / Double(n), 100 * Double(e) / Double(n),
                         head.byteSize, nsPerDecision(head)))
        }
    }
}
