import Foundation
import Runtime
import Tasks

/// How far a quantized model's answers moved from its F32 reference, measured the way llama.cpp's
/// perplexity tool does it (KL divergence of per-token distributions, same-top-1 rate) plus what
/// TRM users care about (solve rates, halting decisions, ACT steps).
///
/// Both models run with Q-head halting. Distributions are compared cell by cell at every ACT step
/// both models ran for a puzzle (the first `min(steps_ref, steps_candidate)` steps).
public struct DriftReport: Sendable, Codable {
    public var puzzles: Int
    public var reference: SolveStats
    public var candidate: SolveStats
    /// KL(reference || candidate) over the vocabulary, one value per compared cell and step.
    public var klMean: Double
    public var klPercentiles: [String: Double]
    public var klMax: Double
    public var sameTop1: Double
    /// Puzzles whose halting step differs between the two models.
    public var haltingChanged: Int
    public var comparedCells: Int
    /// Puzzles the candidate solves validly and the reference does not, and the other way round:
    /// the valid-rate difference is (validGained - validLost) / puzzles.
    public var validGained: Int
    public var validLost: Int

    /// Two-sided p-value of the valid-rate difference under "neither model is better" (exact sign
    /// test on the puzzles where exactly one of them is valid, i.e. McNemar's exact test).
    public var validChangeP: Double { Drift.signTestP(validGained, validLost) }
}

public enum Drift {
    /// Runs `model` with Q-head halting on every puzzle, keeping each step's logits. `progress`
    /// hears how many puzzles have halted so far; once `stop` is set, the next puzzle to halt
    /// throws `BenchInterrupted`.
    public static func run(_ model: RecursiveModel, lines: [SudokuLine], batch: Int, threads: Int, maxSteps: Int? = nil,
                           stop: StopFlag? = nil, progress: ((Int) -> Void)? = nil) throws -> [ModelOutput] {
        let inputs = lines.map { ModelInput(tokens: $0.puzzle.tokens) }
        let runner = try ACTRunner(model: model, batchSize: batch, policy: .qHead, maxSteps: maxSteps, threads: threads)
        runner.recordLogits = true
        var outputs = [ModelOutput?](repeating: nil, count: inputs.count)
        var halted = 0
        try runner.run(inputs) {
            outputs[$0.index] = $0
            halted += 1
            progress?(halted)
            if stop?.isSet == true { throw BenchInterrupted() }
        }
        return outputs.compactMap { $0 }
    }

    /// Compares a candidate's outputs with the reference's (both from `run`, same puzzles).
    public static func compare(reference ref: [ModelOutput], candidate cand: [ModelOutput], lines: [SudokuLine], vocab: Int) -> DriftReport {
        var kls: [Double] = []
        var same = 0
        var report = DriftReport(puzzles: lines.count, reference: SolveStats(), candidate: SolveStats(), klMean: 0,
                                 klPercentiles: [:], klMax: 0, sameTop1: 0, haltingChanged: 0, comparedCells: 0,
                                 validGained: 0, validLost: 0)
        for (i, line) in lines.enumerated() {
            let r = ref[i], c = cand[i]
            let refValid = report.reference.add(prediction: r.prediction, steps: r.steps, line: line)
            let candValid = report.candidate.add(prediction: c.prediction, steps: c.steps, line: line)
            if r.steps != c.steps { report.haltingChanged += 1 }
            switch (refValid, candValid) {
            case (false, true): report.validGained += 1
            case (true, false): report.validLost += 1
            default: break
            }
            for step in 0..<min(r.steps, c.steps) {
                let p = r.stepLogits[step], q = c.stepLogits[step]
                for cell in 0..<(p.count / vocab) {
                    let range = cell * vocab..<(cell + 1) * vocab
                    let (kl, agree) = klDivergence(p[range], q[range])
                    kls.append(kl)
                    if agree { same += 1 }
                }
            }
        }
        kls.sort()
        report.comparedCells = kls.count
        report.klMean = kls.reduce(0, +) / Double(max(kls.count, 1))
        report.klMax = kls.last ?? 0
        for p in [50.0, 90, 95, 99, 99.9] {
            report.klPercentiles[String(format: "p%g", p)] = percentile(kls, p)
        }
        report.sameTop1 = Double(same) / Double(max(kls.count, 1))
        return report
    }

    /// KL(softmax(p) || softmax(q)) in double precision, and whether both argmaxes agree.
    static func klDivergence(_ p: ArraySlice<Float>, _ q: ArraySlice<Float>) -> (Double, Bool) {
        func logSoftmax(_ x: ArraySlice<Float>) -> [Double] {
            let m = Double(x.max() ?? 0)
            let lse = m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
            return x.map { Double($0) - lse }
        }
        let lp = logSoftmax(p), lq = logSoftmax(q)
        var kl = 0.0
        for j in 0..<lp.count { kl += exp(lp[j]) * (lp[j] - lq[j]) }
        let ap = lp.indices.max { lp[$0] < lp[$1] }, aq = lq.indices.max { lq[$0] < lq[$1] }
        return (max(kl, 0), ap == aq)
    }

    /// Exact two-sided sign test: with n = a + b trials of a fair coin, the probability of a split at
    /// least as uneven as (a, b); 1 when n = 0.
    public static func signTestP(_ a: Int, _ b: Int) -> Double {
        let n = a + b, k = min(a, b)
        guard n > 0 else { return 1 }
        // sum over i <= k of C(n, i) / 2^n, term by term in log space (n can be in the thousands).
        func logChoose(_ n: Int, _ i: Int) -> Double { lgamma(Double(n + 1)) - lgamma(Double(i + 1)) - lgamma(Double(n - i + 1)) }
        var tail = 0.0
        for i in 0...k { tail += exp(logChoose(n, i) - Double(n) * log(2.0)) }
        return min(1, 2 * tail)
    }

    /// Nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}
