/// The neuro-symbolic search model (NSSR, docs/nssr.md): example rows projected from 4 features
/// per value, learned positions, one stack of pre-norm blocks (LayerNorm with bias, attention with
/// biases and no mask, exact GELU MLP with biases) run recursively on two states with a recursion
/// LayerNorm, and five classifier heads on the mean of y; `nssr.*` keys.
public enum NSSRFamily: ModelFamily {
    public static let architectures = ["nssr"]
    /// The composition types of the composition head, in logit order.
    public static let compositionTypes = ["none", "sequential", "nested", "parallel"]
    /// The function heads, in the order the search reads them.
    public static let functionHeads = ["head_primary", "head_secondary", "head_tertiary"]

    public static func describe(_ file: GGUFFile) throws -> ModelDescription {
        func int(_ key: String) throws -> Int {
            guard let v = file.value("nssr.\(key)")?.int, v > 0 else {
                throw ModelError.badMetadata(file: file.path, detail: "nssr.\(key) is missing or not a positive integer")
            }
            return v
        }
        let hidden = try int("embedding_length"), heads = try int("attention.head_count")
        guard hidden % heads == 0 else {
            throw ModelError.badMetadata(file: file.path, detail: "nssr.embedding_length \(hidden) is not a multiple of the head count \(heads)")
        }
        let inputWidth = try int("input_length")
        guard inputWidth % 4 == 0, inputWidth >= 8 else {
            throw ModelError.badMetadata(file: file.path, detail: "nssr.input_length \(inputWidth) is not 4 features times at least 2 values")
        }
        let functions = try int("function_count")
        _ = try functionNames(file, count: functions)
        let eps = Float(file.value("nssr.attention.layer_norm_epsilon")?.double ?? 1e-5)
        let norm = NormSpec(kind: .layer, weighted: true, bias: true, epsilon: eps)
        let attention = AttentionSpec(causal: false, heads: heads, kvHeads: heads, headDim: hidden / heads, projection: .split, biases: true,
                                      positions: .learned, outputBias: true)
        let block = BlockSpec(norm: norm, placement: .pre, mixer: .attention(attention), mlp: .gelu,
                              mlpWidth: try int("feed_forward_length"), mlpBiases: true)
        let classifiers = functionHeads.map { HeadSpec(kind: .classifier, state: "y", positions: .mean, tensor: $0, width: functions) } + [
            HeadSpec(kind: .classifier, state: "y", positions: .mean, tensor: "head_composition", width: compositionTypes.count),
            HeadSpec(kind: .classifier, state: "y", positions: .mean, tensor: "head_halt", width: 1),
        ]
        return ModelDescription(
            architecture: "nssr", hiddenSize: hidden, vocabSize: 0, contextLength: try int("context_length"),
            stacks: [StackSpec(name: "blocks", tensorPrefix: "blk", layers: try int("block_count"), block: block)],
            schedule: .recursive(hCycles: try int("recursion.t"), lCycles: try int("recursion.n"), lStack: "blocks", hStack: "blocks",
                                 low: "z", high: "y", inputFirst: true, norm: "recursion_norm"),
            heads: classifiers, embeddingScale: 1, outputNorm: nil, tiedOutput: false,
            halting: HaltingSpec(maxSteps: try int("supervision_steps"), rule: .qHaltPositive),
            input: .features(width: inputWidth), learnedInitialStates: ["y", "z"])
    }

    /// `nssr.functions`: the `count` function names the heads were trained for, in registry id order.
    public static func functionNames(_ file: GGUFFile, count: Int) throws -> [String] {
        guard case let .array(values)? = file.value("nssr.functions") else {
            throw ModelError.badMetadata(file: file.path, detail: "nssr.functions is missing or not an array of names")
        }
        let names = values.compactMap(\.string)
        guard names.count == values.count, names.count == count else {
            throw ModelError.badMetadata(file: file.path, detail: "nssr.functions holds \(values.count) entries (\(names.count) names); nssr.function_count is \(count)")
        }
        return names
    }
}
