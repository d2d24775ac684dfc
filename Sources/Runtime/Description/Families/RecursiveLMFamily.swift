/// Hyper-parameters of a recursive causal language model (`general.architecture = "rlm"`, see
/// docs/recursive-lm.md): TRM's or HRM's schedule over causal post-norm blocks, a per-token Q-head
/// and an optional memory bank. Read from and written as `rlm.*` GGUF keys.
public struct RecursiveLMConfig: Sendable, Equatable {
    public static let architecture = "rlm"

    public var hiddenSize: Int
    public var headCount: Int
    public var feedForwardLength: Int
    public var vocabSize: Int
    public var contextLength: Int
    public var hCycles: Int
    public var lCycles: Int
    public var lLayers: Int
    /// Layers of a separate H stack (HRM); 0 when the L stack updates z_H too (TRM).
    public var hLayers: Int
    public var haltMaxSteps: Int
    public var haltRule: ModelConfig.HaltRule
    public var ropeTheta: Float
    public var normEpsilon: Float
    /// Rows of the memory bank; 0 for none.
    public var memorySlots: Int
    public var memoryHeads: Int

    public init(hiddenSize: Int, headCount: Int, feedForwardLength: Int, vocabSize: Int, contextLength: Int,
                hCycles: Int, lCycles: Int, lLayers: Int, hLayers: Int, haltMaxSteps: Int, haltRule: ModelConfig.HaltRule,
                ropeTheta: Float, normEpsilon: Float, memorySlots: Int, memoryHeads: Int) {
        self.hiddenSize = hiddenSize
        self.headCount = headCount
        self.feedForwardLength = feedForwardLength
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.hCycles = hCycles
        self.lCycles = lCycles
        self.lLayers = lLayers
        self.hLayers = hLayers
        self.haltMaxSteps = haltMaxSteps
        self.haltRule = haltRule
        self.ropeTheta = ropeTheta
        self.normEpsilon = normEpsilon
        self.memorySlots = memorySlots
        self.memoryHeads = memoryHeads
    }

    public var headDim: Int { hiddenSize / headCount }

    /// The GGUF metadata of this configuration, in a stable order.
    public var metadata: [(key: String, value: GGUFValue)] {
        let a = Self.architecture
        func u(_ v: Int) -> GGUFValue { .uint32(UInt32(v)) }
        return [
            ("general.architecture", .string(a)),
            ("\(a).embedding_length", u(hiddenSize)),
            ("\(a).attention.head_count", u(headCount)),
            ("\(a).attention.head_count_kv", u(headCount)),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(normEpsilon)),
            ("\(a).feed_forward_length", u(feedForwardLength)),
            ("\(a).vocab_size", u(vocabSize)),
            ("\(a).context_length", u(contextLength)),
            ("\(a).h_cycles", u(hCycles)),
            ("\(a).l_cycles", u(lCycles)),
            ("\(a).l_layers", u(lLayers)),
            ("\(a).h_layers", u(hLayers)),
            ("\(a).halt_max_steps", u(haltMaxSteps)),
            ("\(a).halt_rule", .string(haltRule.rawValue)),
            ("\(a).rope.freq_base", .float32(ropeTheta)),
            ("\(a).memory.slots", u(memorySlots)),
            ("\(a).memory.head_count", u(memoryHeads)),
        ]
    }

    public init(gguf file: GGUFFile) throws {
        func fail(_ what: String) -> ModelError { .badMetadata(file: file.path, detail: what) }
        let a = Self.architecture
        guard file.value("general.architecture")?.string == a else { throw fail("general.architecture is not '\(a)'") }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            guard let v = file.value("\(a).\(key)")?.int ?? value, v >= 0 else { throw fail("\(a).\(key) is missing or not a non-negative integer") }
            return v
        }
        func float(_ key: String) throws -> Float {
            guard let v = file.value("\(a).\(key)")?.double else { throw fail("\(a).\(key) is missing or not a number") }
            return Float(v)
        }
        guard let ruleName = file.value("\(a).halt_rule")?.string, let rule = ModelConfig.HaltRule(rawValue: ruleName) else {
            throw fail("\(a).halt_rule is missing or not one of q_halt>0, q_halt>q_continue")
        }
        let heads = try int("attention.head_count")
        guard try int("attention.head_count_kv", default: heads) == heads else { throw fail("\(a).attention.head_count_kv must equal head_count (no grouped-query attention)") }
        self.init(
            hiddenSize: try int("embedding_length"), headCount: heads, feedForwardLength: try int("feed_forward_length"),
            vocabSize: try int("vocab_size"), contextLength: try int("context_length"), hCycles: try int("h_cycles"),
            lCycles: try int("l_cycles"), lLayers: try int("l_layers"), hLayers: try int("h_layers"),
            haltMaxSteps: try int("halt_max_steps"), haltRule: rule, ropeTheta: try float("rope.freq_base"),
            normEpsilon: try float("attention.layer_norm_rms_epsilon"),
            memorySlots: try int("memory.slots", default: 0), memoryHeads: try int("memory.head_count", default: 0))
        try validate(file: file.path)
    }

    /// Rejects configurations the forward pass cannot run, so bad files fail at load.
    public func validate(file: String) throws {
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw ModelError.badMetadata(file: file, detail: what) }
        }
        try check(hiddenSize > 0 && vocabSize > 0 && contextLength > 0 && feedForwardLength > 0,
                  "hidden size, feed-forward length, vocabulary and context length must be positive")
        try check(headCount > 0 && hiddenSize % headCount == 0, "embedding_length \(hiddenSize) is not a multiple of head_count \(headCount)")
        try check(headDim % 2 == 0, "RoPE needs an even head dimension, got \(headDim)")
        try check(hCycles > 0 && lCycles > 0 && lLayers > 0, "h_cycles, l_cycles and l_layers must be positive")
        try check(haltMaxSteps > 0, "halt_max_steps must be positive")
        try check(memorySlots == 0 || (memoryHeads > 0 && hiddenSize % memoryHeads == 0),
                  "memory.head_count \(memoryHeads) must be positive and divide embedding_length \(hiddenSize)")
        try check(hiddenSize <= 1 << 16 && contextLength <= 1 << 24 && memorySlots <= 1 << 24 && lLayers <= 1024 && hLayers <= 1024,
                  "sizes are implausibly large")
        // A corrupt count would keep one token thinking for hours instead of failing here.
        try check(hCycles <= 1024 && lCycles <= 1024 && haltMaxSteps <= 1024,
                  "h_cycles \(hCycles), l_cycles \(lCycles) or halt_max_steps \(haltMaxSteps) is implausibly large")
        try check(normEpsilon >= 0 && normEpsilon.isFinite, "rms epsilon must be a finite non-negative number")
        try check(ropeTheta > 0 && ropeTheta.isFinite, "rope.freq_base must be a positive number")
    }
}

/// The recursive causal LM family (`rlm`): stacks `L.blk.N` (and `H.blk.N` for the HRM form) of
/// post-norm causal attention blocks with weightless RMS norms, the recursive schedule of one ACT
/// step (z_H reading the memory bank after each H-update when the file has one), and LM and
/// halting heads on every position's z_H.
public enum RecursiveLMFamily: ModelFamily {
    public static let architectures = [RecursiveLMConfig.architecture]

    public static func describe(_ file: GGUFFile) throws -> ModelDescription {
        describe(try RecursiveLMConfig(gguf: file))
    }

    public static func describe(_ c: RecursiveLMConfig) -> ModelDescription {
        let attention = AttentionSpec(causal: true, heads: c.headCount, kvHeads: c.headCount, headDim: c.headDim,
                                      projection: .fused, biases: false,
                                      positions: .rope(base: c.ropeTheta, dimensions: c.headDim, layout: .halves))
        let block = BlockSpec(norm: NormSpec(kind: .rms, weighted: false, epsilon: c.normEpsilon), placement: .post,
                              mixer: .attention(attention), mlp: .swiglu, mlpWidth: c.feedForwardLength)
        var stacks = [StackSpec(name: "L", tensorPrefix: "L.blk", layers: c.lLayers, block: block)]
        if c.hLayers > 0 { stacks.append(StackSpec(name: "H", tensorPrefix: "H.blk", layers: c.hLayers, block: block)) }
        return ModelDescription(
            architecture: RecursiveLMConfig.architecture, hiddenSize: c.hiddenSize, vocabSize: c.vocabSize,
            contextLength: c.contextLength, stacks: stacks,
            schedule: .recursive(hCycles: c.hCycles, lCycles: c.lCycles, lStack: "L", hStack: c.hLayers > 0 ? "H" : "L", memory: c.memorySlots > 0),
            heads: [HeadSpec(kind: .lm, state: "z_H", positions: .from(0)), HeadSpec(kind: .halting, state: "z_H", positions: .from(0))],
            embeddingScale: Float(Double(c.hiddenSize).squareRoot()), outputNorm: nil, tiedOutput: false,
            halting: HaltingSpec(maxSteps: c.haltMaxSteps, rule: c.haltRule),
            memory: c.memorySlots > 0 ? MemoryBankSpec(slots: c.memorySlots, heads: c.memoryHeads) : nil)
    }
}
