import CKernels

/// A causal language model loaded from GGUF through its family's description: token embedding,
/// the schedule's passes over decoder blocks, output norm and LM head. A recursive LM (a
/// description with `halting`) runs the schedule as one ACT step, per token, until its Q-head
/// halts it: see `Recursion`.
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
    /// What a recursive language model adds (per-token ACT steps, Q-head, memory bank); nil for
    /// a flat decoder.
    let recursion: Recursion?
    /// The attention controller attached at load (`--controller`), if any.
    public let controller: AttentionController?

    public var path: String { file.path }
    public var hiddenSize: Int { description.hiddenSize }
    public var vocabSize: Int { description.vocabSize }
    /// KV-cache entries per token position and ACT step: one per block of every pass.
    public var virtualLayers: Int { passes.reduce(0) { $0 + (stacks[$1.stack]?.count ?? 0) } }
    /// ACT steps a token may run: the file's cap for a recursive LM, else 1.
    public var maxSteps: Int { recursion?.maxSteps ?? 1 }
    /// Whether tokens think for a number of ACT steps their Q-head decides.
    public var isRecursive: Bool { recursion != nil }

    /// A KV cache of `capacity` positions with an entry per virtual layer of every ACT step.
    func makeCache(capacity: Int) throws -> KVCache {
        try KVCache(layers: virtualLayers * maxSteps, capacity: capacity, width: kvWidth, steps: maxSteps)
    }
    /// Floats of keys (or of values) one position stores in one virtual layer.
    var kvWidth: Int { attention.kvHeads * attention.headDim }

    public convenience init(path: String, controller: String? = nil, alphaMax: Float? = nil) throws {
        try self.init(file: GGUFFile(path: path), controller: controller, alphaMax: alphaMax)
    }

    /// `controller`: a companion GGUF whose attention controller steers this model
    /// (docs/attention-controller.md); `alphaMax` overrides its gate's ceiling.
    public init(file: GGUFFile, controller: String? = nil, alphaMax: Float? = nil) throws {
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
            guard case let .attention(a) = stack.block.mixer, a.causal else {
                throw ModelError.badMetadata(file: file.path, detail: "stack '\(stack.name)': the decoder runs causal attention blocks only")
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
        let stepLayers = passes.reduce(0) { $0 + (stacks[$1.stack]?.count ?? 0) }
        recursion = try d.halting.map { try Recursion(file: file, description: d, halting: $0, loader: loader, stepLayers: stepLayers) }
        if controller == nil, alphaMax != nil { throw ModelError.badInput("--alpha-max needs a controller (--controller FILE)") }
        self.controller = try controller.map { try AttentionController(path: $0, model: d, alphaMax: alphaMax) }
    }

    /// The controller for block `layer` of a pass, if it steers that layer.
    private func steer(_ layer: Int) -> AttentionController? {
        guard let controller, controller.steps[layer] != nil else { return nil }
        return controller
    }

    /// Activation scratch bytes the largest linear needs at `rows` rows.
    func quantScratchBytes(rows: Int) -> Int {
        let linears = [output] + stacks.values.flatMap { $0.flatMap(\.linears) } + (recursion?.memory.map { [$0.query, $0.output] } ?? [])
            + (controller?.linears ?? [])
        return linears.map { $0.scratchBytes(rows: rows) }.max() ?? 0
    }

    var needsSwiGLUBuffer: Bool { stacks.values.contains { $0.contains { !$0.down.isQuantized } } }

    /// Runs `tokens` through the model at the cache's next positions, appends their keys and values
    /// to `cache`, and writes logits: of the last token (`allLogits` false, `[vocab]`) or of every
    /// token (`[tokens.count, vocab]`, teacher forcing and perplexity) into `ws.logits`.
    func forward(_ tokens: ArraySlice<Int32>, cache: KVCache, ws: DecoderWorkspace, allLogits: Bool) {
        if let recursion {
            recursion.forward(self, tokens, cache: cache, ws: ws, allLogits: allLogits)
            return
        }
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

    /// Recursive LMs: one ACT step of every token in flight, `entering` tokens joining at step 0
    /// (`Recursion.advance`); returns the ids of the tokens that halted, their logits in
    /// `ws.logits` rows in that order.
    func advanceACT(entering: [(id: Int, token: Int32, cache: KVCache)], ws: DecoderWorkspace) -> [Int] {
        recursion?.advance(self, entering: entering, ws: ws) ?? []
    }

    /// Drops the token in flight for `id` (`Recursion.abandon`).
    func abandonACT(id: Int, ws: DecoderWorkspace) { recursion?.abandon(id: id, ws: ws) }

    /// One decode step of several sequences at once (continuous batching): row `i` is `tokens[i]`,
    /// the next token of the sequence whose cache is `caches[i]`, at that cache's next position.
    /// The linear layers run as one GEMM over every row, so the weights are read once for all the
    /// sequences; attention runs row by row against each row's own cache. Writes the logits of
    /// every row, `[tokens.count, vocab]`, into `ws.logits` (reserved by the caller).
    func decodeStep(_ tokens: [Int32], caches: [KVCache], ws: DecoderWorkspace) {
        let n = tokens.count
        precondition(n == caches.count && n <= ws.maxBatch && ws.logits.count >= n * vocabSize)
        if let recursion {
            recursion.evaluate(self, tokens: tokens[...], at: caches.map { ($0, $0.count) }, ws: ws, logits: .all(ws.logits.pointer))
            return
        }
        let h = ws.hidden.pointer
        ws.time(.embedding) { embedding.lookup(tokens[...], scale: description.embeddingScale, into: h) }
        for i in 0..<n { ws.positions[i] = Int32(caches[i].count) }
        let runs = AttentionRun.nextPositions(caches)
        var layer = 0
        for pass in passes {
            for block in stacks[pass.stack]! {
                block.forward(h, rows: n, runs: runs, layer: layer, attention: attention, ws: ws, steer: steer(layer))
                layer += 1
            }
        }
        for cache in caches { cache.count += 1 }
        ws.steering?.keep(rows: n)
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
        let runs = AttentionRun.sequence(cache, rows: n, pos0: pos0)
        var layer = 0
        for pass in passes {
            for block in stacks[pass.stack]! {
                block.forward(h, rows: n, runs: runs, layer: layer, attention: attention, ws: ws, steer: steer(layer))
                layer += 1
            }
        }
        cache.count = pos0 + n
        ws.steering?.keep(rows: n)
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
