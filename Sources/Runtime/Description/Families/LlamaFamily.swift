/// Llama-family decoders as llama.cpp writes them: `llama` (Llama 2/3, TinyLlama, SmolLM2) and
/// `qwen2` (Q/K/V biases). Pre-norm blocks with weighted RMS norms, causal GQA attention with RoPE
/// (adjacent pairs for `llama`, whose Q/K rows the converter permuted; rotate-half for `qwen2`),
/// SwiGLU, an output norm and an LM head that may be tied to the token embedding.
public enum LlamaFamily: ModelFamily {
    public static let architectures = ["llama", "qwen2"]

    public static func describe(_ file: GGUFFile) throws -> ModelDescription {
        guard let arch = file.value("general.architecture")?.string, architectures.contains(arch) else {
            throw ModelError.badMetadata(file: file.path, detail: "not a llama or qwen2 file")
        }
        func fail(_ what: String) -> ModelError { .badMetadata(file: file.path, detail: what) }
        func int(_ key: String) throws -> Int {
            guard let v = file.value("\(arch).\(key)")?.int, v > 0 else { throw fail("\(arch).\(key) is missing or not a positive integer") }
            return v
        }
        func optionalInt(_ key: String) -> Int? { file.value("\(arch).\(key)")?.int }
        func optionalFloat(_ key: String) -> Float? { file.value("\(arch).\(key)")?.double.map(Float.init) }

        let hidden = try int("embedding_length")
        let layers = try int("block_count")
        let heads = try int("attention.head_count")
        let kvHeads = optionalInt("attention.head_count_kv") ?? heads
        let ffn = try int("feed_forward_length")
        let context = try int("context_length")
        guard hidden % heads == 0 else { throw fail("embedding_length \(hidden) is not a multiple of head_count \(heads)") }
        let headDim = optionalInt("attention.key_length") ?? hidden / heads
        guard kvHeads > 0, heads % kvHeads == 0 else { throw fail("head_count \(heads) is not a multiple of head_count_kv \(kvHeads)") }
        let ropeDims = optionalInt("rope.dimension_count") ?? headDim
        guard ropeDims > 0, ropeDims <= headDim, ropeDims % 2 == 0 else { throw fail("rope.dimension_count \(ropeDims) does not fit head size \(headDim)") }
        let eps = optionalFloat("attention.layer_norm_rms_epsilon") ?? 1e-5
        guard eps.isFinite, eps >= 0 else { throw fail("attention.layer_norm_rms_epsilon is not a finite non-negative number") }
        let base = optionalFloat("rope.freq_base") ?? 10000
        guard base.isFinite, base > 0 else { throw fail("rope.freq_base is not a positive number") }
        if let scaling = file.value("\(arch).rope.scaling.type")?.string, scaling != "none" {
            throw fail("\(arch).rope.scaling.type '\(scaling)' is not supported (only unscaled RoPE)")
        }
        guard let embedding = file.tensor("token_embd.weight") else { throw ModelError.missingTensor(file: file.path, name: "token_embd.weight") }
        let vocab = optionalInt("vocab_size") ?? embedding.shape.first ?? 0
        guard layers <= 1024, hidden <= 1 << 16, heads <= 1024, context <= 1 << 24 else { throw fail("sizes are implausibly large") }

        let norm = NormSpec(kind: .rms, weighted: true, epsilon: eps)
        let attention = AttentionSpec(
            causal: true, heads: heads, kvHeads: kvHeads, headDim: headDim,
            projection: file.tensor("blk.0.attn_qkv.weight") != nil ? .fused : .split,
            biases: file.tensor("blk.0.attn_q.bias") != nil || file.tensor("blk.0.attn_qkv.bias") != nil,
            positions: .rope(base: base, dimensions: ropeDims, layout: arch == "qwen2" ? .halves : .pairs))
        let block = BlockSpec(norm: norm, placement: .pre, mixer: .attention(attention), mlp: .swiglu, mlpWidth: ffn)
        return ModelDescription(
            architecture: arch, hiddenSize: hidden, vocabSize: vocab, contextLength: context,
            stacks: [StackSpec(name: "main", tensorPrefix: "blk", layers: layers, block: block)],
            schedule: .flat(stack: "main"),
            heads: [HeadSpec(kind: .lm, state: "h", positions: .from(0))],
            embeddingScale: 1, outputNorm: norm, tiedOutput: file.tensor("output.weight") == nil)
    }
}
