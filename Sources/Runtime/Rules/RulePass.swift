import CKernels

/// The rows of one batch of sequences as the rule-latent model's passes lay them out, and the
/// buffers of its forward (and backward) pass. Every sequence's input positions come first
/// (sequence s's at rows `s * prefix ...`), then the output positions: for a fit, sequence by
/// sequence, each keeping only the positions up to its last target; for decoding, position by
/// position (output position t of every sequence in one block of rows, so each decoding step runs
/// on contiguous rows while the earlier rows keep their keys and values). The buffers hold
/// `sequences * length` rows, so one pass serves any fit or decoding of as many sequences.
final class RulePass {
    let sequences: Int, inputRows: Int
    let prefix: Int, positions: Int
    /// Whether the pass keeps what a backward pass needs, and the thread count its scratch is for.
    let backward: Bool, threads: Int
    /// Rows in use, and the distance between a sequence's consecutive output positions.
    private(set) var rows: Int, outputStep: Int
    private let inputRow, outputRow, outputCount: UnsafeMutablePointer<Int64>

    /// Residual stream, a row-sized scratch, LayerNorm outputs, attention contexts (and their
    /// gradients), the MLP's hidden rows (and their gradients).
    let e, tmp, normed, context, up: FloatBuffer
    /// The output norm's kept statistics and the logits (d loss / d logits after the loss).
    let xhatOut, rstdOut, logits: FloatBuffer
    /// Every block's gamma then beta (from z), and their gradients.
    let film, filmGrad: FloatBuffer
    /// d loss / d e, and d loss / d [q k v] (backward passes only; empty otherwise).
    let grad, qkvGrad: FloatBuffer
    let scratch: FloatBuffer
    let layers: [Layer]

    /// What one block keeps: q | k | v of every row (the keys and values later rows attend to),
    /// the LayerNorms' statistics, the FiLM's input and, for a backward pass, the attention
    /// probabilities and the activation's slope.
    final class Layer {
        let qkv, xhat1, rstd1, xhat2, rstd2, before: FloatBuffer
        let probs, slope: FloatBuffer?

        init(model m: RuleModel, rows: Int, sequences: Int, backward: Bool) {
            let h = m.hidden
            qkv = FloatBuffer(count: rows * 3 * h)
            xhat1 = FloatBuffer(count: rows * h)
            rstd1 = FloatBuffer(count: rows)
            xhat2 = FloatBuffer(count: rows * h)
            rstd2 = FloatBuffer(count: rows)
            before = FloatBuffer(count: rows * h)
            probs = backward ? FloatBuffer(count: sequences * m.heads * m.length * m.length) : nil
            slope = backward ? FloatBuffer(count: rows * m.ffn) : nil
        }
    }

    /// A pass for `sequences` sequences (laid out by `layOutFit` or `layOutDecoding`), its
    /// attention scratch for the calling thread's thread count.
    init(model m: RuleModel, sequences: Int, backward: Bool) {
        self.sequences = sequences
        prefix = m.prefix
        positions = m.length
        self.backward = backward
        threads = Int(recur_get_num_threads())
        inputRows = sequences * m.prefix
        rows = inputRows
        outputStep = 1
        inputRow = .allocate(capacity: sequences)
        outputRow = .allocate(capacity: sequences)
        outputCount = .allocate(capacity: sequences)
        for s in 0..<sequences { inputRow[s] = Int64(s * m.prefix) }
        outputRow.initialize(repeating: Int64(inputRows), count: sequences)
        outputCount.initialize(repeating: 0, count: sequences)
        let h = m.hidden, capacity = sequences * m.length
        e = FloatBuffer(count: capacity * h)
        tmp = FloatBuffer(count: capacity * h)
        normed = FloatBuffer(count: capacity * h)
        context = FloatBuffer(count: capacity * h)
        up = FloatBuffer(count: capacity * m.ffn)
        xhatOut = FloatBuffer(count: capacity * h)
        rstdOut = FloatBuffer(count: capacity)
        logits = FloatBuffer(count: capacity * m.vocab)
        film = FloatBuffer(count: m.blocks.count * 2 * h)
        filmGrad = FloatBuffer(count: backward ? m.blocks.count * 2 * h : 0)
        grad = FloatBuffer(count: backward ? capacity * h : 0)
        qkvGrad = FloatBuffer(count: backward ? capacity * 3 * h : 0)
        scratch = FloatBuffer(count: Int(recur_prefix_attention_scratch(Int64(m.length), Int64(m.headDim))) * threads)
        layers = m.blocks.map { _ in Layer(model: m, rows: capacity, sequences: sequences, backward: backward) }
    }

    deinit {
        inputRow.deallocate()
        outputRow.deallocate()
        outputCount.deallocate()
    }

    /// A fit's layout: sequence s keeps `outputCounts[s]` (at most `length - prefix`) output
    /// positions, right after the outputs of the sequences before it.
    func layOutFit(outputCounts: [Int]) {
        var at = inputRows
        for (s, count) in outputCounts.enumerated() {
            outputRow[s] = Int64(at)
            outputCount[s] = Int64(count)
            at += count
        }
        rows = at
        outputStep = 1
    }

    /// A decoding layout for answers of up to `maxOutput` bytes: output position t of sequence s
    /// at row `inputRows + t * sequences + s`; no output positions yet (`setOutputCount` adds them).
    func layOutDecoding(maxOutput: Int) {
        for s in 0..<sequences { outputRow[s] = Int64(inputRows + s) }
        outputCount.update(repeating: 0, count: sequences)
        rows = inputRows + sequences * maxOutput
        outputStep = sequences
    }

    /// Output positions each sequence has (decoding: all of them, one more per step).
    func setOutputCount(_ count: Int) {
        outputCount.update(repeating: Int64(count), count: sequences)
    }

    func outputCount(_ s: Int) -> Int { Int(outputCount[s]) }

    /// The row of sequence s's position.
    func row(sequence s: Int, position: Int) -> Int {
        position < prefix ? Int(inputRow[s]) + position : Int(outputRow[s]) + (position - prefix) * outputStep
    }

    /// The layout for the kernels.
    func withBatch<R>(_ body: (UnsafePointer<recur_prefix_batch>) -> R) -> R {
        var batch = recur_prefix_batch(sequences: Int64(sequences), prefix: Int64(prefix), positions: Int64(positions), output_step: Int64(outputStep),
                                       input_row: inputRow, output_row: outputRow, output_count: outputCount)
        return body(&batch)
    }

    /// e = token_embd[token] + position_embd[position] for the positions the layout keeps of
    /// `tokens` (`[sequences * length]`).
    func embed(model m: RuleModel, tokens: [Int32]) {
        for s in 0..<sequences {
            for position in 0..<(prefix + outputCount(s)) {
                embed(model: m, row: row(sequence: s, position: position), token: tokens[s * positions + position], position: position)
            }
        }
    }

    /// e of `rows`, row i from `tokens[i]` at `position(row)`.
    func embed(model m: RuleModel, rows: Range<Int>, tokens: [Int32], position: (Int) -> Int) {
        for (r, token) in zip(rows, tokens) { embed(model: m, row: r, token: token, position: position(r)) }
    }

    private func embed(model m: RuleModel, row r: Int, token: Int32, position: Int) {
        let h = m.hidden
        recur_f32_add(m.embedding.pointer + Int(token) * h, m.positions.pointer + position * h, e.pointer + r * h, Int64(h))
    }
}

/// The example pairs of one fit laid out for the model (`RulePass`, outputs after the last
/// target dropped), with the buffers of the forward and backward passes and the part of the
/// forward pass that z does not change (the embeddings and the first block before its FiLM),
/// computed once here. The loss runs on the head rows: the output positions, or every position
/// when a target sits in an input position.
public final class RuleTape {
    let pass: RulePass
    /// Rows the last block's queries, the output and the loss run on; positions from `queryFrom`.
    let headRows: Range<Int>
    let queryFrom: Int
    /// Each head row's target (-1: none) and weight (1 / (the pair's targets * pairs)).
    let targets: [Int32]
    let weights: [Float]
    /// d loss / d z after `RuleModel.lossAndGradient(z:l2:tape:)`.
    let gradient: FloatBuffer

    /// `tokens` and `targets`: `[pairs * length]`, as `RuleModel.sequence` makes them.
    public convenience init(model m: RuleModel, tokens: [Int32], targets: [Int32]) throws {
        try self.init(model: m, tokens: tokens, targets: targets, pass: nil)
    }

    /// The same on `pass`'s buffers when given (a backward pass for as many sequences as pairs).
    init(model m: RuleModel, tokens: [Int32], targets: [Int32], pass reused: RulePass?) throws {
        try m.checkTokens(tokens)
        guard targets.count == tokens.count else { throw ModelError.badInput("\(targets.count) targets for \(tokens.count) tokens") }
        let pairs = tokens.count / m.length
        let targeted = targets.indices.filter { targets[$0] >= 0 }
        let outputsOnly = targeted.allSatisfy { $0 % m.length >= m.prefix }
        let counts = (0..<pairs).map { p in
            outputsOnly ? (targeted.last { $0 / m.length == p }.map { $0 % m.length - m.prefix + 1 } ?? 0) : m.length - m.prefix
        }
        pass = reused ?? RulePass(model: m, sequences: pairs, backward: true)
        precondition(pass.sequences == pairs && pass.backward, "a pass for \(pass.sequences) sequences cannot fit \(pairs) pairs")
        pass.layOutFit(outputCounts: counts)
        headRows = outputsOnly ? pass.inputRows..<pass.rows : 0..<pass.rows
        queryFrom = outputsOnly ? m.prefix : 0
        var headTargets = [Int32](repeating: -1, count: headRows.count), headWeights = [Float](repeating: 0, count: headRows.count)
        for p in 0..<pairs {
            let count = max(targeted.filter { $0 / m.length == p }.count, 1)
            for position in 0..<(m.prefix + counts[p]) {
                let r = pass.row(sequence: p, position: position)
                guard headRows.contains(r) else { continue }
                headTargets[r - headRows.lowerBound] = targets[p * m.length + position]
                headWeights[r - headRows.lowerBound] = 1 / (Float(count) * Float(pairs))
            }
        }
        self.targets = headTargets
        weights = headWeights
        gradient = FloatBuffer(count: m.latent)
        pass.embed(model: m, tokens: tokens)
        m.prepareFirstBlock(self)
    }
}

/// A linear layer of the rule-latent model (weight `[out, in]`, PyTorch's layout, and bias),
/// the weight packed for `recur_f32_packed_gemm` as W^T for the forward pass (y = x W^T + b) and
/// as W for the input gradient (dx = dy W), the latter in `parts` (consecutive ranges of output
/// features, e.g. q and then k v), so the gradient can come from some outputs only. The weights
/// stay fixed, so no weight gradient is ever formed.
struct RuleLinear {
    let transposed, bias: FloatBuffer
    let straight: [FloatBuffer]
    let parts: [Range<Int>]
    let outFeatures, inFeatures: Int

    init(weight: FloatBuffer, bias: FloatBuffer, out: Int, in inFeatures: Int, parts: [Range<Int>]? = nil) {
        outFeatures = out
        self.inFeatures = inFeatures
        self.bias = bias
        self.parts = parts ?? [0..<out]
        transposed = FloatBuffer(count: Int(recur_f32_packed_size(Int64(inFeatures), Int64(out))))
        recur_f32_pack_transposed(weight.pointer, Int64(out), Int64(inFeatures), transposed.pointer)
        straight = self.parts.map { part in
            let packed = FloatBuffer(count: Int(recur_f32_packed_size(Int64(part.count), Int64(inFeatures))))
            recur_f32_pack(weight.pointer + part.lowerBound * inFeatures, Int64(part.count), Int64(inFeatures), packed.pointer)
            return packed
        }
    }

    /// Whether `forward` can compute output features from `column` alone (packed panels hold 16).
    static func sliceable(at column: Int) -> Bool { column % 16 == 0 }

    /// y = x W^T + b over `rows` rows (x contiguous), output features `columns` (starting on a
    /// panel, see `sliceable`) written at y (row stride `yStride`, default their count).
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, columns: Range<Int>? = nil, yStride: Int? = nil) {
        let columns = columns ?? 0..<outFeatures
        precondition(Self.sliceable(at: columns.lowerBound), "output features from \(columns.lowerBound) are not on a packed panel")
        recur_f32_packed_gemm(x, Int64(inFeatures), transposed.pointer + columns.lowerBound * inFeatures, Int64(inFeatures), Int64(columns.count),
                              bias.pointer + columns.lowerBound, nil, 0, y, Int64(yStride ?? columns.count), Int64(rows), 0)
    }

    /// dx (+)= dy W over `rows` rows of the output features of `part` (dy at row stride
    /// `dyStride`, default the part's size; dx contiguous), multiplied element-wise by `times`
    /// (rows of `in` values) when given; `accumulate` adds to dx.
    func inputGradient(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, part: Int = 0, dyStride: Int? = nil,
                       times: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
        let k = parts[part].count
        recur_f32_packed_gemm(dy, Int64(dyStride ?? k), straight[part].pointer, Int64(k), Int64(inFeatures), nil, times, Int64(inFeatures),
                              dx, Int64(inFeatures), Int64(rows), accumulate ? 1 : 0)
    }
}
