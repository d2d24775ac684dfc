import CKernels

/// One binary layer: `y = scale * (sign(x - center) . sign(W)) + bias`, the dot an XNOR-popcount.
public struct BinaryLayer {
    public let inFeatures: Int
    public let outFeatures: Int
    /// `[outFeatures, recur_bnn_words(inFeatures)]` sign words of W.
    let bits: [UInt64]
    let scale: [Float]
    let bias: [Float]
    let center: [Float]

    public init(inFeatures: Int, outFeatures: Int, bits: [UInt64], scale: [Float], bias: [Float], center: [Float]) throws {
        let words = Int(recur_bnn_words(Int64(inFeatures)))
        guard bits.count == outFeatures * words, scale.count == outFeatures, bias.count == outFeatures, center.count == inFeatures else {
            throw ModelError.badInput("binary layer \(outFeatures)x\(inFeatures): expected \(outFeatures * words) words, \(outFeatures) scales and biases, \(inFeatures) centres; got \(bits.count), \(scale.count), \(bias.count), \(center.count)")
        }
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.bits = bits
        self.scale = scale
        self.bias = bias
        self.center = center
    }

    var words: Int { Int(recur_bnn_words(Int64(inFeatures))) }
    /// Bytes as stored: sign bits, F32 scale and bias, F16 centre.
    var byteSize: Int { outFeatures * words * 8 + 4 * 2 * outFeatures + 2 * inFeatures }
}

/// A `linear` or `mlp` head with binary weights and binarized inputs (BNN format).
public final class BinaryHead: QHead {
    public let kind: QHeadKind
    public let format = QHeadFormat.bnn
    public let layers: [BinaryLayer]
    public let activation: QHeadActivation

    public init(kind: QHeadKind, layers: [BinaryLayer], activation: QHeadActivation) throws {
        guard !layers.isEmpty, layers.last?.outFeatures == 2,
              zip(layers, layers.dropFirst()).allSatisfy({ $0.outFeatures == $1.inFeatures }) else {
            throw ModelError.badInput("binary head: layer sizes do not chain to 2 outputs: \(layers.map { "\($0.inFeatures)->\($0.outFeatures)" })")
        }
        self.kind = kind
        self.layers = layers
        self.activation = activation
    }

    public var inputSize: Int { layers[0].inFeatures }
    public var byteSize: Int { layers.reduce(0) { $0 + $1.byteSize } }
    public var summary: String { kind == .mlp ? "mlp(\(layers[0].outFeatures), \(activation.rawValue)) BNN" : "linear BNN" }

    public func makeScratch(capacity: Int) -> QHeadScratch {
        let widest = layers.map(\.outFeatures).max() ?? 2
        let words = layers.map(\.words).max() ?? 1
        return QHeadScratch(floats: capacity * widest, words: capacity * words, ints: capacity * widest)
    }

    public func evaluate(_ x: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>,
                         batch: Int, scratch: QHeadScratch) {
        var input = x
        for (l, layer) in layers.enumerated() {
            let last = l == layers.count - 1
            let y = last ? q : scratch.floats.pointer
            layer.center.withUnsafeBufferPointer { c in
                recur_bnn_pack_signs(input, c.baseAddress, scratch.words, Int64(batch), Int64(layer.inFeatures))
            }
            layer.bits.withUnsafeBufferPointer { w in
                recur_bnn_xnor_gemm(scratch.words, w.baseAddress, scratch.ints, Int64(batch), Int64(layer.outFeatures), Int64(layer.inFeatures))
            }
            let n = layer.outFeatures
            for b in 0..<batch {
                for o in 0..<n { y[b * n + o] = layer.scale[o] * Float(scratch.ints[b * n + o]) + layer.bias[o] }
            }
            if !last { HeadMath.apply(activation, y, count: batch * n) }
            input = UnsafePointer(y)
        }
    }
}
