import CKernels

/// Scratch a head layer needs for `rows` rows, beyond its output.
struct HeadScratchNeeds {
    var quantBytes = 0, words = 0, ints = 0, floats = 0

    func union(_ other: HeadScratchNeeds) -> HeadScratchNeeds {
        HeadScratchNeeds(quantBytes: max(quantBytes, other.quantBytes), words: max(words, other.words),
                         ints: max(ints, other.ints), floats: max(floats, other.floats))
    }
}

/// One matrix of a head, `y = W x (+ b)` in one of the head formats: float/quantized
/// (`HeadMatrix`), binary (`BinaryLayer`) or spiking (`SpikingLinear`). The GRU and attention
/// heads are written once over this, so every format runs the same cell and attention code.
protocol HeadLinear {
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    func needs(rows: Int) -> HeadScratchNeeds
    /// `y[r, 0..<outFeatures]` for `x[r, 0..<inFeatures]`, r < rows. Uses the scratch's layer
    /// buffers (`quant`, `words`, `ints`, `layerFloats`), never `floats`, which the head owns.
    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, scratch: QHeadScratch)
}

extension Array where Element == any HeadLinear {
    func needs(rows: Int) -> HeadScratchNeeds { reduce(HeadScratchNeeds()) { $0.union($1.needs(rows: rows)) } }
}

/// A head's linear layer. Float weights are kept transposed for `recur_head_linear_t`, because a
/// BLAS call on one row costs ~100x the arithmetic; quantized weights use the model's kernels.
final class HeadMatrix: HeadLinear {
    let linear: Linear
    /// Float weights in the layout the head kernels read: `[in, out]` for `recur_head_linear_t`,
    /// `[out, in]` below `dotBelow` outputs (nil for quantized weights).
    private let transposed: FloatBuffer?
    private let plain: FloatBuffer?
    /// Below this many outputs a dot product per output beats streaming over outputs.
    static let dotBelow = 16

    init(_ linear: Linear) {
        self.linear = linear
        let w = linear.plainFloatWeight()
        if let w, linear.outFeatures >= Self.dotBelow {
            let n = linear.outFeatures, k = linear.inFeatures
            let t = FloatBuffer(count: n * k)
            for o in 0..<n { for j in 0..<k { t.pointer[j * n + o] = w.pointer[o * k + j] } }
            transposed = t
            plain = nil
        } else {
            transposed = nil
            plain = w
        }
    }

    var outFeatures: Int { linear.outFeatures }
    var inFeatures: Int { linear.inFeatures }
    var type: GGMLType { linear.type }
    func needs(rows: Int) -> HeadScratchNeeds { HeadScratchNeeds(quantBytes: linear.scratchBytes(rows: rows)) }

    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, scratch: QHeadScratch) {
        if let plain {
            return recur_head_linear_dot(x, plain.pointer, linear.bias?.pointer, y, Int64(rows), Int64(outFeatures), Int64(inFeatures))
        }
        guard let transposed else { return linear(x, y, rows: rows, scratch: scratch.quant) }
        recur_head_linear_t(x, transposed.pointer, linear.bias?.pointer, y, Int64(rows), Int64(outFeatures), Int64(inFeatures))
    }
}
