import Foundation
import Runtime

/// Reads a rule-latent (UZR) training run (docs/rule-latent.md: a state_dict whose keys are the
/// GGUF tensor names, beside an `all_config.yaml` with `arch.name: uzr` and an optional `fit:`
/// section) into `uzr.*` metadata and the plan of every tensor, checking each shape.
public struct RuleLatentArchitecture {
    public static let architecture = "uzr"
    public let hiddenSize: Int
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [OfficialArchitecture.TensorPlan]

    public static func matches(_ yaml: TrainingConfig) -> Bool {
        (yaml.arch["name"]?.string ?? "").lowercased() == architecture
    }

    public init(shapes: [String: [Int]], config yaml: TrainingConfig, checkpointPath file: String) throws {
        let arch = yaml.arch
        func fail(_ detail: String) -> ExportError { .badConfig(file: yaml.path, detail: detail) }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            if let v = arch[key]?.int, v > 0 { return v }
            if arch[key] == nil, let value { return value }
            throw fail("arch.\(key) is missing or not a positive integer")
        }
        let d = try int("d"), heads = try int("heads"), layers = try int("layers"), k = try int("k")
        let ffn = try int("ffn", default: 4 * d), maxIn = try int("max_in"), maxOut = try int("max_out")
        let vocab = try int("vocab", default: 260)
        guard d % heads == 0 else { throw fail("arch.d \(d) is not a multiple of arch.heads \(heads)") }
        guard vocab == 260 else { throw fail("arch.vocab \(vocab): the byte vocabulary has 260 tokens") }
        let activation = arch["activation"]?.string ?? "gelu"
        guard ["gelu", "relu"].contains(activation) else { throw fail("arch.activation '\(activation)' is not gelu or relu") }
        let eps = arch["eps"]?.double ?? 1e-5
        let length = 2 + maxIn + maxOut

        var b = OfficialArchitecture.PlanBuilder()
        b.add("token_embd.weight", [vocab, d], "token_embd.weight")
        b.add("position_embd.weight", [length, d], "position_embd.weight")
        for n in 0..<layers {
            let p = "blk.\(n)"
            func norm(_ name: String) {
                b.add("\(p).\(name).weight", [d], "\(p).\(name).weight")
                b.add("\(p).\(name).bias", [d], "\(p).\(name).bias")
            }
            func linear(_ name: String, _ out: Int, _ inputs: Int) {
                b.add("\(p).\(name).weight", [out, inputs], "\(p).\(name).weight", linear: true)
                b.add("\(p).\(name).bias", [out], "\(p).\(name).bias")
            }
            norm("attn_norm")
            for proj in ["attn_q", "attn_k", "attn_v", "attn_output"] { linear(proj, d, d) }
            norm("ffn_norm")
            linear("ffn_up", ffn, d)
            linear("ffn_down", d, ffn)
            linear("film_gamma", d, k)
            linear("film_beta", d, k)
        }
        b.add("output_norm.weight", [d], "output_norm.weight")
        b.add("output_norm.bias", [d], "output_norm.bias")
        b.add("output.weight", [vocab, d], "output.weight", linear: true)
        b.add("output.bias", [vocab], "output.bias")
        try b.check(against: shapes, checkpoint: file, config: yaml.path, what: "a uzr model with these settings")

        var meta: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string(Self.architecture)),
            ("uzr.embedding_length", .uint32(UInt32(d))),
            ("uzr.block_count", .uint32(UInt32(layers))),
            ("uzr.attention.head_count", .uint32(UInt32(heads))),
            ("uzr.latent_length", .uint32(UInt32(k))),
            ("uzr.feed_forward_length", .uint32(UInt32(ffn))),
            ("uzr.context_length", .uint32(UInt32(length))),
            ("uzr.max_input", .uint32(UInt32(maxIn))),
            ("uzr.max_output", .uint32(UInt32(maxOut))),
            ("uzr.activation", .string(activation)),
            ("uzr.attention.layer_norm_epsilon", .float32(Float(eps))),
            ("uzr.vocab_size", .uint32(UInt32(vocab))),
        ]
        let fit = yaml.root["fit"]?.map ?? [:]
        for key in ["lr", "l1", "l2", "gate", "eta", "retrieve"] {
            if let v = fit[key]?.double { meta.append(("uzr.fit.\(key)", .float32(Float(v)))) }
        }
        for key in ["steps", "replay", "capacity"] {
            if let v = fit[key]?.int { meta.append(("uzr.fit.\(key)", .uint32(UInt32(max(v, 0))))) }
        }
        hiddenSize = d
        metadata = meta
        tensors = b.plan
    }
}
