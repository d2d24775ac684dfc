import Foundation
import Runtime

/// How far a quantized recursive language model moved from its F32 reference on held-out text,
/// measured as llama.cpp's perplexity tool does (KL divergence of every position's next-token
/// distribution, same-top-1 rate, perplexity) plus what per-token halting adds: how many tokens
/// halted at a different step, and the mean ACT steps per token.
///
/// Both models read the same tokens in windows of `window` positions (each window a fresh
/// context, every position scored but the first), teacher-forced with the halting policy given.
public struct TextDriftReport: Sendable, Codable {
    public var tokens: Int
    public var klMean: Double
    public var klPercentiles: [String: Double]
    public var klMax: Double
    public var sameTop1: Double
    public var referencePerplexity: Double
    public var candidatePerplexity: Double
    /// Positions whose ACT step count differs between the two models.
    public var haltingChanged: Int
    public var referenceMeanSteps: Double
    public var candidateMeanSteps: Double

    public var perplexityChange: Double { candidatePerplexity / referencePerplexity - 1 }

    public func figures(prefix: String = "") -> [String: Double] {
        var out: [String: Double] = [
            "\(prefix)kl_mean": klMean, "\(prefix)kl_max": klMax, "\(prefix)same_top1": sameTop1,
            "\(prefix)ppl_reference": referencePerplexity, "\(prefix)ppl": candidatePerplexity,
            "\(prefix)ppl_change": perplexityChange, "\(prefix)halting_changed": Double(haltingChanged),
            "\(prefix)mean_steps_reference": referenceMeanSteps, "\(prefix)mean_steps": candidateMeanSteps,
            "\(prefix)tokens": Double(tokens),
        ]
        for (k, v) in klPercentiles { out["\(prefix)kl_\(k)"] = v }
        return out
    }
}

public enum TextDrift {
    /// Teacher-forced logits and ACT steps of every position of `tokens`, window by window.
    public struct Pass {
        public var logits: [[Float]]
        public var steps: [Int32]
        public var vocab: Int

        public init(logits: [[Float]], steps: [Int32], vocab: Int) {
            self.logits = logits
            self.steps = steps
            self.vocab = vocab
        }
    }

    public static func run(_ model: CausalModel, tokens: [Int32], window: Int, threads: Int, policy: HaltingPolicy,
                           maxSteps: Int? = nil, stop: StopFlag? = nil) throws -> Pass {
        var pass = Pass(logits: [], steps: [], vocab: model.vocabSize)
        var start = 0
        while start < tokens.count {
            if stop?.isSet ?? false { throw BenchInterrupted() }
            let chunk = Array(tokens[start..<min(start + window, tokens.count)])
            let context = try DecoderContext(model: model, contextSize: max(chunk.count, 1), threads: threads, maxBatch: 128)
            try context.setHalting(policy, maxSteps: maxSteps)
            pass.logits.append(try context.feedAll(chunk))
            pass.steps += (0..<chunk.count).map { Int32(context.actSteps(at: $0)) }
            start += window
        }
        return pass
    }

    /// Perplexity of `pass` on its own tokens: exp of the mean negative log-likelihood of each
    /// window's position i + 1 under position i's distribution.
    public static func perplexity(_ pass: Pass, tokens: [Int32], window: Int) -> Double {
        var nll = 0.0, count = 0
        for (w, logits) in pass.logits.enumerated() {
            let n = logits.count / pass.vocab
            for i in 0..<(n - 1) {
                let row = logits[i * pass.vocab..<(i + 1) * pass.vocab]
                let m = Double(row.max() ?? 0)
                let lse = m + log(row.reduce(0.0) { $0 + exp(Double($1) - m) })
                nll += lse - Double(row[row.startIndex + Int(tokens[w * window + i + 1])])
                count += 1
            }
        }
        return exp(nll / Double(max(count, 1)))
    }

    public static func compare(reference ref: Pass, candidate cand: Pass, tokens: [Int32], window: Int) -> TextDriftReport {
        var kls: [Double] = []
        var same = 0
        for (r, c) in zip(ref.logits, cand.logits) {
            let n = r.count / ref.vocab
            for i in 0..<(n - 1) {
                let range = i * ref.vocab..<(i + 1) * ref.vocab
                let (kl, agree) = Drift.klDivergence(r[range], c[range])
                kls.append(kl)
                if agree { same += 1 }
            }
        }
        kls.sort()
        var percentiles: [String: Double] = [:]
        for p in [50.0, 90, 95, 99, 99.9] { percentiles[String(format: "p%g", p)] = Drift.percentile(kls, p) }
        func mean(_ s: [Int32]) -> Double { Double(s.reduce(0) { $0 + Int($1) }) / Double(max(s.count, 1)) }
        return TextDriftReport(
            tokens: kls.count, klMean: kls.reduce(0, +) / Double(max(kls.count, 1)), klPercentiles: percentiles, klMax: kls.last ?? 0,
            sameTop1: Double(same) / Double(max(kls.count, 1)),
            referencePerplexity: perplexity(ref, tokens: tokens, window: window), candidatePerplexity: perplexity(cand, tokens: tokens, window: window),
            haltingChanged: zip(ref.steps, cand.steps).filter { $0 != $1 }.count,
            referenceMeanSteps: mean(ref.steps), candidateMeanSteps: mean(cand.steps))
    }
}
