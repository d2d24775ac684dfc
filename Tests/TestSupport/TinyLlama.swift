import Foundation
import Runtime

/// A tiny random llama model (hidden 64, 2 layers, 4 heads over 2 KV heads, SwiGLU width 256) with
/// a byte-level BPE tokenizer of its own (the 256 bytes in GPT-2's alphabet and "<|endoftext|>"),
/// written with `GGUFWriter` the way llama.cpp names keys and tensors. It loads and generates
/// (noise), so a copy with one key or tensor changed fails for that change alone.
public struct TinyLlama {
    public static let hidden = 64, layers = 2, heads = 4, kvHeads = 2, ffn = 256, contextLength = 64
    public static let headDim = hidden / heads
    /// 256 byte tokens, then "<|endoftext|>".
    public static let vocab = 257
    public static let endOfText: Int32 = 256

    /// Metadata in file order; `set` replaces or removes a key in place.
    public var metadata: [(key: String, value: GGUFValue)] = []
    /// Tensors in file order, their bytes already encoded.
    public var tensors: [(name: String, shape: [Int], type: GGMLType, data: [UInt8])] = []

    public init(architecture: String = "llama", seed: UInt64 = 1) throws {
        let arch = architecture
        metadata = [
            ("general.architecture", .string(arch)),
            ("general.name", .string("tiny test llama")),
            ("\(arch).block_count", .uint32(UInt32(Self.layers))),
            ("\(arch).context_length", .uint32(UInt32(Self.contextLength))),
            ("\(arch).embedding_length", .uint32(UInt32(Self.hidden))),
            ("\(arch).feed_forward_length", .uint32(UInt32(Self.ffn))),
            ("\(arch).attention.head_count", .uint32(UInt32(Self.heads))),
            ("\(arch).attention.head_count_kv", .uint32(UInt32(Self.kvHeads))),
            ("\(arch).rope.freq_base", .float32(10000)),
            ("\(arch).attention.layer_norm_rms_epsilon", .float32(1e-5)),
            ("\(arch).rope.dimension_count", .uint32(UInt32(Self.headDim))),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("smollm")),
            ("tokenizer.ggml.tokens", .array(Self.byteAlphabet.map { .string($0) } + [.string("<|endoftext|>")])),
            ("tokenizer.ggml.token_type", .array(Array(repeating: GGUFValue.int32(1), count: 256) + [.int32(3)])),
            ("tokenizer.ggml.merges", .array([])),
            ("tokenizer.ggml.bos_token_id", .uint32(UInt32(Self.endOfText))),
            ("tokenizer.ggml.eos_token_id", .uint32(UInt32(Self.endOfText))),
            ("tokenizer.ggml.add_bos_token", .bool(false)),
        ]
        var rng = SplitMix64(seed: seed)
        let kv = Self.kvHeads * Self.headDim
        try addRandom("token_embd.weight", [Self.vocab, Self.hidden], &rng, scale: 1)
        for layer in 0..<Self.layers {
            let p = "blk.\(layer)"
            try addOnes("\(p).attn_norm.weight", Self.hidden)
            try addRandom("\(p).attn_q.weight", [Self.hidden, Self.hidden], &rng)
            try addRandom("\(p).attn_k.weight", [kv, Self.hidden], &rng)
            try addRandom("\(p).attn_v.weight", [kv, Self.hidden], &rng)
            try addRandom("\(p).attn_output.weight", [Self.hidden, Self.hidden], &rng)
            try addOnes("\(p).ffn_norm.weight", Self.hidden)
            try addRandom("\(p).ffn_gate.weight", [Self.ffn, Self.hidden], &rng)
            try addRandom("\(p).ffn_up.weight", [Self.ffn, Self.hidden], &rng)
            try addRandom("\(p).ffn_down.weight", [Self.hidden, Self.ffn], &rng)
        }
        try addOnes("output_norm.weight", Self.hidden)
    }

    private mutating func addRandom(_ name: String, _ shape: [Int], _ rng: inout SplitMix64, scale: Float = 0.125) throws {
        let values = rng.floats(shape.reduce(1, *), -scale, scale)
        tensors.append((name, shape, .f32, try GGMLBlocks.encode(values, as: .f32)))
    }

    private mutating func addOnes(_ name: String, _ count: Int) throws {
        tensors.append((name, [count], .f32, try GGMLBlocks.encode([Float](repeating: 1, count: count), as: .f32)))
    }

    /// Replaces `key`'s value where it stands, appends it when absent, or removes it (nil).
    public mutating func set(_ key: String, _ value: GGUFValue?) {
        if let i = metadata.firstIndex(where: { $0.key == key }) {
            if let value { metadata[i].value = value } else { metadata.remove(at: i) }
        } else if let value {
            metadata.append((key, value))
        }
    }

    /// Replaces a tensor's type and bytes, and moves it to the end of the file when `last`.
    public mutating func replaceTensor(_ name: String, type: GGMLType, data: [UInt8], last: Bool = false) {
        guard let i = tensors.firstIndex(where: { $0.name == name }) else { return }
        var t = tensors[i]
        t.type = type
        t.data = data
        if last {
            tensors.remove(at: i)
            tensors.append(t)
        } else {
            tensors[i] = t
        }
    }

    public func write(to url: URL) throws {
        var writer = GGUFWriter()
        for (key, value) in metadata { writer.add(key, value) }
        for t in tensors { try writer.addTensor(name: t.name, shape: t.shape, type: t.type, data: t.data) }
        try writer.write(to: url.path)
    }

    /// GPT-2's byte alphabet: the code point that stands for each byte 0...255 in a byte-level
    /// BPE vocabulary (printable Latin-1 stands for itself, the rest take U+0100 onwards).
    public static let byteAlphabet: [String] = {
        var next: UInt32 = 256
        return (0..<256).map { byte -> String in
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            let scalar: UInt32
            if printable {
                scalar = UInt32(byte)
            } else {
                scalar = next
                next += 1
            }
            return String(Character(Unicode.Scalar(scalar)!))
        }
    }()
}

