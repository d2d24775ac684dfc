import Foundation
import Runtime

/// Reads an official TinyRecursiveModels / HRM training run (state_dict + `all_config.yaml`) into a
/// `ModelConfig` and the Recur tensor names of every weight.
///
/// Sizes the YAML lacks (`vocab_size`, `seq_len`, `num_puzzle_identifiers`) come from tensor shapes,
/// or from explicit overrides where no tensor pins them (the sequence length of a RoPE attention model).
public struct OfficialArchitecture {
    public struct Overrides: Sendable {
        /// Tokens per input, for models whose tensors do not pin it (RoPE or no-position attention).
        public var seqLen: Int?
        /// ACT step cap stored in the file, instead of the training run's `halt_max_steps`.
        public var haltMaxSteps: Int?
        public init(seqLen: Int? = nil, haltMaxSteps: Int? = nil) {
            self.seqLen = seqLen
            self.haltMaxSteps = haltMaxSteps
        }
    }

    /// A Recur tensor and where its values come from in the checkpoint.
    public struct TensorPlan {
        public var name: String
        public var shape: [Int]
        public var source: String
        /// Row range of the source tensor (for the halves of a fused `gate_up_proj`).
        public var rows: Range<Int>?
        /// Matrices of the linear layers: the tensors a quantized export quantizes.
        public var isLinearWeight: Bool
    }

    /// A tensor plan in the making: GGUF names in llama.cpp's style, shapes and checkpoint keys.
    struct PlanBuilder {
        private(set) var plan: [TensorPlan] = []

        mutating func add(_ name: String, _ shape: [Int], _ source: String, rows: Range<Int>? = nil, linear: Bool = false) {
            plan.append(TensorPlan(name: name, shape: shape, source: source, rows: rows, isLinearWeight: linear))
        }

        /// Every planned source tensor is in `shapes` with its planned shape, and `shapes` holds
        /// nothing the plan does not use (`what` names the model in that error).
        func check(against shapes: [String: [Int]], checkpoint file: String, config: String, what: String) throws {
            for t in plan {
                guard let have = shapes[t.source] else { throw ExportError.missingTensor(file: file, name: t.source) }
                guard have == t.shape else { throw ExportError.badShape(file: file, name: t.source, expected: t.shape, found: have) }
            }
            let planned = Set(plan.map(\.source))
            if let extra = shapes.keys.sorted().first(where: { !planned.contains($0) }) {
                throw ExportError.badConfig(file: config, detail: "the checkpoint tensor '\(extra)' is not part of \(what)")
            }
        }

        /// What every TRM-style model has after its embeddings: initial states, LM head, Q-head.
        mutating func addStatesAndHeads(vocab: Int, hidden: Int) {
            add("h_init", [hidden], "H_init")
            add("l_init", [hidden], "L_init")
            add("output.weight", [vocab, hidden], "lm_head.weight", linear: true)
            add("qhead.weight", [2, hidden], "q_head.weight")
            add("qhead.bias", [2], "q_head.bias")
        }

        /// Block `src` (`<module>.layers.N`) as `dst` (`<stack>.blk.N`): fused QKV and output.
        mutating func addAttention(_ dst: String, _ src: String, qkvWidth: Int, hidden: Int) {
            add("\(dst).attn_qkv.weight", [qkvWidth, hidden], "\(src).self_attn.qkv_proj.weight", linear: true)
            add("\(dst).attn_output.weight", [hidden, hidden], "\(src).self_attn.o_proj.weight", linear: true)
        }

        /// The SwiGLU channel MLP, its fused gate_up_proj split into ffn_gate and ffn_up halves.
        mutating func addSwiGLU(_ dst: String, _ src: String, ffn: Int, hidden: Int) {
            add("\(dst).ffn_gate.weight", [ffn, hidden], "\(src).mlp.gate_up_proj.weight", rows: 0..<ffn, linear: true)
            add("\(dst).ffn_up.weight", [ffn, hidden], "\(src).mlp.gate_up_proj.weight", rows: ffn..<2 * ffn, linear: true)
            add("\(dst).ffn_down.weight", [hidden, ffn], "\(src).mlp.down_proj.weight", linear: true)
        }
    }

    public let config: ModelConfig
    public let tensors: [TensorPlan]
    /// Notes for the user about values that were inferred rather than read.
    public let notes: [String]

    /// Key prefixes official training writes: `torch.compile` adds `_orig_mod.`, `ACTLossHead` adds `model.`.
    static let prefixes = ["_orig_mod.model.inner.", "model.inner.", "_orig_mod.inner.", "inner.", ""]

    /// Strips the training wrapper prefix shared by every key.
    public static func stripPrefix(_ keys: [String]) -> (prefix: String, keys: [String]) {
        for prefix in prefixes where keys.allSatisfy({ $0.hasPrefix(prefix) }) {
            return (prefix, keys.map { String($0.dropFirst(prefix.count)) })
        }
        return ("", keys)
    }

    public init(shapes: [String: [Int]], config yaml: TrainingConfig, checkpointPath: String, overrides: Overrides = .init()) throws {
        let file = checkpointPath
        let arch = yaml.arch
        var notes: [String] = []
        func fail(_ detail: String) -> ExportError { .badConfig(file: yaml.path, detail: detail) }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            if let v = arch[key]?.int { return v }
            if let value { return value }
            throw fail("arch.\(key) is missing")
        }
        func shape(_ key: String) throws -> [Int] {
            guard let s = shapes[key] else { throw ExportError.missingTensor(file: file, name: key) }
            return s
        }
        /// A float field; YAML 1.1 reads `1e-5` as a string, which the official config parser accepts.
        func number(_ key: String, default value: Double) throws -> Double {
            guard let v = arch[key] else { return value }
            if let d = v.double { return d }
            if let s = v.string, let d = Double(s) { return d }
            throw fail("arch.\(key) is not a number")
        }
        let name = arch["name"]?.string ?? ""
        let isHRM = name.lowercased().contains("hrm") || shapes.keys.contains { $0.hasPrefix("H_level.") }
        let hidden = try int("hidden_size")
        let heads = try int("num_heads")
        guard hidden > 0, heads > 0, hidden % heads == 0 else { throw fail("hidden_size \(hidden) is not a positive multiple of num_heads \(heads)") }
        let expansion = try number("expansion", default: 4)
        let mlpT = !isHRM && (arch["mlp_t"]?.bool ?? false)
        let posName = arch["pos_encodings"]?.string ?? "rope"
        guard let pos = ModelConfig.PositionEncoding(rawValue: posName) else { throw fail("arch.pos_encodings '\(posName)' is not rope, learned or none") }
        let puzzleDim = try int("puzzle_emb_ndim", default: 0)
        let ceilDiv = (puzzleDim + hidden - 1) / hidden
        let puzzleLen = isHRM ? ceilDiv : { let v = arch["puzzle_emb_len"]?.int ?? 0; return v == 0 ? ceilDiv : v }()

        let embed = try shape("embed_tokens.embedding_weight")
        guard embed.count == 2, embed[1] == hidden else {
            throw ExportError.badShape(file: file, name: "embed_tokens.embedding_weight", expected: [-1, hidden], found: embed)
        }
        let vocab = embed[0]
        var puzzleCount = 0
        if puzzleDim > 0 {
            let p = try shape("puzzle_emb.weights")
            guard p.count == 2, p[1] == puzzleDim else {
                throw ExportError.badShape(file: file, name: "puzzle_emb.weights", expected: [-1, puzzleDim], found: p)
            }
            puzzleCount = p[0]
        }
        // The sequence length is pinned by learned positions or the token-mixing MLP; RoPE and
        // no-position attention models work at any length, so then it must be given.
        var seqLen: Int
        if pos == .learned {
            seqLen = try shape("embed_pos.embedding_weight")[0] - puzzleLen
        } else if mlpT {
            seqLen = try shape("L_level.layers.0.mlp_t.down_proj.weight")[0] - puzzleLen
        } else if let s = overrides.seqLen {
            seqLen = s
        } else if vocab == 11 {
            seqLen = 81
            notes.append("seq_len is not stored in a \(posName) attention checkpoint; vocabulary 11 is the Sudoku layout, so 81 cells are assumed (override with --seq-len)")
        } else {
            throw ExportError.needsOverride("\(file): the sequence length is not stored in a \(posName) attention checkpoint: pass --seq-len N")
        }
        if let s = overrides.seqLen, s != seqLen {
            throw ExportError.needsOverride("\(file): --seq-len \(s) contradicts the tensor shapes, which say \(seqLen)")
        }
        guard seqLen > 0 else { throw fail("inferred sequence length \(seqLen) is not positive") }

        let ffn = try shape("L_level.layers.0.mlp.gate_up_proj.weight")[0] / 2
        let expectedFFN = OfficialArchitecture.swigluWidth(expansion: expansion, hidden: hidden)
        guard ffn == expectedFFN else {
            throw ExportError.badShape(file: file, name: "L_level.layers.0.mlp.gate_up_proj.weight", expected: [2 * expectedFFN, hidden], found: try shape("L_level.layers.0.mlp.gate_up_proj.weight"))
        }
        let tokenFFN = mlpT ? OfficialArchitecture.swigluWidth(expansion: expansion, hidden: seqLen + puzzleLen) : 0
        let noACTContinue = arch["no_ACT_continue"]?.bool ?? true
        let config = ModelConfig(
            architecture: isHRM ? .hrm : .trm, hiddenSize: hidden, headCount: heads, kvHeadCount: heads,
            feedForwardLength: ffn, tokenMixFeedForwardLength: tokenFFN, vocabSize: vocab, seqLen: seqLen,
            puzzleEmbLen: puzzleLen, puzzleEmbDim: puzzleDim, puzzleCount: puzzleCount,
            hCycles: try int("H_cycles"), lCycles: try int("L_cycles"), lLayers: try int("L_layers"),
            hLayers: isHRM ? try int("H_layers") : 0,
            haltMaxSteps: try overrides.haltMaxSteps ?? int("halt_max_steps"),
            haltRule: isHRM || !noACTContinue ? .qHaltAboveContinue : .qHaltPositive,
            positionEncoding: mlpT ? (pos == .learned ? .learned : .none) : pos,
            tokenMixer: mlpT ? .mlpT : .attention,
            ropeTheta: Float(try number("rope_theta", default: 10000)), normEpsilon: Float(try number("rms_norm_eps", default: 1e-5)))
        try config.validate(file: yaml.path)
        if mlpT && pos == .rope { notes.append("mlp_t blocks have no attention, so RoPE is unused") }

        var b = PlanBuilder()
        b.add("token_embd.weight", [vocab, hidden], "embed_tokens.embedding_weight")
        if puzzleDim > 0 { b.add("puzzle_embd.weight", [puzzleCount, puzzleDim], "puzzle_emb.weights") }
        if config.positionEncoding == .learned { b.add("position_embd.weight", [config.totalSeqLen, hidden], "embed_pos.embedding_weight") }
        b.addStatesAndHeads(vocab: vocab, hidden: hidden)
        var stacks = [("L", "L_level", config.lLayers)]
        if isHRM { stacks.append(("H", "H_level", config.hLayers)) }
        for (stack, module, layers) in stacks {
            for i in 0..<layers {
                let src = "\(module).layers.\(i)", dst = "\(stack).blk.\(i)"
                if mlpT {
                    let t = config.totalSeqLen
                    b.add("\(dst).tmix_gate.weight", [tokenFFN, t], "\(src).mlp_t.gate_up_proj.weight", rows: 0..<tokenFFN, linear: true)
                    b.add("\(dst).tmix_up.weight", [tokenFFN, t], "\(src).mlp_t.gate_up_proj.weight", rows: tokenFFN..<2 * tokenFFN, linear: true)
                    b.add("\(dst).tmix_down.weight", [t, tokenFFN], "\(src).mlp_t.down_proj.weight", linear: true)
                } else {
                    b.addAttention(dst, src, qkvWidth: config.qkvWidth, hidden: hidden)
                }
                b.addSwiGLU(dst, src, ffn: ffn, hidden: hidden)
            }
        }
        try Self.checkSources(b.plan, shapes: shapes, file: file)
        self.config = config
        self.tensors = b.plan
        self.notes = notes
    }

    /// Every source must exist with the full shape the plan implies (a source split in row halves
    /// has twice the rows), and every checkpoint tensor must be used: a key we do not map means an
    /// architecture we do not understand.
    static func checkSources(_ plan: [TensorPlan], shapes: [String: [Int]], file: String) throws {
        var expectedSource: [String: [Int]] = [:]
        for t in plan {
            var s = t.shape
            if let rows = t.rows { s[0] = 2 * rows.count }
            expectedSource[t.source] = s
        }
        for (source, expected) in expectedSource.sorted(by: { $0.key < $1.key }) {
            guard let found = shapes[source] else { throw ExportError.missingTensor(file: file, name: source) }
            guard found == expected else { throw ExportError.badShape(file: file, name: source, expected: expected, found: found) }
        }
        let unused = shapes.keys.filter { expectedSource[$0] == nil }.sorted()
        if !unused.isEmpty { throw ExportError.unexpectedTensors(file: file, names: unused) }
    }

    /// The official SwiGLU width: `round(expansion * hidden * 2 / 3)` (Python's round-half-even)
    /// rounded up to a multiple of 256.
    public static func swigluWidth(expansion: Double, hidden: Int) -> Int {
        let raw = (expansion * Double(hidden) * 2 / 3).rounded(.toNearestOrEven)
        return (Int(raw) + 255) / 256 * 256
    }
}
