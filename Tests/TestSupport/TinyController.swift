import Foundation
import Runtime

/// A random attention controller for `TinyLlama` (docs/attention-controller.md): controller and
/// gate weights at `layers`, for `heads`, window `window`, written with `GGUFWriter` as the
/// reference exporter names keys and tensors. `set` and `replaceTensor` make the bad copies.
public struct TinyController {
    public static let width = 32, gateWidth = 16

    public var metadata: [(key: String, value: GGUFValue)] = []
    public var tensors: [(name: String, shape: [Int], data: [Float])] = []

    public init(layers: [Int] = [0, 1], heads: [Int] = [0, 2, 3], window: Int = 4, alphaMax: Float = 1, seed: UInt64 = 7) {
        let a = "attn_controller"
        metadata = [
            ("general.architecture", .string(a)),
            ("\(a).target.architecture", .string("llama")),
            ("\(a).target.embedding_length", .uint32(UInt32(TinyLlama.hidden))),
            ("\(a).target.head_count", .uint32(UInt32(TinyLlama.heads))),
            ("\(a).target.block_count", .uint32(UInt32(TinyLlama.layers))),
            ("\(a).layers", .array(layers.map { .uint32(UInt32($0)) })),
            ("\(a).heads", .array(heads.map { .uint32(UInt32($0)) })),
            ("\(a).window", .uint32(UInt32(window))),
            ("\(a).alpha_max", .float32(alphaMax)),
            ("\(a).layer_norm_epsilon", .float32(1e-5)),
        ]
        var rng = SplitMix64(seed: seed)
        let d = TinyLlama.hidden, c = Self.width, g = Self.gateWidth, slots = heads.count * (window + 1)
        func add(_ name: String, _ shape: [Int], _ scale: Float, offset: Float = 0) {
            tensors.append((name, shape, rng.floats(shape.reduce(1, *), -scale, scale).map { $0 + offset }))
        }
        for l in layers {
            add("ctl.\(l).fc1.weight", [c, d], 0.3)
            add("ctl.\(l).fc1.bias", [c], 0.1)
            add("ctl.\(l).norm.weight", [c], 0.2, offset: 1)
            add("ctl.\(l).norm.bias", [c], 0.1)
            add("ctl.\(l).fc2.weight", [slots, c], 0.5)
            add("ctl.\(l).fc2.bias", [slots], 0.5)
            add("gate.\(l).fc1.weight", [g, d + 2 * heads.count], 0.3)
            add("gate.\(l).fc1.bias", [g], 0.1)
            add("gate.\(l).fc2.weight", [1, g], 0.5)
            add("gate.\(l).fc2.bias", [1], 0.5)
        }
    }

    /// Replaces `key`'s value where it stands, appends it when absent, or removes it (nil).
    public mutating func set(_ key: String, _ value: GGUFValue?) {
        if let i = metadata.firstIndex(where: { $0.key == key }) {
            if let value { metadata[i].value = value } else { metadata.remove(at: i) }
        } else if let value {
            metadata.append((key, value))
        }
    }

    /// Replaces a tensor's shape and values (random values of the new shape).
    public mutating func reshapeTensor(_ name: String, to shape: [Int]) {
        guard let i = tensors.firstIndex(where: { $0.name == name }) else { return }
        tensors[i].shape = shape
        tensors[i].data = [Float](repeating: 0.01, count: shape.reduce(1, *))
    }

    public func write(to url: URL) throws {
        var writer = GGUFWriter()
        for (key, value) in metadata { writer.add(key, value) }
        for t in tensors { try writer.addTensor(name: t.name, shape: t.shape, type: .f32, data: try GGMLBlocks.encode(t.data, as: .f32)) }
        try writer.write(to: url.path)
    }
}
