/// TRM and HRM files written by `recur export`: `trm.*` / `hrm.*` keys (see `ModelConfig`), stacks
/// `L.blk.N` (and `H.blk.N` for HRM), post-norm blocks with weightless RMS norms, non-causal
/// attention or `mlp_t`, and the recursive schedule of one ACT step.
public enum RecursiveFamily: ModelFamily {
    public static let architectures = ["trm", "hrm"]

    public static func describe(_ file: GGUFFile) throws -> ModelDescription {
        try describe(ModelConfig(gguf: file))
    }

    public static func describe(_ c: ModelConfig) -> ModelDescription {
        let positions: PositionSpec
        switch c.positionEncoding {
        case .rope: positions = .rope(base: c.ropeTheta, dimensions: c.headDim, layout: .halves)
        case .learned: positions = .learned
        case .none: positions = .none
        }
        let mixer: TokenMixer
        switch c.tokenMixer {
        case .attention:
            mixer = .attention(AttentionSpec(causal: false, heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim,
                                             projection: .fused, biases: false, positions: positions))
        case .mlpT:
            mixer = .mlpT(width: c.tokenMixFeedForwardLength)
        }
        let block = BlockSpec(norm: NormSpec(kind: .rms, weighted: false, epsilon: c.normEpsilon), placement: .post,
                              mixer: mixer, mlp: .swiglu, mlpWidth: c.feedForwardLength)
        var stacks = [StackSpec(name: "L", tensorPrefix: "L.blk", layers: c.lLayers, block: block)]
        if c.architecture == .hrm {
            stacks.append(StackSpec(name: "H", tensorPrefix: "H.blk", layers: c.hLayers, block: block))
        }
        return ModelDescription(
            architecture: c.architecture.rawValue, hiddenSize: c.hiddenSize, vocabSize: c.vocabSize, contextLength: c.seqLen,
            stacks: stacks,
            schedule: .recursive(hCycles: c.hCycles, lCycles: c.lCycles, lStack: "L", hStack: c.architecture == .hrm ? "H" : "L"),
            heads: [HeadSpec(kind: .lm, state: "z_H", positions: .from(c.puzzleEmbLen)),
                    HeadSpec(kind: .halting, state: "z_H", positions: .at(0))],
            embeddingScale: Float(Double(c.hiddenSize).squareRoot()), outputNorm: nil, tiedOutput: false)
    }
}
