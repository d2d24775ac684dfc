import CKernels

/// One binary layer: `y = scale * (sign(x - center) . sign(W)) + bias`, the dot an XNOR-popcount.
///
/// The centre is stored per input feature or as one value for the whole input (`BinaryConverter`
/// decides); one value is expanded at load time for the sign packer.
public struct BinaryLayer: HeadLinear {
    public let inFeatures: Int
    public let outFeatures: Int
    /// `[outFeatures, recur_bnn_words(inFeatures)]` sign words of W.
    let bits: [UInt64]
    let scale: [Float]
    let bias: [Float]
    let center: [Float]
    let storedCenterCount: Int

    public init(inFeatures: Int, outFeatures: Int, bits: [UInt64], scale: [Float], bias: [Float], center: [Float]) throws {
        let words = Int(recur_bnn_words(Int64(inFeatures)))
        guard inFeatures > 0, outFeatures > 0, bits.count == outFeatures * words, scale.count == outFeatures, bias.count == outFeatures,
              center.count == inFeatures || center.count == 1 else {
            throw ModelError.badInput("binary layer \(outFeatures)x\(inFeatures): expected \(outFeatures * words) words, \(outFeatures) scales and biases, 1 or \(inFeatures) centres; got \(bits.count), \(scale.count), \(bias.count), \(center.count)")
        }
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.bits = bits
        self.scale = scale
        self.bias = bias
        self.center = center.count == inFeatures ? center : [Float](repeating: center[0], count: inFeatures)
        storedCenterCount = center.count
    }

    var words: Int { Int(recur_bnn_words(Int64(inFeatures))) }
    /// Bytes as stored: sign bits, F32 scale and bias, F16 centre(s).
    var byteSize: Int { outFeatures * words * 8 + 4 * 2 * outFeatures + 2 * storedCenterCount }

    func needs(rows: Int) -> HeadScratchNeeds { HeadScratchNeeds(words: rows * words, ints: rows * outFeatures) }

    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, scratch: QHeadScratch) {
        center.withUnsafeBufferPointer { c in
            recur_bnn_pack_signs(x, c.baseAddress, scratch.words, Int64(rows), Int64(inFeatures))
        }
        bits.withUnsafeBufferPointer { w in
            recur_bnn_xnor_gemm(scratch.words, w.baseAddress, scratch.ints, Int64(rows), Int64(outFeatures), Int64(inFeatures))
        }
        let n = outFeatures
        for r in 0..<rows {
            for o in 0..<n { y[r * n + o] = scale[o] * Float(scratch.ints[r * n + o]) + bias[o] }
        }
    }
}
