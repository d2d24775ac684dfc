/// Hyper-parameters of a recursive reasoning model, read from GGUF metadata (`<arch>.<name>` keys).
///
/// One description serves TRM and HRM: both are an input embedding, one or two block stacks applied
/// on a schedule (`hCycles x (lCycles x L-step, H-step)`), an LM head and a Q-head.
public struct ModelConfig: Sendable, Equatable {
    public enum Architecture: String, Sendable {
        /// Tiny Recursive Model: one stack (`L`) updates both z_L and z_H.
        case trm
        /// Hierarchical Reasoning Model: stack `L` updates z_L, stack `H` updates z_H.
        case hrm
    }

    public enum PositionEncoding: String, Sendable {
        case rope, learned, none
    }

    public enum TokenMixer: String, Sendable {
        /// Non-causal multi-head self-attention.
        case attention
        /// TRM's `mlp_t`: a SwiGLU over the sequence axis (the hidden states transposed).
        case mlpT = "mlp_t"
    }

    /// How the Q-head's two logits turn into a halting decision during inference.
    public enum HaltRule: String, Sendable {
        /// TRM trained with `no_ACT_continue`: halt when q_halt > 0.
        case qHaltPositive = "q_halt>0"
        /// HRM and TRM with ACT continue: halt when q_halt > q_continue.
        case qHaltAboveContinue = "q_halt>q_continue"
    }

    public var architecture: Architecture
    public var hiddenSize: Int
    public var headCount: Int
    public var kvHeadCount: Int
    /// SwiGLU width of the channel MLP.
    public var feedForwardLength: Int
    /// SwiGLU width of the token-mixing MLP (`mlp_t` models only).
    public var tokenMixFeedForwardLength: Int
    public var vocabSize: Int
    /// Number of input tokens (81 for Sudoku), without the puzzle-embedding positions.
    public var seqLen: Int
    /// Positions prepended for the puzzle embedding.
    public var puzzleEmbLen: Int
    public var puzzleEmbDim: Int
    public var puzzleCount: Int
    public var hCycles: Int
    public var lCycles: Int
    public var lLayers: Int
    /// Layers of the H stack (HRM only; 0 for TRM).
    public var hLayers: Int
    public var haltMaxSteps: Int
    public var haltRule: HaltRule
    public var positionEncoding: PositionEncoding
    public var tokenMixer: TokenMixer
    public var ropeTheta: Float
    public var normEpsilon: Float

    public var headDim: Int { hiddenSize / headCount }
    /// Rows of the hidden state per sample: puzzle positions then tokens.
    public var totalSeqLen: Int { seqLen + puzzleEmbLen }
    public var qkvWidth: Int { (headCount + 2 * kvHeadCount) * headDim }

    public init(
        architecture: Architecture, hiddenSize: Int, headCount: Int, kvHeadCount: Int,
        feedForwardLength: Int, tokenMixFeedForwardLength: Int, vocabSize: Int, seqLen: Int,
        puzzleEmbLen: Int, puzzleEmbDim: Int, puzzleCount: Int, hCycles: Int, lCycles: Int,
        lLayers: Int, hLayers: Int, haltMaxSteps: Int, haltRule: HaltRule,
        positionEncoding: PositionEncoding, tokenMixer: TokenMixer, ropeTheta: Float, normEpsilon: Float
    ) {
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.feedForwardLength = feedForwardLength
        self.tokenMixFeedForwardLength = tokenMixFeedForwardLength
        self.vocabSize = vocabSize
        self.seqLen = seqLen
        self.puzzleEmbLen = puzzleEmbLen
        self.puzzleEmbDim = puzzleEmbDim
        self.puzzleCount = puzzleCount
        self.hCycles = hCycles
        self.lCycles = lCycles
        self.lLayers = lLayers
        self.hLayers = hLayers
        self.haltMaxSteps = haltMaxSteps
        self.haltRule = haltRule
        self.positionEncoding = positionEncoding
        self.tokenMixer = tokenMixer
        self.ropeTheta = ropeTheta
        self.normEpsilon = normEpsilon
    }

    /// The GGUF metadata keys and values that describe this configuration, in a stable order.
    public var metadata: [(key: String, value: GGUFValue)] {
        let a = architecture.rawValue
        return [
            ("general.architecture", .string(a)),
            ("\(a).embedding_length", .uint32(UInt32(hiddenSize))),
            ("\(a).attention.head_count", .uint32(UInt32(headCount))),
            ("\(a).attention.head_count_kv", .uint32(UInt32(kvHeadCount))),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(normEpsilon)),
            ("\(a).feed_forward_length", .uint32(UInt32(feedForwardLength))),
            ("\(a).token_mixer", .string(tokenMixer.rawValue)),
            ("\(a).token_mix.feed_forward_length", .uint32(UInt32(tokenMixFeedForwardLength))),
            ("\(a).vocab_size", .uint32(UInt32(vocabSize))),
            ("\(a).context_length", .uint32(UInt32(seqLen))),
            ("\(a).puzzle_emb_len", .uint32(UInt32(puzzleEmbLen))),
            ("\(a).puzzle_emb_ndim", .uint32(UInt32(puzzleEmbDim))),
            ("\(a).puzzle_count", .uint32(UInt32(puzzleCount))),
            ("\(a).h_cycles", .uint32(UInt32(hCycles))),
            ("\(a).l_cycles", .uint32(UInt32(lCycles))),
            ("\(a).l_layers", .uint32(UInt32(lLayers))),
            ("\(a).h_layers", .uint32(UInt32(hLayers))),
            ("\(a).halt_max_steps", .uint32(UInt32(haltMaxSteps))),
            ("\(a).halt_rule", .string(haltRule.rawValue)),
            ("\(a).position_encoding", .string(positionEncoding.rawValue)),
            ("\(a).rope.freq_base", .float32(ropeTheta)),
        ]
    }

    /// Reads the configuration back from a GGUF file written by `recur export`.
    public init(gguf file: GGUFFile) throws {
        func fail(_ what: String) -> ModelError { .badMetadata(file: file.path, detail: what) }
        guard let arch = file.value("general.architecture")?.string else { throw fail("general.architecture is missing") }
        guard let architecture = Architecture(rawValue: arch) else {
            throw fail("general.architecture is '\(arch)'; Recur runs 'trm' and 'hrm'")
        }
        func int(_ name: String) throws -> Int {
            guard let v = file.value("\(arch).\(name)")?.int, v >= 0 else { throw fail("\(arch).\(name) is missing or not a non-negative integer") }
            return v
        }
        func float(_ name: String) throws -> Float {
            guard let v = file.value("\(arch).\(name)")?.double else { throw fail("\(arch).\(name) is missing or not a number") }
            return Float(v)
        }
        func string(_ name: String) throws -> String {
            guard let v = file.value("\(arch).\(name)")?.string else { throw fail("\(arch).\(name) is missing or not a string") }
            return v
        }
        guard let rule = HaltRule(rawValue: try string("halt_rule")) else { throw fail("\(arch).halt_rule is not one of q_halt>0, q_halt>q_continue") }
        guard let pos = PositionEncoding(rawValue: try string("position_encoding")) else { throw fail("\(arch).position_encoding is not one of rope, learned, none") }
        guard let mixer = TokenMixer(rawValue: try string("token_mixer")) else { throw fail("\(arch).token_mixer is not one of attention, mlp_t") }
        self.init(
            architecture: architecture, hiddenSize: try int("embedding_length"),
            headCount: try int("attention.head_count"), kvHeadCount: try int("attention.head_count_kv"),
            feedForwardLength: try int("feed_forward_length"),
            tokenMixFeedForwardLength: try int("token_mix.feed_forward_length"),
            vocabSize: try int("vocab_size"), seqLen: try int("context_length"),
            puzzleEmbLen: try int("puzzle_emb_len"), puzzleEmbDim: try int("puzzle_emb_ndim"),
            puzzleCount: try int("puzzle_count"), hCycles: try int("h_cycles"), lCycles: try int("l_cycles"),
            lLayers: try int("l_layers"), hLayers: try int("h_layers"), haltMaxSteps: try int("halt_max_steps"),
            haltRule: rule, positionEncoding: pos, tokenMixer: mixer,
            ropeTheta: try float("rope.freq_base"), normEpsilon: try float("attention.layer_norm_rms_epsilon"))
        try validate(file: file.path)
    }

    /// Rejects configurations the forward pass cannot run, so bad files fail at load, not mid-solve.
    public func validate(file: String) throws {
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw ModelError.badMetadata(file: file, detail: what) }
        }
        try check(hiddenSize > 0 && vocabSize > 0 && seqLen > 0, "hidden size, vocab size and sequence length must be positive")
        try check(headCount > 0 && hiddenSize % headCount == 0, "embedding_length \(hiddenSize) is not a multiple of head_count \(headCount)")
        try check(kvHeadCount > 0 && headCount % kvHeadCount == 0, "head_count \(headCount) is not a multiple of head_count_kv \(kvHeadCount)")
        try check(headDim % 2 == 0 || positionEncoding != .rope, "RoPE needs an even head dimension, got \(headDim)")
        try check(hCycles > 0 && lCycles > 0 && lLayers > 0, "h_cycles, l_cycles and l_layers must be positive")
        try check(architecture == .trm || hLayers > 0, "an HRM needs h_layers > 0")
        try check(haltMaxSteps > 0, "halt_max_steps must be positive")
        try check(puzzleEmbDim <= puzzleEmbLen * hiddenSize, "puzzle_emb_ndim \(puzzleEmbDim) does not fit in \(puzzleEmbLen) positions of \(hiddenSize)")
        try check(totalSeqLen <= 1 << 16 && hiddenSize <= 1 << 16, "sizes are implausibly large")
        // The official models run 3 x 6 cycles for 16 steps; a corrupt count would keep one ACT
        // step (or the halting loop) running for hours instead of failing here.
        try check(hCycles <= 1024 && lCycles <= 1024 && haltMaxSteps <= 1 << 16,
                  "h_cycles \(hCycles), l_cycles \(lCycles) or halt_max_steps \(haltMaxSteps) is implausibly large")
        try check(normEpsilon >= 0 && normEpsilon.isFinite, "rms epsilon must be a finite non-negative number")
    }
}
