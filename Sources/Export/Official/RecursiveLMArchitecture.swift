import Foundation
import Runtime

/// Reads a recursive causal LM training run (docs/recursive-lm.md: state_dict with official-style
/// keys + `all_config.yaml` whose `arch.name` starts with `recursive_lm`) into a
/// `RecursiveLMConfig` and the Recur tensor names of every weight.
///
/// Sizes the shapes pin (vocabulary, SwiGLU width, H stack, memory bank) are read off the tensors
/// and checked against the configuration; every checkpoint tensor must be used.
public struct RecursiveLMArchitecture {
    public let config: RecursiveLMConfig
    public let tensors: [OfficialArchitecture.TensorPlan]
    public let notes: [String]

    /// Whether `yaml` describes a recursive LM run.
    public static func matches(_ yaml: TrainingConfig) -> Bool {
        (yaml.arch["name"]?.string ?? "").lowercased().hasPrefix("recursive_lm")
    }

    public init(shapes: [String: [Int]], config yaml: TrainingConfig, checkpointPath file: String, overrides: OfficialArchitecture.Overrides = .init()) throws {
        let arch = yaml.arch
        func fail(_ detail: String) -> ExportError { .badConfig(file: yaml.path, detail: detail) }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            if let v = arch[key]?.int { return v }
            if let value { return value }
            throw fail("arch.\(key) is missing")
        }
        func number(_ key: String, default value: Double) throws -> Double {
            guard let v = arch[key] else { return value }
            if let d = v.double { return d }
            if let s = v.string, let d = Double(s) { return d }
            throw fail("arch.\(key) is not a number")
        }
        func shape(_ key: String) throws -> [Int] {
            guard let s = shapes[key] else { throw ExportError.missingTensor(file: file, name: key) }
            return s
        }
        let hidden = try int("hidden_size")
        let heads = try int("num_heads")
        guard hidden > 0, heads > 0, hidden % heads == 0 else { throw fail("hidden_size \(hidden) is not a positive multiple of num_heads \(heads)") }
        let embed = try shape("embed_tokens.embedding_weight")
        guard embed.count == 2, embed[1] == hidden else {
            throw ExportError.badShape(file: file, name: "embed_tokens.embedding_weight", expected: [-1, hidden], found: embed)
        }
        let vocab = embed[0]
        if let v = arch["vocab_size"]?.int, v != vocab {
            throw ExportError.badShape(file: file, name: "embed_tokens.embedding_weight", expected: [v, hidden], found: embed)
        }
        let ffn = OfficialArchitecture.swigluWidth(expansion: try number("expansion", default: 4), hidden: hidden)
        let hLayers = try int("H_layers", default: 0)
        let slots = try int("memory_slots", default: 0)
        let ruleName = arch["halt_rule"]?.string ?? ((arch["no_ACT_continue"]?.bool ?? true) ? "q_halt>0" : "q_halt>q_continue")
        guard let rule = ModelConfig.HaltRule(rawValue: ruleName) else { throw fail("arch.halt_rule '\(ruleName)' is not q_halt>0 or q_halt>q_continue") }
        let config = RecursiveLMConfig(
            hiddenSize: hidden, headCount: heads, feedForwardLength: ffn, vocabSize: vocab,
            contextLength: try overrides.seqLen ?? int("seq_len"), hCycles: try int("H_cycles"), lCycles: try int("L_cycles"),
            lLayers: try int("L_layers"), hLayers: hLayers, haltMaxSteps: try overrides.haltMaxSteps ?? int("halt_max_steps"),
            haltRule: rule, ropeTheta: Float(try number("rope_theta", default: 10000)),
            normEpsilon: Float(try number("rms_norm_eps", default: 1e-5)),
            memorySlots: slots, memoryHeads: slots > 0 ? try int("memory_heads", default: heads) : 0)
        try config.validate(file: yaml.path)

        var b = OfficialArchitecture.PlanBuilder()
        b.add("token_embd.weight", [vocab, hidden], "embed_tokens.embedding_weight")
        b.addStatesAndHeads(vocab: vocab, hidden: hidden)
        var stacks = [("L", "L_level", config.lLayers)]
        if hLayers > 0 { stacks.append(("H", "H_level", hLayers)) }
        for (stack, module, layers) in stacks {
            for i in 0..<layers {
                let src = "\(module).layers.\(i)", dst = "\(stack).blk.\(i)"
                b.addAttention(dst, src, qkvWidth: 3 * hidden, hidden: hidden)
                b.addSwiGLU(dst, src, ffn: ffn, hidden: hidden)
            }
        }
        if slots > 0 {
            b.add("memory.bank", [slots, hidden], "memory.bank", linear: true)
            for (part, name) in [("q", "attn_q"), ("k", "attn_k"), ("v", "attn_v"), ("o", "attn_output")] {
                b.add("memory.\(name).weight", [hidden, hidden], "memory.\(part)_proj.weight", linear: true)
            }
        }
        // Every source must exist with the shape the configuration implies, and every checkpoint
        // tensor must be used: a stack, head or bank that does not match the config is named.
        try OfficialArchitecture.checkSources(b.plan, shapes: shapes, file: file)
        self.config = config
        tensors = b.plan
        notes = []
    }
}
