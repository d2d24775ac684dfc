import CKernels

/// A head's linear layer. Float weights are kept transposed for `recur_head_linear_t`, because a
/// BLAS call on one row costs ~100x the arithmetic; quantized weights use the model's kernels.
final class HeadMatrix {
    let linear: Linear
    private let transposed: FloatBuffer?
    /// Below this many outputs a dot product per output beats streaming over outputs.
    static let dotBelow = 16

    init(_ linear: Linear) {
        self.linear = linear
        if case let .f32(w) = linear.weight, linear.outFeatures >= Self.dotBelow {
            let n = linear.outFeatures, k = linear.inFeatures
            let t = FloatBuffer(count: n * k)
            for o in 0..<n { for j in 0..<k { t.pointer[j * n + o] = w.pointer[o * k + j] } }
            transposed = t
        } else {
            transposed = nil
        }
    }

    var outFeatures: Int { linear.outFeatures }
    var inFeatures: Int { linear.inFeatures }
    var type: GGMLType { linear.type }
    func scratchBytes(rows: Int) -> Int { linear.scratchBytes(rows: rows) }

    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, scratch: RawBuffer) {
        if case let .f32(w) = linear.weight, transposed == nil {
            return recur_head_linear_dot(x, w.pointer, linear.bias?.pointer, y, Int64(rows), Int64(outFeatures), Int64(inFeatures))
        }
        guard let transposed else { return linear(x, y, rows: rows, scratch: scratch) }
        recur_head_linear_t(x, transposed.pointer, linear.bias?.pointer, y, Int64(rows), Int64(outFeatures), Int64(inFeatures))
    }
}
