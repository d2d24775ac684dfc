/// What a model is, as data: embeddings, block stacks, a recursion schedule over named states, and
/// heads. Every family Recur runs (TRM, HRM, Llama-style decoders) is a value of this type, built
/// from its GGUF file by the family's small file in `Families/` and found through `ModelFamilies`.
/// The drivers (the ACT runner for puzzles, the generator for text) run a description; they do
/// not know which family it came from.
public struct ModelDescription: Sendable, Equatable {
    /// `general.architecture`: "trm", "hrm", "llama", "qwen2", ...
    public var architecture: String
    public var hiddenSize: Int
    public var vocabSize: Int
    /// Longest sequence the model was built for (Sudoku: 81 cells; language models: the file's
    /// `context_length`).
    public var contextLength: Int
    public var stacks: [StackSpec]
    public var schedule: Schedule
    public var heads: [HeadSpec]
    /// Token embedding scale: TRM multiplies by sqrt(hidden), Llama by 1.
    public var embeddingScale: Float
    /// The norm applied to the final state before the LM head (pre-norm decoders), if any.
    public var outputNorm: NormSpec?
    /// Whether the LM head reuses the token embedding (tied weights).
    public var tiedOutput: Bool
    /// Per-token adaptive computation of a recursive language model: the schedule is one ACT
    /// step, repeated per token until its Q-head halts it. Nil for models that run the schedule
    /// once per token (flat decoders) or whose runner halts per sample (TRM/HRM puzzles).
    public var halting: HaltingSpec?
    /// The fixed memory bank that passes marked `readsMemory` read, if any.
    public var memory: MemoryBankSpec?
    /// What the first state is made of: token embeddings (every family but NSSR) or a linear
    /// projection of per-position features (`input_proj`, NSSR's example rows).
    public var input: InputSpec
    /// States that start from a learned vector `<state>_init` broadcast to every position (NSSR's
    /// y and z) rather than from zeros or a runner's own rule.
    public var learnedInitialStates: [String]

    public init(architecture: String, hiddenSize: Int, vocabSize: Int, contextLength: Int, stacks: [StackSpec],
                schedule: Schedule, heads: [HeadSpec], embeddingScale: Float, outputNorm: NormSpec?, tiedOutput: Bool,
                halting: HaltingSpec? = nil, memory: MemoryBankSpec? = nil, input: InputSpec = .tokens, learnedInitialStates: [String] = []) {
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.stacks = stacks
        self.schedule = schedule
        self.heads = heads
        self.embeddingScale = embeddingScale
        self.outputNorm = outputNorm
        self.tiedOutput = tiedOutput
        self.halting = halting
        self.memory = memory
        self.input = input
        self.learnedInitialStates = learnedInitialStates
    }

    public func stack(named name: String) -> StackSpec? { stacks.first { $0.name == name } }

    /// Whether the token mixers are causal (a language model driven by the generator) rather than
    /// bidirectional over a fixed-length input (a puzzle model driven by the ACT runner).
    public var isCausal: Bool {
        stacks.contains { if case let .attention(a) = $0.block.mixer { return a.causal } else { return false } }
    }
}

/// The model's input.
public enum InputSpec: Sendable, Equatable {
    /// Token ids looked up in `token_embd`.
    case tokens
    /// `width` floats per position, projected by `input_proj` (weight and bias) to the hidden size.
    case features(width: Int)
}

/// Normalization: RMS (TRM/HRM without weight, Llama with one) or LayerNorm with weight and bias.
public struct NormSpec: Sendable, Equatable {
    public enum Kind: String, Sendable { case rms, layer }
    public var kind: Kind
    public var weighted: Bool
    public var bias: Bool
    public var epsilon: Float

    public init(kind: Kind, weighted: Bool, bias: Bool = false, epsilon: Float) {
        self.kind = kind
        self.weighted = weighted
        self.bias = bias
        self.epsilon = epsilon
    }
}

/// Where a block normalizes: after each residual add (TRM/HRM, the original Transformer) or before
/// each sub-layer (Llama, NSSR).
public enum NormPlacement: String, Sendable { case pre, post }

/// How positions enter attention.
public enum PositionSpec: Sendable, Equatable {
    case none
    /// A learned table added to the input embedding.
    case learned
    /// Rotary embedding of the first `dimensions` of each head with frequency base `base`.
    case rope(base: Float, dimensions: Int, layout: RopeLayout)
}

public enum RopeLayout: String, Sendable {
    /// Element i pairs with i + dims/2 (`rotate_half`: TRM, NeoX, Qwen2).
    case halves
    /// Element 2i pairs with 2i + 1 (llama.cpp's `llama` files, whose Q/K rows are permuted so).
    case pairs
}

public struct AttentionSpec: Sendable, Equatable {
    public enum Projection: String, Sendable {
        /// One `attn_qkv` matrix.
        case fused
        /// `attn_q`, `attn_k`, `attn_v` (joined into one matrix at load).
        case split
    }

    public var causal: Bool
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var projection: Projection
    /// Q, K and V biases (Qwen2; with `outputBias`, every projection of an encoder such as UZR's).
    public var biases: Bool
    public var outputBias: Bool
    public var positions: PositionSpec
    /// A prefix-LM mask over a fixed layout: the first `prefixLength` positions see each other
    /// (and nothing after); every later position sees the prefix and the positions up to its own
    /// (the rule-latent model's input and teacher-forced output). Nil: no such mask.
    public var prefixLength: Int?

    public init(causal: Bool, heads: Int, kvHeads: Int, headDim: Int, projection: Projection, biases: Bool, positions: PositionSpec,
                outputBias: Bool = false, prefixLength: Int? = nil) {
        self.causal = causal
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.projection = projection
        self.biases = biases
        self.outputBias = outputBias
        self.positions = positions
        self.prefixLength = prefixLength
    }

    /// Width of the joined projection: queries, then keys, then values.
    public var qkvWidth: Int { (heads + 2 * kvHeads) * headDim }
}

public enum TokenMixer: Sendable, Equatable {
    case attention(AttentionSpec)
    /// TRM's `mlp_t`: a SwiGLU over the sequence axis of width `width`.
    case mlpT(width: Int)
}

public enum ChannelMLP: String, Sendable {
    /// down(silu(gate(x)) * up(x))
    case swiglu
    case gelu
    case relu
}

/// A block's modulation by a latent vector the caller supplies.
public enum Modulation: Sendable, Equatable {
    /// FiLM after the block: `h = h * (1 + gamma(z)) + beta(z)`, gamma and beta linear (with
    /// bias) in a latent z of `latent` floats (`film_gamma`, `film_beta` tensors).
    case film(latent: Int)
}

/// One block's parts, shared by every block of a stack.
public struct BlockSpec: Sendable, Equatable {
    public var norm: NormSpec
    public var placement: NormPlacement
    public var mixer: TokenMixer
    public var mlp: ChannelMLP
    public var mlpWidth: Int
    /// Biases on the MLP's linears (encoders such as UZR's; the SwiGLU families have none).
    public var mlpBiases: Bool
    public var modulation: Modulation?

    public init(norm: NormSpec, placement: NormPlacement, mixer: TokenMixer, mlp: ChannelMLP, mlpWidth: Int,
                mlpBiases: Bool = false, modulation: Modulation? = nil) {
        self.norm = norm
        self.placement = placement
        self.mixer = mixer
        self.mlp = mlp
        self.mlpWidth = mlpWidth
        self.mlpBiases = mlpBiases
        self.modulation = modulation
    }
}

/// A stack of `layers` blocks whose tensors are `<tensorPrefix>.N.*` (`L.blk.0.ffn_up.weight`,
/// `blk.3.attn_q.weight`).
public struct StackSpec: Sendable, Equatable {
    public var name: String
    public var tensorPrefix: String
    public var layers: Int
    public var block: BlockSpec

    public init(name: String, tensorPrefix: String, layers: Int, block: BlockSpec) {
        self.name = name
        self.tensorPrefix = tensorPrefix
        self.layers = layers
        self.block = block
    }
}

/// A head reads a named state: the LM head every position of z_H (after the puzzle prefix), the
/// TRM Q-head position 0 of z_H.
public struct HeadSpec: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case lm, halting
        /// A linear classifier (weight and bias) named by `tensor`: NSSR's function, composition
        /// and halt heads.
        case classifier
    }
    public enum Positions: Sendable, Equatable {
        /// Every position from `offset` on.
        case from(Int)
        /// One position.
        case at(Int)
        /// The mean over every position.
        case mean
    }

    public var kind: Kind
    public var state: String
    public var positions: Positions
    /// A classifier's tensor prefix (`head_primary`) and number of logits.
    public var tensor: String?
    public var width: Int?

    public init(kind: Kind, state: String, positions: Positions, tensor: String? = nil, width: Int? = nil) {
        self.kind = kind
        self.state = state
        self.positions = positions
        self.tensor = tensor
        self.width = width
    }
}

/// How a recursive language model halts each token: at most `maxSteps` ACT steps, and the rule
/// its Q-head was trained for.
public struct HaltingSpec: Sendable, Equatable {
    public var maxSteps: Int
    public var rule: ModelConfig.HaltRule

    public init(maxSteps: Int, rule: ModelConfig.HaltRule) {
        self.maxSteps = maxSteps
        self.rule = rule
    }
}

/// An associative memory of `slots` rows of the hidden size, read by multi-head attention
/// (`heads` heads) from a state and added to it (`memory.*` tensors).
public struct MemoryBankSpec: Sendable, Equatable {
    public var slots: Int
    public var heads: Int

    public init(slots: Int, heads: Int) {
        self.slots = slots
        self.heads = heads
    }
}
