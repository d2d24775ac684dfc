import Foundation
import Runtime

/// A tiny random NSSR model (docs/nssr.md): hidden 32, 4 heads, 2 blocks, 3 values per row
/// (input width 12), at most 5 rows, n 2, T 2, 3 supervision steps, heads for the registry's
/// first `functions` primitives; written with `GGUFWriter` as the reference exporter names keys
/// and tensors.
public struct TinyNSSRModel {
    public static let hidden = 32, heads = 4, layers = 2, ffn = 128, inputWidth = 12, seqLen = 5, n = 2, t = 2, steps = 3
    public static let primitives = ["OR", "AND", "NOT", "ADD", "SUB", "MUL", "INC", "DEC", "DIV", "LT", "LTE", "GT", "GTE", "EQ", "NEQ",
                                    "COND", "CONST", "NULL", "LOOP", "LOOP4", "WHILE", "ACCUM"]

    public var metadata: [(key: String, value: GGUFValue)] = []
    public var tensors: [(name: String, shape: [Int], data: [Float])] = []

    public init(functions: [String] = TinyNSSRModel.primitives, seed: UInt64 = 11) {
        let a = "nssr", d = Self.hidden
        metadata = [
            ("general.architecture", .string(a)),
            ("\(a).embedding_length", .uint32(UInt32(d))),
            ("\(a).block_count", .uint32(UInt32(Self.layers))),
            ("\(a).attention.head_count", .uint32(UInt32(Self.heads))),
            ("\(a).feed_forward_length", .uint32(UInt32(Self.ffn))),
            ("\(a).attention.layer_norm_epsilon", .float32(1e-5)),
            ("\(a).context_length", .uint32(UInt32(Self.seqLen))),
            ("\(a).input_length", .uint32(UInt32(Self.inputWidth))),
            ("\(a).recursion.n", .uint32(UInt32(Self.n))),
            ("\(a).recursion.t", .uint32(UInt32(Self.t))),
            ("\(a).supervision_steps", .uint32(UInt32(Self.steps))),
            ("\(a).function_count", .uint32(UInt32(functions.count))),
            ("\(a).functions", .array(functions.map { .string($0) })),
        ]
        var rng = SplitMix64(seed: seed)
        func add(_ name: String, _ shape: [Int], _ scale: Float, offset: Float = 0) {
            tensors.append((name, shape, rng.floats(shape.reduce(1, *), -scale, scale).map { $0 + offset }))
        }
        func linear(_ name: String, _ out: Int, _ inputs: Int, _ scale: Float) {
            add("\(name).weight", [out, inputs], scale)
            add("\(name).bias", [out], 0.1)
        }
        func norm(_ name: String) {
            add("\(name).weight", [d], 0.2, offset: 1)
            add("\(name).bias", [d], 0.1)
        }
        linear("input_proj", d, Self.inputWidth, 0.5)
        add("position_embd.weight", [Self.seqLen, d], 0.5)
        add("y_init", [d], 1)
        add("z_init", [d], 1)
        norm("recursion_norm")
        for layer in 0..<Self.layers {
            let p = "blk.\(layer)"
            norm("\(p).attn_norm")
            for proj in ["attn_q", "attn_k", "attn_v", "attn_output"] { linear("\(p).\(proj)", d, d, 0.3) }
            norm("\(p).ffn_norm")
            linear("\(p).ffn_up", Self.ffn, d, 0.3)
            linear("\(p).ffn_down", d, Self.ffn, 0.2)
        }
        for head in ["head_primary", "head_secondary", "head_tertiary"] { linear(head, functions.count, d, 0.5) }
        linear("head_composition", 4, d, 0.5)
        linear("head_halt", 1, d, 0.5)
    }

    public mutating func set(_ key: String, _ value: GGUFValue?) {
        if let i = metadata.firstIndex(where: { $0.key == key }) {
            if let value { metadata[i].value = value } else { metadata.remove(at: i) }
        } else if let value {
            metadata.append((key, value))
        }
    }

    /// Writes the file; `type` applies to the linears' weights whose rows are whole Q8_0 blocks.
    public func write(to url: URL, type: GGMLType = .f32) throws {
        var writer = GGUFWriter()
        for (key, value) in metadata { writer.add(key, value) }
        for t in tensors {
            let quantize = type != .f32 && t.shape.count == 2 && t.name.hasSuffix(".weight") && t.shape[1] % 32 == 0 && t.name != "position_embd.weight"
            try writer.addTensor(name: t.name, shape: t.shape, type: quantize ? type : .f32, data: try GGMLBlocks.encode(t.data, as: quantize ? type : .f32))
        }
        try writer.write(to: url.path)
    }
}
