import Foundation
import Runtime

/// A tiny random rule-latent model (docs/rule-latent.md): hidden 32, 2 heads, 2 blocks, latent 8,
/// inputs and outputs of up to 8 bytes, written with `GGUFWriter` as the reference exporter
/// names keys and tensors. Weights are large enough that z moves the logits.
public struct TinyRuleModel {
    public static let hidden = 32, heads = 2, layers = 2, latent = 8, ffn = 64, maxInput = 8, maxOutput = 8
    public static var length: Int { 2 + maxInput + maxOutput }

    public var metadata: [(key: String, value: GGUFValue)] = []
    public var tensors: [(name: String, shape: [Int], data: [Float])] = []

    public init(activation: String = "gelu", seed: UInt64 = 5) {
        let a = "uzr", d = Self.hidden
        metadata = [
            ("general.architecture", .string(a)),
            ("\(a).embedding_length", .uint32(UInt32(d))),
            ("\(a).block_count", .uint32(UInt32(Self.layers))),
            ("\(a).attention.head_count", .uint32(UInt32(Self.heads))),
            ("\(a).latent_length", .uint32(UInt32(Self.latent))),
            ("\(a).feed_forward_length", .uint32(UInt32(Self.ffn))),
            ("\(a).context_length", .uint32(UInt32(Self.length))),
            ("\(a).max_input", .uint32(UInt32(Self.maxInput))),
            ("\(a).max_output", .uint32(UInt32(Self.maxOutput))),
            ("\(a).activation", .string(activation)),
            ("\(a).attention.layer_norm_epsilon", .float32(1e-5)),
            ("\(a).vocab_size", .uint32(260)),
        ]
        var rng = SplitMix64(seed: seed)
        func add(_ name: String, _ shape: [Int], _ scale: Float, offset: Float = 0) {
            tensors.append((name, shape, rng.floats(shape.reduce(1, *), -scale, scale).map { $0 + offset }))
        }
        add("token_embd.weight", [260, d], 1)
        add("position_embd.weight", [Self.length, d], 0.5)
        for n in 0..<Self.layers {
            let p = "blk.\(n)"
            add("\(p).attn_norm.weight", [d], 0.2, offset: 1)
            add("\(p).attn_norm.bias", [d], 0.1)
            for proj in ["attn_q", "attn_k", "attn_v", "attn_output"] {
                add("\(p).\(proj).weight", [d, d], 0.3)
                add("\(p).\(proj).bias", [d], 0.1)
            }
            add("\(p).ffn_norm.weight", [d], 0.2, offset: 1)
            add("\(p).ffn_norm.bias", [d], 0.1)
            add("\(p).ffn_up.weight", [Self.ffn, d], 0.3)
            add("\(p).ffn_up.bias", [Self.ffn], 0.1)
            add("\(p).ffn_down.weight", [d, Self.ffn], 0.2)
            add("\(p).ffn_down.bias", [d], 0.1)
            add("\(p).film_gamma.weight", [d, Self.latent], 0.3)
            add("\(p).film_gamma.bias", [d], 0.1)
            add("\(p).film_beta.weight", [d, Self.latent], 0.3)
            add("\(p).film_beta.bias", [d], 0.1)
        }
        add("output_norm.weight", [d], 0.2, offset: 1)
        add("output_norm.bias", [d], 0.1)
        add("output.weight", [260, d], 0.5)
        add("output.bias", [260], 0.1)
    }

    public mutating func set(_ key: String, _ value: GGUFValue?) {
        if let i = metadata.firstIndex(where: { $0.key == key }) {
            if let value { metadata[i].value = value } else { metadata.remove(at: i) }
        } else if let value {
            metadata.append((key, value))
        }
    }

    public func write(to url: URL, type: GGMLType = .f32) throws {
        var writer = GGUFWriter()
        for (key, value) in metadata { writer.add(key, value) }
        for t in tensors {
            let quantize = type != .f32 && t.shape.count == 2 && t.shape[1] % 32 == 0
            try writer.addTensor(name: t.name, shape: t.shape, type: quantize ? type : .f32, data: try GGMLBlocks.encode(t.data, as: quantize ? type : .f32))
        }
        try writer.write(to: url.path)
    }
}
