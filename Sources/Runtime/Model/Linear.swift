import CKernels

/// A linear layer `y = x W^T (+ b)` whose weight is `[outFeatures, inFeatures]` as in PyTorch.
///
/// Float weights (F32, F16, BF16) are widened to F32 once at load, so the hot loop is one sgemm.
public final class Linear: @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    let weight: FloatBuffer
    let bias: FloatBuffer?

    public init(weight: FloatBuffer, bias: FloatBuffer?, outFeatures: Int, inFeatures: Int) {
        precondition(weight.count == outFeatures * inFeatures, "Linear weight size does not match its shape")
        self.weight = weight
        self.bias = bias
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
    }

    /// `y[rows, out] = x[rows, in] W^T`; x and y must not overlap.
    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int) {
        if let bias {
            recur_f32_linear_bias(x, weight.pointer, bias.pointer, y, Int64(rows), Int64(outFeatures), Int64(inFeatures))
        } else {
            recur_f32_linear(x, weight.pointer, y, Int64(rows), Int64(outFeatures), Int64(inFeatures))
        }
    }
}
