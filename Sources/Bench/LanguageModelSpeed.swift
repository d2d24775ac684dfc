import Foundation
import Runtime

/// llama-bench's two figures for a language model: pp (a prompt of `promptTokens` evaluated as one
/// batch, tokens/s) and tg (`generatedTokens` decoded one at a time after BOS, tokens/s). Token ids
/// are fixed and independent of the text, as llama-bench's, so only the shapes matter.
public enum LanguageModelSpeed {
    public struct Result: Sendable {
        /// Seconds of every repetition.
        public var promptSeconds: [Double]
        public var generationSeconds: [Double]
        public var promptTokens: Int
        public var generatedTokens: Int

        public var promptTokensPerSecond: Spread { Spread(promptSeconds.map { Double(promptTokens) / $0 }) }
        public var tokensPerSecond: Spread { Spread(generationSeconds.map { Double(generatedTokens) / $0 }) }
    }

    /// The prompt both engines evaluate: `count` ids spread over the vocabulary.
    public static func promptIds(count: Int, vocab: Int) -> [Int32] {
        (0..<count).map { Int32(($0 * 7919 + 13) % vocab) }
    }

    /// Times Recur: one warm-up of each, then `repetitions` of each on a fresh context.
    public static func measureRecur(model: CausalModel, threads: Int, promptTokens: Int, generatedTokens: Int, repetitions: Int,
                                    stop: StopFlag? = nil) throws -> Result {
        let context = try DecoderContext(model: model, contextSize: promptTokens + generatedTokens + 8, threads: threads)
        let prompt = promptIds(count: promptTokens, vocab: model.vocabSize)
        let bos: Int32 = 1
        func pp() throws -> Double {
            context.truncate(to: 0)
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try context.feed(prompt)
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        func tg() throws -> Double {
            context.truncate(to: 0)
            var token = bos
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<generatedTokens {
                _ = try context.feed([token])
                token = Int32((Int(token) * 31 + 7) % model.vocabSize)
            }
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }
        var result = Result(promptSeconds: [], generationSeconds: [], promptTokens: promptTokens, generatedTokens: generatedTokens)
        _ = try pp()
        for _ in 0..<repetitions where stop?.isSet != true { result.promptSeconds.append(try pp()) }
        _ = try tg()
        for _ in 0..<repetitions where stop?.isSet != true { result.generationSeconds.append(try tg()) }
        return result
    }

    /// Times llama.cpp on the same file through `tools/llm/llamacpp_bench.py` (llama-cpp-python).
    public static func measureLlamaCpp(script: String, model: String, threads: Int, promptTokens: Int, generatedTokens: Int,
                                       repetitions: Int, stop: StopFlag? = nil) throws -> Result {
        let r = try PyTorchBaseline.runPython([script, "--model", model, "--threads", String(threads), "--pp", String(promptTokens),
                                               "--tg", String(generatedTokens), "--reps", String(repetitions)], stop: stop)
        guard r.status == 0 else {
            throw HistoryError(r.status == 77 ? "llama-cpp-python is not installed" : "\(script) failed (exit \(r.status)): \(r.stderr.suffix(600))")
        }
        struct Doc: Decodable { var pp_seconds: [Double]; var tg_seconds: [Double] }
        guard let doc = try? JSONDecoder().decode(Doc.self, from: Data(r.stdout.utf8)) else {
            throw HistoryError("\(script): unexpected output: \(r.stdout.suffix(300))")
        }
        return Result(promptSeconds: doc.pp_seconds, generationSeconds: doc.tg_seconds, promptTokens: promptTokens, generatedTokens: generatedTokens)
    }
}
