import CKernels

/// A linear layer `y = x W^T (+ b)` whose weight is `[outFeatures, inFeatures]` as in PyTorch.
///
/// Float weights (F32, F16, BF16) are widened to F32 and packed once at load into 16-column panels
/// (`recur_f32_pack_transposed`), computed by Recur's own FP32 kernels: every output element sums
/// its products in one fixed order, so a row's result does not depend on how many rows share the
/// call, the thread count or the BLAS build (OpenBLAS's sgemm rounds a row differently with the
/// row count, which made a batched server part from the same request run alone at a near tie).
/// Q8_0, Q4_0 and Q4_1 weights are repacked once at load into the kernels' interleaved panels and
/// multiplied against activations quantized on the fly to 8-bit blocks.
public final class Linear: @unchecked Sendable {
    enum Weight {
        /// `recur_f32_packed_size(in, out)` floats: the weight transposed into 16-column panels.
        case f32(packed: FloatBuffer)
        case quantized(recur_qtype, packed: RawBuffer)
    }

    public let outFeatures: Int
    public let inFeatures: Int
    let weight: Weight
    let bias: FloatBuffer?

    init(weight: Weight, bias: FloatBuffer?, outFeatures: Int, inFeatures: Int) {
        self.weight = weight
        self.bias = bias
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
    }

    /// A float layer from its `[out, in]` weight (copied into the kernels' packed panels).
    static func float(_ w: UnsafePointer<Float>, bias: FloatBuffer?, outFeatures: Int, inFeatures: Int) -> Linear {
        let packed = FloatBuffer(count: Int(recur_f32_packed_size(Int64(inFeatures), Int64(outFeatures))))
        recur_f32_pack_transposed(w, Int64(outFeatures), Int64(inFeatures), packed.pointer)
        return Linear(weight: .f32(packed: packed), bias: bias, outFeatures: outFeatures, inFeatures: inFeatures)
    }

    /// The GGUF type the weight computes in.
    public var type: GGMLType {
        switch weight {
        case .f32: return .f32
        case let .quantized(t, _): return GGMLType(rawValue: t.rawValue) ?? .f32
        }
    }

    /// Whether the weight is in a quantized block format (the input is quantized per call).
    var isQuantized: Bool {
        if case .quantized = weight { return true }
        return false
    }

    /// A float weight in its plain `[out, in]` layout, unpacked (for heads that keep their own
    /// layout); nil for quantized weights.
    func plainFloatWeight() -> FloatBuffer? {
        guard case let .f32(packed) = weight else { return nil }
        let w = FloatBuffer(count: outFeatures * inFeatures)
        recur_f32_unpack_transposed(packed.pointer, Int64(outFeatures), Int64(inFeatures), w.pointer)
        return w
    }

    /// Multiply-adds of a call with `rows` rows (for the profile's rates).
    func multiplyAdds(rows: Int) -> Double { Double(rows) * Double(outFeatures) * Double(inFeatures) }

    /// Bytes of activation scratch a call with `rows` rows needs (0 for float weights).
    func scratchBytes(rows: Int) -> Int {
        isQuantized ? recur_q_act_size(Int64(rows), Int64(inFeatures)) : 0
    }

    /// `y[rows, out] = x[rows, in] W^T (+ b)`; x and y must not overlap.
    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, scratch: RawBuffer) {
        let m = Int64(rows), n = Int64(outFeatures), k = Int64(inFeatures)
        switch weight {
        case let .f32(packed):
            // The bias is added to the finished product (bias + x W^T), as torch.addmm does.
            if let bias { for i in 0..<rows { (y + i * outFeatures).update(from: bias.pointer, count: outFeatures) } }
            recur_f32_packed_gemm(x, k, packed.pointer, k, n, nil, nil, 0, y, n, m, bias == nil ? 0 : 1)
        case let .quantized(t, packed):
            precondition(scratch.byteCount >= scratchBytes(rows: rows), "activation scratch too small")
            recur_q_linear(t, packed.pointer, x, y, m, n, k, scratch.pointer)
            if let bias { recur_f32_add_row(y, bias.pointer, y, m, n) }
        }
    }

    /// `y[rows, out] = swiglu(gateUp)[rows, in] W^T (+ b)` for quantized weights, where `gateUp` is
    /// `[rows, 2 * in]` (gate, then up, per row). Each activation row is formed in the gate half of
    /// its `gateUp` row, which it overwrites, and quantized while in cache: the bits of
    /// `recur_f32_swiglu` into a buffer followed by the plain call, without that buffer.
    func callAsFunction(swiglu gateUp: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, scratch: RawBuffer) {
        guard case let .quantized(t, packed) = weight else { preconditionFailure("swiglu input fusion needs quantized weights") }
        precondition(scratch.byteCount >= scratchBytes(rows: rows), "activation scratch too small")
        let m = Int64(rows), n = Int64(outFeatures), k = Int64(inFeatures)
        recur_q_linear_swiglu(t, packed.pointer, gateUp, y, m, n, k, scratch.pointer)
        if let bias { recur_f32_add_row(y, bias.pointer, y, m, n) }
    }
}
