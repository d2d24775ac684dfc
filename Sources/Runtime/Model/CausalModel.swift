import CKernels

/// A causal language model loaded from GGUF through its family's description: token embedding,
/// the schedule's passes over pre-norm decoder blocks, output norm and LM head.
///
/// One forward call feeds `n` new tokens of one sequence at positions `cache.count ..< cache.count + n`:
///
///     h = embed(tokens) * embeddingScale
///     for pass in schedule.passes {                 // a flat decoder: every layer once
///         for block in stacks[pass.stack] {         // virtual layer v = one KV-cache entry
///             h = h + attn_output(attention(rope(q, k), cache[v] += (k, v)))   // on norm(h)
///             h = h + ffn_down(silu(ffn_gate(norm(h))) * ffn_up(norm(h)))
///         }
///     }
///     logits = output(output_norm(h))               // the last row, or every row
///
/// Prompts run as GEMMs in batches of up to `Workspace.maxBatch` rows, decoding as GEMVs.
public final class CausalModel: @unchecked Sendable {
    public let description: ModelDescription
    public let file: GGUFFile
    let embedding: EmbeddingTable
    let stacks: [String: [DecoderBlock]]
    let passes: [Schedule.Pass]
    let outputNorm: Norm?
    let output: Linear
    let attention: AttentionSpec

    public var path: String { file.path }
    public var hiddenSize: Int { description.hiddenSize }
    public var vocabSize: Int { description.vocabSize }
    /// KV-cache entries per token position: one per block of every pass.
    public var virtualLayers: Int { passes.reduce(0) { $0 + (stacks[$1.stack]?.count ?? 0) } }
    /// Floats of keys (or of values) one position stores in one virtual layer.
    var kvWidth: Int { attention.kvHeads * attention.headDim }

    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    public init(file: GGUFFile) throws {
        let d = try ModelFamilies.describe(file)
        guard d.isCausal else {
            throw ModelError.badMetadata(file: file.path, detail: "'\(d.architecture)' is not a causal language model (use `recur solve`)")
        }
        self.file = file
        description = d
        let loader = WeightLoader(file: file)
        embedding = try EmbeddingTable(file: file, name: "token_embd.weight", rows: d.vocabSize, hidden: d.hiddenSize)
        var attention: AttentionSpec?
        var stacks: [String: [DecoderBlock]] = [:]
        for stack in d.stacks {
            guard stack.block.placement == .pre, case let .attention(a) = stack.block.mixer, a.causal else {
                throw ModelError.badMetadata(file: file.path, detail: "stack '\(stack.name)': the decoder runs pre-norm causal attention blocks only")
            }
            guard stack.block.mlp == .swiglu else {
                throw ModelError.badMetadata(file: file.path, detail: "stack '\(stack.name)': channel MLP \(stack.block.mlp.rawValue) is not supported by the decoder yet")
            }
            if let attention, attention != a {
                throw ModelError.badMetadata(file: file.path, detail: "stacks with different attention shapes are not supported")
            }
            attention = a
            stacks[stack.name] = try (0..<stack.layers).map {
                try DecoderBlock(loading: "\(stack.tensorPrefix).\($0)", spec: stack.block, attention: a, hidden: d.hiddenSize, from: loader)
            }
        }
        guard let attention else { throw ModelError.badMetadata(file: file.path, detail: "no attention stack") }
        self.attention = attention
        self.stacks = stacks
        passes = d.schedule.passes
        for pass in passes where stacks[pass.stack] == nil {
            throw ModelError.badMetadata(file: file.path, detail: "the schedule names stack '\(pass.stack)', which the file lacks")
        }
        outputNorm = try d.outputNorm.map { try Norm(loading: "output_norm", spec: $0, dim: d.hiddenSize, from: loader) }
        output = try loader.linear(d.tiedOutput ? "token_embd" : "output", out: d.vocabSize, in: d.hiddenSize)
    }

    /// Activation scratch bytes the largest linear needs at `rows` rows.
    func quantScratchBytes(rows: Int) -> Int {
        let linears = [output] + stacks.values.flatMap { $0.flatMap(\.linears) }
        return linears.map { $0.scratchBytes(rows: rows) }.max() ?? 0
    }

    var needsSwiGLUBuffer: Bool { stacks.values.contains { $0.contains { !$0.down.isQuantized } } }

    /// Runs `tokens` through the model at the cache's next positions, appends their keys and values
    /// to `cache`, and writes logits: of the last token (`allLogits` false, `[vocab]`) or of every
    /// token (`[tokens.count, vocab]`, teacher forcing and perplexity) into `ws.logits`.
    func forward(_ tokens: ArraySlice<Int32>, cache: KVCache, ws: DecoderWorkspace, allLogits: Bool) {
        var start = tokens.startIndex
        while start < tokens.endIndex {
            let end = min(start + ws.maxBatch, tokens.endIndex)
            let logitsRow = allLogits ? ws.logits.pointer + (start - tokens.startIndex) * vocabSize : ws.logits.pointer
            let head: HeadRows = allLogits ? .all : end == tokens.endIndex ? .last : .none
            forwardBatch(tokens[start..<end], cache: cache, ws: ws, logits: logitsRow, head: head)
            start = end
        }
    }

    /// Which rows of a batch go through the LM head.
    private enum HeadRows { case none, last, all }

    /// One decode step of several sequences at once (continuous batching): row `i` is `tokens[i]`,
    /// the next token of the sequence whose cache is `caches[i]`, at that cache's next position.
    /// The linear layers run as one GEMM over every row, so the weights are read once for all the
    /// sequences; attention runs row by row against each row's own cache. Writes the logits of
    /// every row, `[tokens.count, vocab]`, into `ws.logits` (reserved by the caller).
    func decodeStep(_ tokens: [Int32], caches: [KVCache], ws: DecoderWorkspace) {
        let n = tokens.count
        precondition(n == caches.count && n <= ws.maxBatch && ws.logits.count >= n * vocabSize)
        let h = ws.hidden.pointer
        ws.time(.embedding) { embedding.lookup(tokens[...], scale: description.embeddingScale, into: h) }
        for i in 0..<n { ws.positions[i] = Int32(caches[i].count) }
        var layer = 0
        for pass in passes {
            for block in stacks[pass.stack]! {
                block.forward(h, rows: n, caches: .rows(caches), layer: layer, attention: attention, ws: ws)
                layer += 1
            }
        }
        for cache in caches { cache.count += 1 }
        ws.time(.outputNorm) {
            if let outputNorm { outputNorm(h, ws.normed.pointer, rows: n) } else { ws.normed.pointer.update(from: h, count: n * hiddenSize) }
        }
        ws.linear(.outputHead, output, ws.normed.pointer, ws.logits.pointer, rows: n)
    }

    private func forwardBatch(_ tokens: ArraySlice<Int32>, cache: KVCache, ws: DecoderWorkspace, logits: UnsafeMutablePointer<Float>, head: HeadRows) {
        let n = tokens.count, hidden = hiddenSize, pos0 = cache.count
        let h = ws.hidden.pointer
        ws.time(.embedding) { embedding.lookup(tokens, scale: description.embeddingScale, into: h) }
        for i in 0..<n { ws.positions[i] = Int32(pos0 + i) }
        var layer = 0
        for pass in passes {
            for block in stacks[pass.stack]! {
                block.forward(h, rows: n, caches: .sequence(cache, pos0: pos0), layer: layer, attention: attention, ws: ws)
                layer += 1
            }
        }
        cache.count = pos0 + n
        // The LM head: every row for teacher forcing, else only the prompt's last one.
        if head == .none { return }
        let rows = head == .all ? n : 1
        let first = h + (n - rows) * hidden
        ws.time(.outputNorm) {
            if let outputNorm { outputNorm(first, ws.normed.pointer, rows: rows) } else { ws.normed.pointer.update(from: first, count: rows * hidden) }
        }
        ws.linear(.outputHead, output, ws.normed.pointer, logits, rows: rows)
    }
}

/// A weighted norm (RMS or LayerNorm) of one block or the output.
struct Norm {
    let spec: NormSpec
    let weight: FloatBuffer?
    let bias: FloatBuffer?

    init(loading name: String, spec: NormSpec, dim: Int, from loader: WeightLoader) throws {
        self.spec = spec
        weight = spec.weighted ? try loader.floats("\(name).weight", shape: [dim]) : nil
        bias = spec.bias ? try loader.floats("\(name).bias", shape: [dim]) : nil
    }

    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int) {
        let dim = Int64(weight?.count ?? bias?.count ?? 0)
        switch spec.kind {
        case .rms: recur_f32_rms_norm_weighted(x, weight?.pointer, y, Int64(rows), dim, spec.epsilon)
        case .layer: recur_f32_layer_norm(x, weight?.pointer, bias?.pointer, y, Int64(rows), dim, spec.epsilon)
        }
    }
}

/// One pre-norm decoder block: `h += attn(norm(h)); h += mlp(norm(h))`.
final class DecoderBlock: @unchecked Sendable {
    let attentionNorm: Norm
    let qkv: Linear
    let attentionOutput: Linear
    let mlpNorm: Norm
    let gateUp: Linear
    let down: Linear

    init(loading prefix: String, spec: BlockSpec, attention a: AttentionSpec, hidden: Int, from loader: WeightLoader) throws {
        attentionNorm = try Norm(loading: "\(prefix).attn_norm", spec: spec.norm, dim: hidden, from: loader)
        mlpNorm = try Norm(loading: "\(prefix).ffn_norm", spec: spec.norm, dim: hidden, from: loader)
        switch a.projection {
        case .fused:
            qkv = try loader.joined([("\(prefix).attn_qkv", a.qkvWidth)], in: hidden, biases: a.biases ? ["\(prefix).attn_qkv"] : [])
        case .split:
            let parts = [("\(prefix).attn_q", a.heads * a.headDim), ("\(prefix).attn_k", a.kvHeads * a.headDim), ("\(prefix).attn_v", a.kvHeads * a.headDim)]
            qkv = try loader.joined(parts.map { (name: $0.0, out: $0.1) }, in: hidden, biases: a.biases ? parts.map(\.0) : [])
        }
        attentionOutput = try loader.linear("\(prefix).attn_output", out: hidden, in: a.heads * a.headDim)
        gateUp = try loader.stacked("\(prefix).ffn_gate", "\(prefix).ffn_up", out: spec.mlpWidth, in: hidden)
        down = try loader.linear("\(prefix).ffn_down", out: hidden, in: spec.mlpWidth)
    }

    var linears: [Linear] { [qkv, attentionOutput, gateUp, down] }

    /// Where the rows of a forward call keep their keys and values.
    enum RowCaches {
        /// Consecutive tokens of one sequence, the first at `pos0`.
        case sequence(KVCache, pos0: Int)
        /// One token per row, each of its own sequence, at that cache's next position.
        case rows([KVCache])
    }

    func forward(_ h: UnsafeMutablePointer<Float>, rows n: Int, caches: RowCaches, layer: Int, attention a: AttentionSpec, ws: DecoderWorkspace) {
        let hidden = attentionNorm.weight?.count ?? 0
        let count = Int64(n * hidden)
        let qkvWidth = a.qkvWidth, qWidth = a.heads * a.headDim, kvWidth = a.kvHeads * a.headDim
        ws.time(.norm) { attentionNorm(h, ws.normed.pointer, rows: n) }
        ws.linear(.qkv, qkv, ws.normed.pointer, ws.qkv.pointer, rows: n)
        if case let .rope(base, dims, layout) = a.positions {
            ws.time(.rope) {
                let neox: Int32 = layout == .halves ? 1 : 0
                recur_f32_rope_positions(ws.qkv.pointer, Int64(n), Int64(a.heads), Int64(a.headDim), Int64(dims), Int64(qkvWidth), ws.positions, base, neox)
                recur_f32_rope_positions(ws.qkv.pointer + qWidth, Int64(n), Int64(a.kvHeads), Int64(a.headDim), Int64(dims), Int64(qkvWidth), ws.positions, base, neox)
            }
        }
        let scale = 1 / Float(a.headDim).squareRoot()
        // Keys and values of row i go to position `start + i` of its cache; its query attends to
        // every position up to that one.
        func attend(_ cache: KVCache, rows: Range<Int>, start: Int) {
            let keys = cache.keys(layer), values = cache.values(layer)
            ws.time(.kvStore) {
                for i in rows {
                    let row = ws.qkv.pointer + i * qkvWidth, position = start + i - rows.lowerBound
                    (keys + position * kvWidth).update(from: row + qWidth, count: kvWidth)
                    (values + position * kvWidth).update(from: row + qWidth + kvWidth, count: kvWidth)
                }
            }
            ws.time(.attention) {
                recur_f32_causal_attention(ws.qkv.pointer + rows.lowerBound * qkvWidth, Int64(qkvWidth), keys, values, Int64(kvWidth),
                                           ws.attention.pointer + rows.lowerBound * qWidth, Int64(qWidth),
                                           Int64(rows.count), Int64(start), Int64(a.heads), Int64(a.kvHeads), Int64(a.headDim),
                                           scale, ws.attentionScratch.pointer)
            }
        }
        switch caches {
        case let .sequence(cache, pos0): attend(cache, rows: 0..<n, start: pos0)
        case let .rows(caches): for (i, cache) in caches.enumerated() { attend(cache, rows: i..<i + 1, start: cache.count) }
        }
        ws.linear(.attentionOutput, attentionOutput, ws.attention.pointer, ws.projection.pointer, rows: n)
        ws.time(.residual) { recur_f32_add(h, ws.projection.pointer, h, count) }
        ws.time(.norm) { mlpNorm(h, ws.normed.pointer, rows: n) }
        ws.linear(.ffnGateUp, gateUp, ws.normed.pointer, ws.gateUp.pointer, rows: n)
        ws.swigluLinear(.ffnDown, fused: .ffnSwigluDown, down, rows: n, ws.projection.pointer)
        ws.time(.residual) { recur_f32_add(h, ws.projection.pointer, h, count) }
    }
}
