import Foundation
import Runtime

/// Reads a neuro-symbolic search (NSSR) training run (docs/nssr.md: a state_dict whose keys are
/// the GGUF tensor names, beside an `all_config.yaml` with `arch.name: nssr` and the `functions`
/// the heads were trained for) into `nssr.*` metadata and the plan of every tensor, checking each
/// shape.
public struct NSSRArchitecture {
    public static let architecture = "nssr"
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
        let d = try int("d", default: 128), heads = try int("heads", default: 8), layers = try int("layers", default: 2)
        let inputWidth = try int("input_dim", default: 32), seqLen = try int("seq_len", default: 8)
        let n = try int("n", default: 6), t = try int("t", default: 3), steps = try int("steps", default: 16)
        let ffn = try int("ffn", default: 4 * d)
        let eps = arch["eps"]?.double ?? 1e-5
        guard d % heads == 0 else { throw fail("arch.d \(d) is not a multiple of arch.heads \(heads)") }
        guard inputWidth % 4 == 0, inputWidth >= 8 else { throw fail("arch.input_dim \(inputWidth) is not 4 features times at least 2 values") }
        guard let list = yaml.root["functions"]?.list, !list.isEmpty else {
            throw fail("`functions` (the registry's function names the heads were trained for) is missing or empty")
        }
        let functions = list.compactMap(\.string)
        guard functions.count == list.count else { throw fail("`functions` holds entries that are not names") }
        let f = functions.count

        var b = OfficialArchitecture.PlanBuilder()
        func linear(_ name: String, _ out: Int, _ inputs: Int) {
            b.add("\(name).weight", [out, inputs], "\(name).weight", linear: true)
            b.add("\(name).bias", [out], "\(name).bias")
        }
        func norm(_ name: String) {
            b.add("\(name).weight", [d], "\(name).weight")
            b.add("\(name).bias", [d], "\(name).bias")
        }
        linear("input_proj", d, inputWidth)
        b.add("position_embd.weight", [seqLen, d], "position_embd.weight")
        b.add("y_init", [d], "y_init")
        b.add("z_init", [d], "z_init")
        norm("recursion_norm")
        for layer in 0..<layers {
            let p = "blk.\(layer)"
            norm("\(p).attn_norm")
            for proj in ["attn_q", "attn_k", "attn_v", "attn_output"] { linear("\(p).\(proj)", d, d) }
            norm("\(p).ffn_norm")
            linear("\(p).ffn_up", ffn, d)
            linear("\(p).ffn_down", d, ffn)
        }
        for head in NSSRFamily.functionHeads { linear(head, f, d) }
        linear("head_composition", NSSRFamily.compositionTypes.count, d)
        linear("head_halt", 1, d)
        try b.check(against: shapes, checkpoint: file, config: yaml.path, what: "an nssr model with these settings")

        hiddenSize = d
        metadata = [
            ("general.architecture", .string(Self.architecture)),
            ("nssr.embedding_length", .uint32(UInt32(d))),
            ("nssr.block_count", .uint32(UInt32(layers))),
            ("nssr.attention.head_count", .uint32(UInt32(heads))),
            ("nssr.feed_forward_length", .uint32(UInt32(ffn))),
            ("nssr.attention.layer_norm_epsilon", .float32(Float(eps))),
            ("nssr.context_length", .uint32(UInt32(seqLen))),
            ("nssr.input_length", .uint32(UInt32(inputWidth))),
            ("nssr.recursion.n", .uint32(UInt32(n))),
            ("nssr.recursion.t", .uint32(UInt32(t))),
            ("nssr.supervision_steps", .uint32(UInt32(steps))),
            ("nssr.function_count", .uint32(UInt32(f))),
            ("nssr.functions", .array(functions.map { .string($0) })),
        ]
        tensors = b.plan
    }
}
