import CKernels

/// Scratch memory for one forward pass at a given batch capacity, allocated once and reused for
/// every step so the hot loop never allocates.
final class Workspace: ForwardScratch, @unchecked Sendable {
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
    /// The attention's dot products (`AttentionPrecision`); bf16 only where the CPU runs it.
    var attentionPrecision: AttentionPrecision = .f32

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
}
