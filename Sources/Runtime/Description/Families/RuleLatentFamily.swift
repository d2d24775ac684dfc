/// The rule-latent model (UZR, docs/rule-latent.md): a byte-level pre-norm encoder with LayerNorm
/// (weight and bias), attention with biases under a prefix-LM mask, a GELU or ReLU MLP with
/// biases, learned positions, and FiLM from a latent z after every block; `uzr.*` keys.
public enum RuleLatentFamily: ModelFamily {
    public static let architectures = ["uzr"]

    public static func describe(_ file: GGUFFile) throws -> ModelDescription {
        func int(_ key: String) throws -> Int {
            guard let v = file.value("uzr.\(key)")?.int, v > 0 else {
                throw ModelError.badMetadata(file: file.path, detail: "uzr.\(key) is missing or not a positive integer")
            }
            return v
        }
        let hidden = try int("embedding_length"), heads = try int("attention.head_count")
        guard hidden % heads == 0 else {
            throw ModelError.badMetadata(file: file.path, detail: "uzr.embedding_length \(hidden) is not a multiple of the head count \(heads)")
        }
        let maxInput = try int("max_input"), maxOutput = try int("max_output"), context = try int("context_length")
        guard context == 1 + maxInput + 1 + maxOutput else {
            throw ModelError.badMetadata(file: file.path, detail: "uzr.context_length \(context) is not 1 + max_input + 1 + max_output = \(2 + maxInput + maxOutput)")
        }
        let activation = file.value("uzr.activation")?.string ?? "gelu"
        guard let mlp = ChannelMLP(rawValue: activation), mlp != .swiglu else {
            throw ModelError.badMetadata(file: file.path, detail: "uzr.activation '\(activation)' is not gelu or relu")
        }
        let eps = Float(file.value("uzr.attention.layer_norm_epsilon")?.double ?? 1e-5)
        let attention = AttentionSpec(causal: false, heads: heads, kvHeads: heads, headDim: hidden / heads, projection: .split, biases: true,
                                      positions: .learned, outputBias: true, prefixLength: 1 + maxInput)
        let block = BlockSpec(norm: NormSpec(kind: .layer, weighted: true, bias: true, epsilon: eps), placement: .pre,
                              mixer: .attention(attention), mlp: mlp, mlpWidth: try int("feed_forward_length"),
                              mlpBiases: true, modulation: .film(latent: try int("latent_length")))
        return ModelDescription(
            architecture: "uzr", hiddenSize: hidden, vocabSize: try int("vocab_size"), contextLength: context,
            stacks: [StackSpec(name: "main", tensorPrefix: "blk", layers: try int("block_count"), block: block)],
            schedule: .flat(stack: "main"),
            heads: [HeadSpec(kind: .lm, state: "h", positions: .from(1 + maxInput))],
            embeddingScale: 1, outputNorm: NormSpec(kind: .layer, weighted: true, bias: true, epsilon: eps), tiedOutput: false)
    }
}
