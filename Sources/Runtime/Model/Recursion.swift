import CKernels

/// What a recursive language model (docs/recursive-lm.md) adds to a decoder: learned initial
/// states, the per-token Q-head, the memory bank, and the ACT loop. Each token runs the
/// description's schedule as one ACT step, again and again, until its Q-head halts it:
///
///     z_H, z_L = h_init, l_init;  x = sqrt(hidden) * embed(token)
///     for step in 0 ..< maxSteps {
///         for pass in schedule {                      // TRM or HRM: L passes, then the H pass
///             state = state + (injection)             // z_L + (z_H + x), z_H + z_L
///             for block in stacks[pass.stack] { state = block(state) }   // keys -> cache[step][v]
///             if pass.readsMemory { z_H = z_H + memory.read(z_H) }
///         }
///         (q_halt, q_continue) = q_head(z_H);  if halts(q) { break }
///     }
///     logits = lm_head(z_H)
///
/// Every row of a call is one position of one sequence; rows halt on their own, and the rows
/// still running are packed to the front so each step's GEMMs cover only them. Attention at step
/// s reads step s's keys of earlier positions; a position that halted earlier contributes those
/// of its last step (`KVCache.fill`).
struct Recursion {
    let hInit: FloatBuffer
    let lInit: FloatBuffer
    /// The attached halting head (`qhead.kind`) when the file has one, else the official linear one.
    let head: QHead
    let memory: MemoryBank?
    let maxSteps: Int
    let rule: ModelConfig.HaltRule
    /// Virtual layers of one ACT step: cache layer `step * stepLayers + v`.
    let stepLayers: Int

    init(file: GGUFFile, description d: ModelDescription, halting: HaltingSpec, loader: WeightLoader, stepLayers: Int) throws {
        hInit = try loader.floats("h_init", shape: [d.hiddenSize])
        lInit = try loader.floats("l_init", shape: [d.hiddenSize])
        head = try QHeadLoader.effective(file: file)
        guard head.inputSize == d.hiddenSize else {
            throw ModelError.badMetadata(file: file.path, detail: "the Q-head reads \(head.inputSize) inputs, the model's hidden size is \(d.hiddenSize)")
        }
        memory = try d.memory.map { try MemoryBank(spec: $0, hidden: d.hiddenSize, loader: loader) }
        maxSteps = halting.maxSteps
        rule = halting.rule
        self.stepLayers = stepLayers
    }

    /// Where a call's logits go: nowhere, the last row's, or every row's (`[rows, vocab]`).
    enum Logits {
        case none
        case last(UnsafeMutablePointer<Float>)
        case all(UnsafeMutablePointer<Float>)
    }

    /// `tokens` of one sequence at the cache's next positions, in chunks of `ws.maxBatch`.
    func forward(_ model: CausalModel, _ tokens: ArraySlice<Int32>, cache: KVCache, ws: DecoderWorkspace, allLogits: Bool) {
        var start = tokens.startIndex
        while start < tokens.endIndex {
            let end = min(start + ws.maxBatch, tokens.endIndex)
            let pos0 = cache.count
            let logits: Logits = allLogits ? .all(ws.logits.pointer + (start - tokens.startIndex) * model.vocabSize)
                : end == tokens.endIndex ? .last(ws.logits.pointer) : .none
            evaluate(model, tokens: tokens[start..<end], at: (0..<(end - start)).map { (cache, pos0 + $0) }, ws: ws, logits: logits)
            start = end
        }
    }

    /// Runs ACT steps for every row (`tokens[i]` at `places[i]`) until each halts, then advances
    /// each cache past its rows and writes the logits asked for.
    func evaluate(_ model: CausalModel, tokens: ArraySlice<Int32>, at places: [(cache: KVCache, position: Int)], ws: DecoderWorkspace, logits: Logits) {
        let n = tokens.count, hidden = model.hiddenSize
        guard n > 0, let r = ws.recursive else { return }
        let states = r.rows
        start(tokens, rows: 0..<n, in: states, model: model, ws: ws)
        // active[j]: the row whose state is in work row j.
        var active = Array(0..<n)
        let limit = min(ws.stepLimit, maxSteps)
        for step in 0..<limit {
            let m = active.count
            for (j, i) in active.enumerated() { ws.positions[j] = Int32(places[i].position) }
            let runs = Self.runs(active, places, layerBase: step * stepLayers)
            for run in runs { run.cache.fill(step: step, upTo: run.start) }
            runStep(model, states, rows: m, runs: runs, ws: ws)
            for run in runs { run.cache.markWritten(step: step, upTo: run.start + run.rows.count) }

            ws.time(.haltingHead) { states.head.evaluate(states.zH.pointer, q: states.q.pointer, batch: m) }
            var kept = 0
            for (j, i) in active.enumerated() {
                if halts(states, row: j, step: step, limit: limit, ws: ws) {
                    places[i].cache.setSteps(step + 1, at: places[i].position)
                    (r.final.pointer + i * hidden).update(from: states.zH.pointer + j * hidden, count: hidden)
                    continue
                }
                if kept != j { states.move(from: j, to: kept, hidden: hidden) }
                active[kept] = i
                kept += 1
            }
            active.removeLast(m - kept)
            if active.isEmpty { break }
        }
        for (cache, position) in places where cache.count < position + 1 { cache.count = position + 1 }

        switch logits {
        case .none: break
        case let .last(out): ws.linear(.outputHead, model.output, r.final.pointer + (n - 1) * hidden, out, rows: 1)
        case let .all(out): ws.linear(.outputHead, model.output, r.final.pointer, out, rows: n)
        }
    }

    /// Step-granular decoding, the continuous batching of the puzzle runner at the level of ACT
    /// steps: every token in flight (one per sequence, its cache's next position) runs one ACT
    /// step at its own step; `entering` tokens join at step 0 first. Tokens that halt leave the
    /// flight, their caches advance, and their logits fill `ws.logits` rows in the order of the
    /// ids returned. A sequence's tokens and halting steps are those `evaluate` gives: its earlier
    /// positions have all halted before its next token enters, whatever the other rows do.
    func advance(_ model: CausalModel, entering: [(id: Int, token: Int32, cache: KVCache)], ws: DecoderWorkspace) -> [Int] {
        guard let r = ws.recursive else { return [] }
        let states = r.flight, hidden = model.hiddenSize
        precondition(r.inFlight.count + entering.count <= ws.maxBatch, "more tokens in flight than the workspace has rows")
        if !entering.isEmpty {
            let first = r.inFlight.count
            start(entering.map(\.token)[...], rows: first..<first + entering.count, in: states, model: model, ws: ws)
            r.inFlight += entering.map { FlightRow(id: $0.id, cache: $0.cache, position: $0.cache.count, step: 0) }
        }
        let m = r.inFlight.count
        guard m > 0 else { return [] }
        for (j, row) in r.inFlight.enumerated() { ws.positions[j] = Int32(row.position) }
        let runs = r.inFlight.enumerated().map { j, row in
            AttentionRun(cache: row.cache, rows: j..<j + 1, start: row.position, layerBase: row.step * stepLayers)
        }
        for row in r.inFlight { row.cache.fill(step: row.step, upTo: row.position) }
        runStep(model, states, rows: m, runs: runs, ws: ws)
        for row in r.inFlight { row.cache.markWritten(step: row.step, upTo: row.position + 1) }

        ws.time(.haltingHead) { states.head.evaluate(states.zH.pointer, q: states.q.pointer, batch: m) }
        let limit = min(ws.stepLimit, maxSteps)
        var halted: [Int] = []
        var kept = 0
        for j in 0..<m {
            var row = r.inFlight[j]
            if halts(states, row: j, step: row.step, limit: limit, ws: ws) {
                row.cache.setSteps(row.step + 1, at: row.position)
                row.cache.count = row.position + 1
                (r.final.pointer + halted.count * hidden).update(from: states.zH.pointer + j * hidden, count: hidden)
                halted.append(row.id)
                continue
            }
            row.step += 1
            if kept != j { states.move(from: j, to: kept, hidden: hidden) }
            r.inFlight[kept] = row
            kept += 1
        }
        r.inFlight.removeLast(m - kept)
        if !halted.isEmpty { ws.linear(.outputHead, model.output, r.final.pointer, ws.logits.pointer, rows: halted.count) }
        return halted
    }

    /// Drops the token in flight for `id` (a cancelled sequence); its cache forgets the entries
    /// the token wrote.
    func abandon(id: Int, ws: DecoderWorkspace) {
        guard let r = ws.recursive, let j = r.inFlight.firstIndex(where: { $0.id == id }) else { return }
        let row = r.inFlight.remove(at: j)
        row.cache.truncate(to: row.cache.count)
        let hidden = hInit.count
        for k in j..<r.inFlight.count { r.flight.move(from: k + 1, to: k, hidden: hidden) }
    }

    /// Starts `tokens` in `rows` of `states`: embeddings, initial states, a fresh Q-head state.
    private func start(_ tokens: ArraySlice<Int32>, rows: Range<Int>, in states: RowStates, model: CausalModel, ws: DecoderWorkspace) {
        let hidden = model.hiddenSize
        ws.time(.embedding) { model.embedding.lookup(tokens, scale: model.description.embeddingScale, into: states.x.pointer + rows.lowerBound * hidden) }
        for i in rows {
            (states.zH.pointer + i * hidden).update(from: hInit.pointer, count: hidden)
            (states.zL.pointer + i * hidden).update(from: lInit.pointer, count: hidden)
            states.head.reset(slot: i)
        }
    }

    /// Whether work row `j`, which has just run ACT step `step`, stops: the step cap, or the policy.
    private func halts(_ states: RowStates, row j: Int, step: Int, limit: Int, ws: DecoderWorkspace) -> Bool {
        let q = states.q.pointer + 2 * j
        return step + 1 >= limit || ws.halting.halts(rule: rule, qHalt: q[0], qContinue: q[1])
    }

    /// Work rows grouped into runs of one cache at consecutive positions (a prompt chunk is one
    /// run until some of its positions halt; a decode step has one run per sequence).
    static func runs(_ active: [Int], _ places: [(cache: KVCache, position: Int)], layerBase: Int) -> [AttentionRun] {
        var runs: [AttentionRun] = []
        var first = 0
        for j in active.indices {
            let next = j + 1
            if next < active.count, places[active[next]].cache === places[active[j]].cache,
               places[active[next]].position == places[active[j]].position + 1 { continue }
            runs.append(AttentionRun(cache: places[active[first]].cache, rows: first..<next, start: places[active[first]].position, layerBase: layerBase))
            first = next
        }
        return runs
    }

    /// One ACT step of the first `m` work rows, in place: the schedule's passes with their
    /// injections, blocks and memory reads.
    private func runStep(_ model: CausalModel, _ states: RowStates, rows m: Int, runs: [AttentionRun], ws: DecoderWorkspace) {
        guard let r = ws.recursive else { return }
        func state(_ name: String) -> UnsafeMutablePointer<Float> {
            switch name {
            case "z_H": return states.zH.pointer
            case "z_L": return states.zL.pointer
            case "x": return states.x.pointer
            default: preconditionFailure("the recursive schedule names an unknown state '\(name)'")
            }
        }
        var layer = 0
        for pass in model.passes {
            let target = state(pass.state)
            ws.time(.inject) { addInjection(to: target, from: pass.inject.map { UnsafePointer(state($0)) }, count: m * model.hiddenSize, scratch: r.injection.pointer) }
            for block in model.stacks[pass.stack]! {
                block.forward(target, rows: m, runs: runs, layer: layer, attention: model.attention, ws: ws)
                layer += 1
            }
            if pass.readsMemory, let memory { memory.read(into: target, rows: m, ws: ws) }
        }
    }
}

/// `target += (sources[0] + sources[1] + ...)`: the injection is summed left to right first and
/// then added, the order of the official TRM code (`z_L + (z_H + x)`), so results match bit for bit.
func addInjection(to target: UnsafeMutablePointer<Float>, from sources: [UnsafePointer<Float>], count: Int, scratch: UnsafeMutablePointer<Float>) {
    let n = Int64(count)
    switch sources.count {
    case 0: break
    case 1: recur_f32_add(target, sources[0], target, n)
    default:
        recur_f32_add(sources[0], sources[1], scratch, n)
        for extra in sources.dropFirst(2) { recur_f32_add(scratch, extra, scratch, n) }
        recur_f32_add(target, scratch, target, n)
    }
}

/// The recursive LM's memory bank: `slots` fixed rows read by multi-head attention from a state
/// and added to it. The bank's keys and values (`attn_k(bank)`, `attn_v(bank)`) do not depend on
/// the input, so they are computed once at load, in F32.
final class MemoryBank: @unchecked Sendable {
    /// Query rows per bank read: the scores of this many rows against every slot are one
    /// scratch panel per thread.
    static let rowsPerRead = 16

    let slots: Int
    let heads: Int
    let hidden: Int
    let query: Linear
    let output: Linear
    /// attn_k(bank) and attn_v(bank), computed at load, head-major: head h's slots x head_dim
    /// panel is contiguous, so a read streams each panel once. F32 when the bank's projections
    /// are F32 or F16 in the file (the reference's numbers), F16 (`half`) when they are quantized
    /// (half the bytes a read streams, as llama.cpp keeps its KV cache in F16).
    let keys: RawBuffer
    let values: RawBuffer
    let half: Bool

    init(spec: MemoryBankSpec, hidden: Int, loader: WeightLoader) throws {
        slots = spec.slots
        heads = spec.heads
        self.hidden = hidden
        query = try loader.linear("memory.attn_q", out: hidden, in: hidden)
        output = try loader.linear("memory.attn_output", out: hidden, in: hidden)
        let keyProjection = try loader.linear("memory.attn_k", out: hidden, in: hidden)
        let valueProjection = try loader.linear("memory.attn_v", out: hidden, in: hidden)
        let bank = try loader.floats("memory.bank", shape: [slots, hidden])
        let half = ![GGMLType.f32, .f16].contains(keyProjection.type) || ![GGMLType.f32, .f16].contains(valueProjection.type)
        let count = slots * hidden, chunk = 256, headDim = hidden / heads
        let keys = RawBuffer(byteCount: count * (half ? 2 : 4)), values = RawBuffer(byteCount: count * (half ? 2 : 4))
        self.keys = keys
        self.values = values
        self.half = half
        let scratch = RawBuffer(byteCount: max(keyProjection.scratchBytes(rows: chunk), valueProjection.scratchBytes(rows: chunk)))
        let projected = FloatBuffer(count: chunk * hidden), staged = FloatBuffer(count: chunk * hidden)
        for start in stride(from: 0, to: slots, by: chunk) {
            let rows = min(chunk, slots - start)
            for (projection, panel) in [(keyProjection, keys), (valueProjection, values)] {
                projection(bank.pointer + start * hidden, projected.pointer, rows: rows, scratch: scratch)
                // Rows start ..< start + rows of head h are one contiguous run of its panel.
                for h in 0..<heads {
                    for r in 0..<rows {
                        (staged.pointer + (h * rows + r) * headDim).update(from: projected.pointer + r * hidden + h * headDim, count: headDim)
                    }
                    let from = staged.pointer + h * rows * headDim, at = (h * slots + start) * headDim, n = rows * headDim
                    if half {
                        recur_f32_to_f16(from, panel.pointer.assumingMemoryBound(to: UInt16.self) + at, Int64(n))
                    } else {
                        (panel.pointer.assumingMemoryBound(to: Float.self) + at).update(from: from, count: n)
                    }
                }
            }
        }
    }

    /// `z = z + attn_output(softmax(attn_q(z) keys^T / sqrt(head_dim)) values)` for `m` rows:
    /// every row reads every slot (the bank has no order and no mask).
    func read(into z: UnsafeMutablePointer<Float>, rows m: Int, ws: DecoderWorkspace) {
        guard let r = ws.recursive else { return }
        let headDim = hidden / heads
        ws.linear(.memoryProjection, query, z, r.memoryQuery.pointer, rows: m)
        ws.time(.memoryRead, multiplyAdds: 2 * Double(m) * Double(slots) * Double(hidden)) {
            for first in stride(from: 0, to: m, by: Self.rowsPerRead) {
                let rows = min(Self.rowsPerRead, m - first)
                let q = r.memoryQuery.pointer + first * hidden, out = r.memoryRead.pointer + first * hidden
                let scale = 1 / Float(headDim).squareRoot()
                if half {
                    recur_f16_bank_attention(q, Int64(hidden), keys.pointer.assumingMemoryBound(to: UInt16.self),
                                             values.pointer.assumingMemoryBound(to: UInt16.self), Int64(slots), out, Int64(hidden), Int64(rows),
                                             Int64(heads), Int64(headDim), scale, ws.attentionScratch.pointer)
                } else {
                    recur_f32_bank_attention(q, Int64(hidden), keys.pointer.assumingMemoryBound(to: Float.self),
                                             values.pointer.assumingMemoryBound(to: Float.self), Int64(slots), out, Int64(hidden), Int64(rows),
                                             Int64(heads), Int64(headDim), scale, ws.attentionScratch.pointer)
                }
            }
        }
        ws.linear(.memoryProjection, output, r.memoryRead.pointer, ws.projection.pointer, rows: m)
        ws.time(.residual) { recur_f32_add(z, ws.projection.pointer, z, Int64(m * hidden)) }
    }
}
