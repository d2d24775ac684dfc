import CKernels

/// Scratch memory for one forward pass at a given batch capacity, allocated once and reused for
/// every step so the hot loop never allocates.
final class Workspace: @unchecked Sendable {
    let capacity: Int
    let injection: FloatBuffer
    let qkv: FloatBuffer
    let attention: FloatBuffer
    let attentionScratch: FloatBuffer
    let projection: FloatBuffer
    let gateUp: FloatBuffer
    let activation: FloatBuffer
    let transposed: FloatBuffer
    let headInput: FloatBuffer
    /// 8-bit activation blocks for quantized linears.
    let quantScratch: RawBuffer
    let threads: Int
    /// Per-operation timing (`recur solve --profile`); nil runs untimed.
    var profile: OpProfile?

    /// `swigluBuffer`: whether `activation` is needed (a float down projection); quantized ones
    /// form their SwiGLU inside their input quantization and leave it empty.
    init(config c: ModelConfig, capacity: Int, threads: Int, quantScratchBytes: Int, swigluBuffer: Bool) {
        self.capacity = capacity
        self.threads = threads
        let rows = capacity * c.totalSeqLen
        let hidden = c.hiddenSize
        let mlpT = c.tokenMixer == .mlpT
        let transposedRows = capacity * hidden
        injection = FloatBuffer(count: rows * hidden)
        qkv = FloatBuffer(count: mlpT ? 0 : rows * c.qkvWidth)
        attention = FloatBuffer(count: mlpT ? 0 : rows * c.headCount * c.headDim)
        attentionScratch = FloatBuffer(count: mlpT ? 0 : Int(recur_f32_attention_scratch(Int64(c.totalSeqLen))) * Swift.max(threads, 1))
        projection = FloatBuffer(count: Swift.max(rows * hidden, mlpT ? transposedRows * c.totalSeqLen : 0))
        gateUp = FloatBuffer(count: Swift.max(rows * 2 * c.feedForwardLength, mlpT ? transposedRows * 2 * c.tokenMixFeedForwardLength : 0))
        activation = FloatBuffer(count: swigluBuffer ? Swift.max(rows * c.feedForwardLength, mlpT ? transposedRows * c.tokenMixFeedForwardLength : 0) : 0)
        transposed = FloatBuffer(count: mlpT ? rows * hidden : 0)
        headInput = FloatBuffer(count: capacity * hidden)
        quantScratch = RawBuffer(byteCount: quantScratchBytes)
    }

    /// Runs `body`, timed under `op` when profiling.
    @inline(__always)
    func time(_ op: OpProfile.Op, multiplyAdds: Double = 0, _ body: () -> Void) {
        if let profile { profile.measure(op, multiplyAdds: multiplyAdds, body) } else { body() }
    }

    /// Runs the linear `rows x in -> rows x out`, timed under `op` with its multiply-adds.
    @inline(__always)
    func linear(_ op: OpProfile.Op, _ layer: Linear, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int) {
        time(op, multiplyAdds: layer.multiplyAdds(rows: rows)) {
            layer(x, y, rows: rows, scratch: quantScratch)
        }
    }

    /// `y = down(swiglu(gateUp))` for `rows` rows of `gateUp`. Quantized weights take the SwiGLU
    /// into their input quantization (timed as one operation, `fused`); float weights run SwiGLU
    /// into `activation`, then the linear (timed under `.swiglu` and `op`).
    @inline(__always)
    func swigluLinear(_ op: OpProfile.Op, fused: OpProfile.Op, _ down: Linear, rows: Int, _ y: UnsafeMutablePointer<Float>) {
        guard down.isQuantized else {
            time(.swiglu) { recur_f32_swiglu(gateUp.pointer, activation.pointer, Int64(rows), Int64(down.inFeatures)) }
            linear(op, down, activation.pointer, y, rows: rows)
            return
        }
        time(fused, multiplyAdds: down.multiplyAdds(rows: rows)) {
            down(swiglu: gateUp.pointer, y, rows: rows, scratch: quantScratch)
        }
    }
}
