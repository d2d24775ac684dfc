import Foundation
import Runtime

/// Generation speed of a recursive language model: a prompt, then `generated` tokens decoded
/// greedily one at a time with the halting policy given, so the ACT steps each token runs are the
/// model's own (the same text gives the same work in every engine). Recur and the PyTorch
/// reference (eager, `tools/reference/rlm_gguf.py bench`) measure the same thing on the same file.
public enum RecursiveLMSpeed {
    public struct Result: Sendable {
        public var promptSeconds: [Double]
        /// Seconds of the decode phase of every repetition: `decodeCalls` tokens evaluated one at
        /// a time after the prompt (the last generated token is sampled, not evaluated).
        public var generationSeconds: [Double]
        public var decodeCalls: Int
        /// Mean ACT steps per generated token (of the last repetition).
        public var meanSteps: Double
        public var tokens: [Int32]

        public var tokensPerSecond: Spread { Spread(generationSeconds.map { Double(decodeCalls) / $0 }) }
    }

    public static func measureRecur(model: CausalModel, prompt: [Int32], generated: Int, threads: Int, policy: HaltingPolicy,
                                    repetitions: Int, stop: StopFlag? = nil) throws -> Result {
        let context = try DecoderContext(model: model, contextSize: min(prompt.count + generated + 1, model.description.contextLength), threads: threads)
        try context.setHalting(policy)
        guard generated >= 2 else { throw HistoryError("generate at least 2 tokens to time decoding") }
        var result = Result(promptSeconds: [], generationSeconds: [], decodeCalls: generated - 1, meanSteps: 0, tokens: [])
        func once() throws -> (Double, Double) {
            context.truncate(to: 0)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var logits = try context.feed(prompt)
            let t1 = DispatchTime.now().uptimeNanoseconds
            var tokens: [Int32] = []
            for i in 0..<generated {
                var best = 0
                for j in 0..<logits.count where logits[j] > logits[best] { best = j }
                tokens.append(Int32(best))
                if i + 1 < generated { logits = try context.feed([Int32(best)]) }
            }
            let t2 = DispatchTime.now().uptimeNanoseconds
            result.tokens = tokens
            // The steps of the positions each generated token was sampled from.
            let steps = (prompt.count - 1..<prompt.count - 1 + generated).map { context.actSteps(at: $0) }
            result.meanSteps = Double(steps.reduce(0, +)) / Double(max(steps.count, 1))
            return (Double(t1 - t0) / 1e9, Double(t2 - t1) / 1e9)
        }
        _ = try once()
        for _ in 0..<repetitions where stop?.isSet != true {
            let (p, g) = try once()
            result.promptSeconds.append(p)
            result.generationSeconds.append(g)
        }
        return result
    }

    /// The PyTorch reference, eager, on the same file, prompt, threads and policy.
    public static func measureTorch(script: String, model: String, prompt: [Int32], generated: Int, threads: Int, policy: String,
                                    repetitions: Int, stop: StopFlag? = nil) throws -> Result {
        let r = try PyTorchBaseline.runPython([script, "bench", "--gguf", model, "--prompt-ids", prompt.map(String.init).joined(separator: ","),
                                               "--n", String(generated), "--threads", String(threads), "--policy", policy,
                                               "--repetitions", String(repetitions)], stop: stop)
        guard r.status == 0 else {
            throw HistoryError(r.status == 77 ? "PyTorch is not installed" : "\(script) failed (exit \(r.status)): \(r.stderr.suffix(600))")
        }
        struct Doc: Decodable {
            struct Run: Decodable {
                var prompt_seconds_all: [Double]?
                var decode_seconds_all: [Double]
                var decode_steps: Int
                var mean_act_steps_per_generated_token: Double
                var tokens: [Int32]
            }
            var results: [Run]
        }
        guard let doc = try? JSONDecoder().decode(Doc.self, from: Data(r.stdout.utf8)), let run = doc.results.first else {
            throw HistoryError("\(script): unexpected output: \(r.stdout.suffix(300))")
        }
        return Result(promptSeconds: run.prompt_seconds_all ?? [], generationSeconds: run.decode_seconds_all, decodeCalls: run.decode_steps,
                      meanSteps: run.mean_act_steps_per_generated_token, tokens: run.tokens)
    }
}
