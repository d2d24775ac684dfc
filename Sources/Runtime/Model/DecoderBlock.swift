import CKernels

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

/// Consecutive rows of a forward call that belong to one sequence at consecutive positions: they
/// store their keys and values in `cache` at positions `start ..< start + rows.count`, in virtual
/// layer `layerBase + layer`, and row i attends to positions `0 ... start + i`.
struct AttentionRun {
    let cache: KVCache
    let rows: Range<Int>
    let start: Int
    /// First cache layer of the rows' ACT step (0 for a flat decoder).
    let layerBase: Int

    /// Consecutive tokens of one sequence, the first at `pos0`.
    static func sequence(_ cache: KVCache, rows: Int, pos0: Int) -> [AttentionRun] {
        [AttentionRun(cache: cache, rows: 0..<rows, start: pos0, layerBase: 0)]
    }

    /// One token per row, each the next position of its own sequence.
    static func nextPositions(_ caches: [KVCache]) -> [AttentionRun] {
        caches.enumerated().map { AttentionRun(cache: $0.element, rows: $0.offset..<$0.offset + 1, start: $0.element.count, layerBase: 0) }
    }
}

/// One decoder block with causal attention and a SwiGLU MLP, normalized before each sub-layer
/// (Llama: `h += attn(norm(h)); h += mlp(norm(h))`) or after each residual add (the recursive LM,
/// as TRM: `h = norm(h + attn(h)); h = norm(h + mlp(h))` with weightless RMS norms).
final class DecoderBlock: @unchecked Sendable {
    let placement: NormPlacement
    let hidden: Int
    let epsilon: Float
    /// The pre-norm blocks' weighted norms (nil after each residual add).
    let attentionNorm: Norm?
    let mlpNorm: Norm?
    let qkv: Linear
    let attentionOutput: Linear
    let gateUp: Linear
    let down: Linear

    init(loading prefix: String, spec: BlockSpec, attention a: AttentionSpec, hidden: Int, from loader: WeightLoader) throws {
        placement = spec.placement
        self.hidden = hidden
        epsilon = spec.norm.epsilon
        switch spec.placement {
        case .pre:
            attentionNorm = try Norm(loading: "\(prefix).attn_norm", spec: spec.norm, dim: hidden, from: loader)
            mlpNorm = try Norm(loading: "\(prefix).ffn_norm", spec: spec.norm, dim: hidden, from: loader)
        case .post:
            guard spec.norm.kind == .rms, !spec.norm.weighted, !spec.norm.bias else {
                throw ModelError.badMetadata(file: loader.file.path, detail: "\(prefix): post-norm blocks run weightless RMS norms only")
            }
            attentionNorm = nil
            mlpNorm = nil
        }
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

    /// `h = h + y` (pre-norm) or `h = rms_norm(h + y)` (post-norm).
    private func residual(_ h: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, rows n: Int, ws: DecoderWorkspace) {
        switch placement {
        case .pre: ws.time(.residual) { recur_f32_add(h, y, h, Int64(n * hidden)) }
        case .post: ws.time(.addNorm) { recur_f32_add_rms_norm(h, y, Int64(n), Int64(hidden), epsilon) }
        }
    }

    /// The sub-layer input: `norm(h)` in `ws.normed` before a pre-norm sub-layer, `h` itself otherwise.
    private func input(_ h: UnsafeMutablePointer<Float>, _ norm: Norm?, rows n: Int, ws: DecoderWorkspace) -> UnsafePointer<Float> {
        guard let norm else { return UnsafePointer(h) }
        ws.time(.norm) { norm(h, ws.normed.pointer, rows: n) }
        return UnsafePointer(ws.normed.pointer)
    }

    /// Runs the block in place on the `n` rows of `h`; `runs` say where each row's keys and values
    /// go and which positions it sees (rows' positions for RoPE are in `ws.positions`).
    /// With `steer`, an attention controller of this layer mixes its prediction into the
    /// attention (`AttentionController`).
    func forward(_ h: UnsafeMutablePointer<Float>, rows n: Int, runs: [AttentionRun], layer: Int, attention a: AttentionSpec, ws: DecoderWorkspace,
                 steer: AttentionController? = nil) {
        let qkvWidth = a.qkvWidth, qWidth = a.heads * a.headDim, kvWidth = a.kvHeads * a.headDim
        let x = input(h, attentionNorm, rows: n, ws: ws)
        ws.linear(.qkv, qkv, x, ws.qkv.pointer, rows: n)
        let steering = steer.flatMap { c in ws.steering.map { (controller: c, scratch: $0) } }
        if let steering {
            steering.controller.evaluate(layer: layer, x, rows: n, positions: ws.positions, ws: ws, s: steering.scratch)
        }
        if case let .rope(base, dims, layout) = a.positions {
            ws.time(.rope) {
                let neox: Int32 = layout == .halves ? 1 : 0
                recur_f32_rope_positions(ws.qkv.pointer, Int64(n), Int64(a.heads), Int64(a.headDim), Int64(dims), Int64(qkvWidth), ws.positions, base, neox)
                recur_f32_rope_positions(ws.qkv.pointer + qWidth, Int64(n), Int64(a.kvHeads), Int64(a.headDim), Int64(dims), Int64(qkvWidth), ws.positions, base, neox)
            }
        }
        let scale = 1 / Float(a.headDim).squareRoot()
        // Runs of one sequence come in position order, so a row's earlier positions in the same
        // call are stored before it attends.
        for run in runs {
            let keys = run.cache.keys(run.layerBase + layer), values = run.cache.values(run.layerBase + layer)
            ws.time(.kvStore) {
                for i in run.rows {
                    let row = ws.qkv.pointer + i * qkvWidth, position = run.start + i - run.rows.lowerBound
                    (keys + position * kvWidth).update(from: row + qWidth, count: kvWidth)
                    (values + position * kvWidth).update(from: row + qWidth + kvWidth, count: kvWidth)
                }
            }
            ws.time(.attention) {
                let first = run.rows.lowerBound
                recur_f32_steered_attention(ws.qkv.pointer + first * qkvWidth, Int64(qkvWidth), keys, values, Int64(kvWidth),
                                            ws.attention.pointer + first * qWidth, Int64(qWidth),
                                            Int64(run.rows.count), Int64(run.start), Int64(a.heads), Int64(a.kvHeads), Int64(a.headDim),
                                            scale, ws.attentionScratch.pointer,
                                            steering.map { UnsafePointer($0.scratch.slots.pointer + first * $0.controller.slotsPerRow) },
                                            steering.map { UnsafePointer($0.scratch.alpha.pointer + first * a.heads) },
                                            Int64(steering?.controller.window ?? 0))
            }
        }
        ws.linear(.attentionOutput, attentionOutput, ws.attention.pointer, ws.projection.pointer, rows: n)
        residual(h, ws.projection.pointer, rows: n, ws: ws)
        ws.linear(.ffnGateUp, gateUp, input(h, mlpNorm, rows: n, ws: ws), ws.gateUp.pointer, rows: n)
        ws.swigluLinear(.ffnDown, fused: .ffnSwigluDown, down, rows: n, ws.projection.pointer)
        residual(h, ws.projection.pointer, rows: n, ws: ws)
    }
}
