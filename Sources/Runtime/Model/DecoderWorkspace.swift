import CKernels

/// Scratch memory for a causal model's forward calls of up to `maxBatch` tokens against a context
/// of `contextSize` positions, allocated once so decoding never allocates.
final class DecoderWorkspace: ForwardScratch, @unchecked Sendable {
    /// Tokens per forward batch: prompts longer than this run in several batches (llama.cpp's
    /// n_ubatch, 512 by default).
    let maxBatch: Int
    let contextSize: Int
    let hidden: FloatBuffer
    let normed: FloatBuffer
    let qkv: FloatBuffer
    let attention: FloatBuffer
    let attentionScratch: FloatBuffer
    let projection: FloatBuffer
    let gateUp: FloatBuffer
    let activation: FloatBuffer
    let positions: UnsafeMutablePointer<Int32>
    let quantScratch: RawBuffer
    /// Logits of the last token (`[vocab]`), or of `logitRows` tokens for teacher forcing.
    private(set) var logits: FloatBuffer
    let threads: Int
    var profile: OpProfile?

    init(model: CausalModel, contextSize: Int, maxBatch: Int, threads: Int) {
        let d = model.description, a = model.attention
        let ffn = d.stacks.map(\.block.mlpWidth).max() ?? 0
        self.maxBatch = max(1, min(maxBatch, contextSize))
        self.contextSize = contextSize
        self.threads = threads
        let rows = self.maxBatch
        hidden = FloatBuffer(count: rows * d.hiddenSize)
        normed = FloatBuffer(count: rows * d.hiddenSize)
        qkv = FloatBuffer(count: rows * a.qkvWidth)
        attention = FloatBuffer(count: rows * a.heads * a.headDim)
        attentionScratch = FloatBuffer(count: Int(recur_f32_causal_attention_scratch(Int64(rows), Int64(contextSize))) * max(threads, 1))
        projection = FloatBuffer(count: rows * d.hiddenSize)
        gateUp = FloatBuffer(count: rows * 2 * ffn)
        activation = FloatBuffer(count: model.needsSwiGLUBuffer ? rows * ffn : 0)
        positions = .allocate(capacity: rows)
        quantScratch = RawBuffer(byteCount: model.quantScratchBytes(rows: rows))
        logits = FloatBuffer(count: d.vocabSize)
    }

    deinit { positions.deallocate() }

    /// Makes room for the logits of `rows` tokens.
    func reserveLogits(rows: Int, vocab: Int) {
        if logits.count < rows * vocab { logits = FloatBuffer(count: rows * vocab) }
    }
}
