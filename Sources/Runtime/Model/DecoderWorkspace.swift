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
    /// A recursive LM's per-row states and buffers; nil for a flat decoder.
    let recursive: RecursiveScratch?
    /// An attached attention controller's buffers; nil without one.
    let steering: SteeringScratch?
    /// How a recursive LM halts each token, and the most ACT steps it may run.
    var halting = HaltingPolicy.qHead
    var stepLimit = Int.max

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
        // The memory bank read takes up to MemoryBank.rowsPerRead query rows against every slot
        // (and, for an F16 bank, one widened block).
        let memoryScores = d.memory.map {
            Int(recur_bank_attention_scratch(Int64(min(rows, MemoryBank.rowsPerRead)), Int64($0.slots), Int64(d.hiddenSize / $0.heads), 1))
        } ?? 0
        attentionScratch = FloatBuffer(count: max(Int(recur_f32_causal_attention_scratch(Int64(rows), Int64(contextSize))),
                                                  memoryScores) * max(threads, 1))
        projection = FloatBuffer(count: rows * d.hiddenSize)
        gateUp = FloatBuffer(count: rows * 2 * ffn)
        activation = FloatBuffer(count: model.needsSwiGLUBuffer ? rows * ffn : 0)
        positions = .allocate(capacity: rows)
        quantScratch = RawBuffer(byteCount: model.quantScratchBytes(rows: rows))
        logits = FloatBuffer(count: d.vocabSize)
        recursive = model.recursion.map { RecursiveScratch(rows: rows, hidden: d.hiddenSize, head: $0.head) }
        steering = model.controller.map { SteeringScratch(controller: $0, rows: rows) }
    }

    deinit { positions.deallocate() }

    /// Sets how a recursive LM halts its tokens and the most ACT steps one may run (the file's
    /// `halt_max_steps` when nil; never more, since the cache holds that many steps).
    func setHalting(_ policy: HaltingPolicy, maxSteps: Int?, model: CausalModel) throws {
        if let maxSteps {
            guard maxSteps >= 1, maxSteps <= model.maxSteps else {
                throw ModelError.badInput("max steps must be between 1 and the model's halt_max_steps \(model.maxSteps), got \(maxSteps)")
            }
        }
        halting = policy
        stepLimit = maxSteps ?? model.maxSteps
    }

    /// Makes room for the logits of `rows` tokens.
    func reserveLogits(rows: Int, vocab: Int) {
        if logits.count < rows * vocab { logits = FloatBuffer(count: rows * vocab) }
    }
}

/// One set of a recursive LM's rows: their states (packed, running rows first), Q logits and
/// Q-head state.
final class RowStates: @unchecked Sendable {
    let zH: FloatBuffer
    let zL: FloatBuffer
    let x: FloatBuffer
    let q: FloatBuffer
    let head: QHeadSession

    init(rows: Int, hidden: Int, head: QHead) {
        let n = rows * hidden
        zH = FloatBuffer(count: n)
        zL = FloatBuffer(count: n)
        x = FloatBuffer(count: n)
        q = FloatBuffer(count: 2 * rows)
        self.head = QHeadSession(head: head, capacity: rows)
    }

    /// Row `from`'s states (and head state) into row `to`.
    func move(from: Int, to: Int, hidden: Int) {
        for buffer in [zH, zL, x] { (buffer.pointer + to * hidden).update(from: buffer.pointer + from * hidden, count: hidden) }
        head.move(from: from, to: to)
    }
}

/// A token of one sequence in flight in step-granular decoding: the ACT step it runs next.
struct FlightRow {
    let id: Int
    let cache: KVCache
    let position: Int
    var step: Int
}

/// A recursive LM's rows and buffers: `rows` for calls that run every row to its halt
/// (`Recursion.evaluate`), `flight` for the tokens that stay between calls of step-granular
/// decoding (`Recursion.advance`); the final z_H of rows that halted, the injection sum and the
/// memory read's query and result are scratch of one call.
final class RecursiveScratch: @unchecked Sendable {
    let rows: RowStates
    let flight: RowStates
    var inFlight: [FlightRow] = []
    let final: FloatBuffer
    let injection: FloatBuffer
    let memoryQuery: FloatBuffer
    let memoryRead: FloatBuffer

    init(rows: Int, hidden: Int, head: QHead) {
        let n = rows * hidden
        self.rows = RowStates(rows: rows, hidden: hidden, head: head)
        flight = RowStates(rows: rows, hidden: hidden, head: head)
        final = FloatBuffer(count: n)
        injection = FloatBuffer(count: n)
        memoryQuery = FloatBuffer(count: n)
        memoryRead = FloatBuffer(count: n)
    }
}
