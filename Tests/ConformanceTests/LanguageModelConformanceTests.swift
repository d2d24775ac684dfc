import Foundation
import Runtime
import TestSupport
import XCTest

/// Recur's causal decoder against llama.cpp on the same GGUF file (SmolLM2-135M-Instruct, Q4_1
/// with a tied Q8_0 embedding) and against PyTorch running the same weights dequantized to FP32:
/// greedy continuations token for token, and teacher-forced logits over 2,048 tokens of text.
final class LanguageModelConformanceTests: XCTestCase {
    static let prompts = [
        "The capital of France is",
        "def fibonacci(n):\n",
        "Once upon a time, in a small village,",
        "The three laws of thermodynamics are",
        "Translate to French: I like apples.\nFrench:",
        "<|im_start|>user\nWhat is 17 times 23?<|im_end|>\n<|im_start|>assistant\n",
    ]

    /// llama.cpp's own logit gap allowed where the two engines pick different tokens: a near tie,
    /// which llama.cpp itself resolves differently across CPUs (gaps of 0.09 and 0.19 seen).
    static let tieGap: Float = 0.5

    private func language() throws -> LanguageModel {
        try LanguageModel(path: Reference.requireSmolLM().path)
    }

    /// Greedy continuations of 6 prompts x 64 tokens equal llama.cpp's, except after a near tie.
    func testGreedyContinuationsMatchLlamaCpp() throws {
        try Reference.requireLlamaCpp()
        let lm = try language()
        let generator = Generator(language: lm, context: try DecoderContext(model: lm.model, contextSize: 256, threads: 2))
        var prompts: [[Int32]] = []
        var continuations: [[Int32]] = []
        for text in Self.prompts {
            let ids = lm.tokenizer.encode(text, addSpecial: true, parseSpecial: true)
            let r = try generator.generate(prompt: ids, options: GenerationOptions(maxTokens: 64, sampling: .greedy, ignoreEndOfGeneration: true))
            XCTAssertEqual(r.tokens.count, 64)
            prompts.append(ids)
            continuations.append(r.tokens)
        }
        let dir = try Reference.temporaryDirectory("lm-greedy")
        defer { try? FileManager.default.removeItem(at: dir) }
        let promptFile = dir.appendingPathComponent("prompts.json"), recurFile = dir.appendingPathComponent("recur.json")
        try JSONEncoder().encode(prompts).write(to: promptFile)
        try JSONEncoder().encode(continuations).write(to: recurFile)
        let out = try Reference.python(["tools/llm/llamacpp_reference.py", "greedy", "--model", Reference.requireSmolLM().path,
                                        "--prompts", promptFile.path, "-n", "64", "--recur", recurFile.path, "--ctx", "256"])
        struct Entry: Decodable { var tokens: [Int32]; var first_difference: Int?; var gap: Float? }
        let entries = try JSONDecoder().decode([Entry].self, from: Data(out.utf8))
        XCTAssertEqual(entries.count, prompts.count)
        var identical = 0
        for (i, e) in entries.enumerated() {
            guard let k = e.first_difference else { identical += 1; continue }
            let gap = e.gap ?? .infinity
            print("prompt \(i): first difference at token \(k) of 64, llama.cpp's logit gap there \(gap)")
            XCTAssertLessThanOrEqual(gap, Self.tieGap, "prompt \(i) (\(Self.prompts[i].debugDescription)): Recur left llama.cpp's greedy path at token \(k) where llama.cpp prefers its own token by \(gap)")
        }
        print("greedy: \(identical) of \(entries.count) continuations identical to llama.cpp over 64 tokens; the others part at near ties")
    }

    /// Teacher-forced logits over 2,048 tokens of English prose and code: KL divergence and same
    /// top-1 against llama.cpp (same file, same quantized arithmetic) and against PyTorch FP32 on
    /// the dequantized weights (what quantizing the activations costs).
    func testTeacherForcedLogitsAgainstLlamaCppAndPyTorch() throws {
        try Reference.requireLlamaCpp()
        let model = try Reference.requireSmolLM().path
        let lm = try language()
        let text = try Reference.python(["tools/llm/eval_text.py"])
        let all = lm.tokenizer.encode(text, addSpecial: true, parseSpecial: false)
        XCTAssertGreaterThan(all.count, 2049)
        let tokens = Array(all.prefix(2049))
        let input = Array(tokens.prefix(2048))
        let context = try DecoderContext(model: lm.model, contextSize: 2048, threads: 2)
        let logits = try context.feedAll(input)
        XCTAssertTrue(logits.allSatisfy(\.isFinite))

        let dir = try Reference.temporaryDirectory("lm-logits")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenFile = dir.appendingPathComponent("tokens.json"), inputFile = dir.appendingPathComponent("input.json")
        let recurFile = dir.appendingPathComponent("recur.f32")
        try JSONEncoder().encode(tokens).write(to: tokenFile)
        try JSONEncoder().encode(input).write(to: inputFile)
        try logits.withUnsafeBytes { try Data($0).write(to: recurFile) }

        func compare(_ reference: URL) throws -> [String: Double] {
            let out = try Reference.python(["tools/llm/compare_logits.py", "--reference", reference.path, "--candidate", recurFile.path,
                                            "--vocab", String(lm.model.vocabSize), "--tokens", tokenFile.path])
            return try JSONDecoder().decode([String: Double].self, from: Data(out.utf8))
        }
        let llamaFile = dir.appendingPathComponent("llamacpp.f32")
        try Reference.python(["tools/llm/llamacpp_reference.py", "logits", "--model", model, "--tokens", inputFile.path, "--out", llamaFile.path])
        let vsLlama = try compare(llamaFile)
        print("against llama.cpp over \(input.count) tokens: \(vsLlama.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        XCTAssertLessThan(vsLlama["kl_mean"] ?? .infinity, 0.005, "mean KL against llama.cpp on the same file")
        XCTAssertLessThan(vsLlama["kl_p99"] ?? .infinity, 0.05)
        XCTAssertGreaterThan(vsLlama["same_top1"] ?? 0, 0.97)

        try Reference.requireTorch()
        try Reference.requirePython(["transformers", "gguf"])
        let torchFile = dir.appendingPathComponent("torch.f32")
        try Reference.python(["tools/llm/torch_reference.py", "logits", "--model", model, "--tokens", inputFile.path, "--out", torchFile.path])
        let vsTorch = try compare(torchFile)
        print("against PyTorch FP32 (dequantized weights) over \(input.count) tokens: \(vsTorch.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        XCTAssertLessThan(vsTorch["kl_mean"] ?? .infinity, 0.02, "mean KL against FP32 PyTorch on the dequantized weights")
        XCTAssertGreaterThan(vsTorch["same_top1"] ?? 0, 0.95)
        // Perplexity of the text under each engine: quantized activations must not make it worse by much.
        if let ours = vsTorch["perplexity_candidate"], let theirs = vsTorch["perplexity_reference"] {
            XCTAssertLessThan(ours, theirs * 1.02, "perplexity \(ours) against FP32's \(theirs)")
        }
    }

    /// Feeding a prompt in one batch (GEMM) or token by token (GEMV with the KV cache) gives the
    /// same distribution for the last token. Not the same bits: the products round differently
    /// with the batch shape, and 8-bit activation rounding amplifies that over 30 layers (llama.cpp's
    /// own two paths differ by 0.3 in these logits), so the check is a KL bound and, unless the
    /// top two are a near tie, the same top token.
    func testBatchedPrefillEqualsTokenByToken() throws {
        let lm = try language()
        for text in Self.prompts {
            let ids = lm.tokenizer.encode(text, addSpecial: true, parseSpecial: true)
            let batched = try DecoderContext(model: lm.model, contextSize: 64, threads: 2)
            let a = Array(try batched.feed(ids))
            let single = try DecoderContext(model: lm.model, contextSize: 64, threads: 1)
            var b: [Float] = []
            for t in ids { b = Array(try single.feed([t])) }
            let kl = Self.klDivergence(a, b)
            XCTAssertLessThan(kl, 0.01, "\(text.debugDescription): KL(batched || token by token) \(kl)")
            let top = a.indices.max { a[$0] < a[$1] }!, other = b.indices.max { b[$0] < b[$1] }!
            if top != other {
                XCTAssertLessThan(a[top] - a[other], Self.tieGap, "\(text.debugDescription): top tokens \(top) and \(other) are not a near tie")
            }
        }
    }

    static func klDivergence(_ p: [Float], _ q: [Float]) -> Double {
        func logSoftmax(_ x: [Float]) -> [Double] {
            let m = Double(x.max()!)
            let lse = m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
            return x.map { Double($0) - lse }
        }
        let lp = logSoftmax(p), lq = logSoftmax(q)
        return zip(lp, lq).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
    }
}
