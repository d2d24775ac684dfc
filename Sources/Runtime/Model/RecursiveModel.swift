import CKernels

/// A TRM or HRM loaded from a GGUF file: the whole forward pass of one ACT step.
///
/// One ACT step runs the description's schedule (`Schedule.recursive`), as in the official code
/// (`z` are `[batch, puzzleEmbLen + seqLen, hidden]`):
///
///     for _ in 0..<hCycles {
///         for _ in 0..<lCycles { zL = L(zL + (zH + x)) }   // L: the L stack's blocks, in place
///         zH = H(zH + zL)                                  // H: the L stack again for TRM
///     }
///     logits = lm_head(zH[:, puzzleEmbLen...]);  (q_halt, q_continue) = q_head(zH[:, 0])
public final class RecursiveModel: @unchecked Sendable {
    public let config: ModelConfig
    public let path: String
    let tokenEmbedding: FloatBuffer
    let puzzleEmbedding: FloatBuffer?
    let positionEmbedding: FloatBuffer?
    let lmHead: Linear
    let qHead: Linear
    /// The official head as a `QHead`, for tools that compare heads on recorded states.
    public let officialHead: QHead
    /// A halting head attached to the file (`qhead.kind` metadata), run instead of the official
    /// one unless the runner is told otherwise.
    public let attachedHead: QHead?
    let hInit: FloatBuffer
    let lInit: FloatBuffer
    let lStack: [Block]
    let hStack: [Block]
    /// The blocks of each stack the schedule names.
    let stacks: [String: [Block]]
    let rope: RopeTables?
    /// What this model is, as data (`RecursiveFamily`): its stacks and the schedule `step` runs.
    public let description: ModelDescription
    /// The schedule of one ACT step, unrolled once at load.
    let schedulePasses: [Schedule.Pass]

    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    public init(file: GGUFFile) throws {
        let c = try ModelConfig(gguf: file)
        let loader = WeightLoader(file: file)
        config = c
        path = file.path
        let hidden = c.hiddenSize
        tokenEmbedding = try loader.floats("token_embd.weight", shape: [c.vocabSize, hidden])
        puzzleEmbedding = c.puzzleEmbDim > 0 ? try loader.floats("puzzle_embd.weight", shape: [c.puzzleCount, c.puzzleEmbDim]) : nil
        positionEmbedding = c.positionEncoding == .learned ? try loader.floats("position_embd.weight", shape: [c.totalSeqLen, hidden]) : nil
        lmHead = try loader.linear("output", out: c.vocabSize, in: hidden)
        qHead = try loader.linear("qhead", out: 2, in: hidden, bias: true)
        officialHead = FeedForwardHead(kind: .linear, format: .float, layers: [HeadMatrix(qHead)], activation: .relu,
                                       byteSize: ["qhead.weight", "qhead.bias"].compactMap { file.tensor($0)?.byteCount }.reduce(0, +))
        attachedHead = try QHeadLoader.load(file: file, hidden: hidden)
        hInit = try loader.floats("h_init", shape: [hidden])
        lInit = try loader.floats("l_init", shape: [hidden])
        lStack = try (0..<c.lLayers).map { try Block(loading: "L.blk.\($0)", config: c, from: loader) }
        hStack = c.architecture == .hrm ? try (0..<c.hLayers).map { try Block(loading: "H.blk.\($0)", config: c, from: loader) } : []
        rope = c.positionEncoding == .rope && c.tokenMixer == .attention
            ? RopeTables(seq: c.totalSeqLen, headDim: c.headDim, theta: c.ropeTheta) : nil
        description = RecursiveFamily.describe(c)
        stacks = c.architecture == .hrm ? ["L": lStack, "H": hStack] : ["L": lStack]
        schedulePasses = description.schedule.passes
    }

    /// Whether any block runs SwiGLU into a separate buffer (see `Block.hasFloatDownProjection`).
    var needsSwiGLUBuffer: Bool { (lStack + hStack).contains(where: \.hasFloatDownProjection) }

    /// Activation scratch bytes the largest linear call needs at `batch` samples: block linears see
    /// `batch * totalSeqLen` rows, token-mixing ones `batch * hidden`, so take the larger for all.
    func quantScratchBytes(batch: Int) -> Int {
        let rows = batch * max(config.hiddenSize, config.totalSeqLen)
        let linears = [lmHead, qHead] + (lStack + hStack).flatMap(\.linears)
        return linears.map { $0.scratchBytes(rows: rows) }.max() ?? 0
    }

    /// Writes the scaled input embedding of one sample, `[totalSeqLen, hidden]`, to `out`.
    ///
    /// `sqrt(hidden) * concat(puzzle_emb padded to puzzleEmbLen x hidden, token_emb)`, with learned
    /// positions added (times 1/sqrt(2)) before the scale, exactly in the official order.
    func embed(tokens: [Int32], puzzle: Int32, into out: UnsafeMutablePointer<Float>) {
        let c = config, hidden = c.hiddenSize
        let tokenRows = out + c.puzzleEmbLen * hidden
        tokens.withUnsafeBufferPointer { ids in
            recur_f32_embedding(tokenEmbedding.pointer, ids.baseAddress!, tokenRows, Int64(c.seqLen), Int64(hidden), 1)
        }
        out.update(repeating: 0, count: c.puzzleEmbLen * hidden)
        if let puzzleEmbedding {
            out.update(from: puzzleEmbedding.pointer + Int(puzzle) * c.puzzleEmbDim, count: c.puzzleEmbDim)
        }
        let n = c.totalSeqLen * hidden
        if let positionEmbedding {
            recur_f32_add(out, positionEmbedding.pointer, out, Int64(n))
            recur_f32_scale(out, Float(0.707106781), Int64(n))
        }
        recur_f32_scale(out, Float(Double(hidden).squareRoot()), Int64(n))
    }

    /// The carry of a fresh sample: every position of z_H is `h_init`, of z_L is `l_init`.
    func resetCarry(zH: UnsafeMutablePointer<Float>, zL: UnsafeMutablePointer<Float>) {
        let hidden = config.hiddenSize
        for p in 0..<config.totalSeqLen {
            (zH + p * hidden).update(from: hInit.pointer, count: hidden)
            (zL + p * hidden).update(from: lInit.pointer, count: hidden)
        }
    }

    /// One ACT step for the first `batch` samples of the state buffers, in place: the description's
    /// schedule run pass by pass. Each pass adds its injection (`state + (a + b)`, summed left to
    /// right as the official code does) and then runs its stack on the state.
    func step(zH: UnsafeMutablePointer<Float>, zL: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, batch: Int, ws: Workspace) {
        let n = batch * config.totalSeqLen * config.hiddenSize
        func state(_ name: String) -> UnsafeMutablePointer<Float> {
            switch name {
            case "z_H": return zH
            case "z_L": return zL
            case "x": return UnsafeMutablePointer(mutating: input)
            default: preconditionFailure("the recursive schedule names an unknown state '\(name)'")
            }
        }
        for pass in schedulePasses {
            let target = state(pass.state)
            ws.time(.inject) { addInjection(to: target, from: pass.inject.map { UnsafePointer(state($0)) }, count: n, scratch: ws.injection.pointer) }
            for block in stacks[pass.stack] ?? [] { block.forward(target, batch: batch, config: config, rope: rope, ws: ws) }
        }
    }

    /// Token logits `[batch, seqLen, vocab]` and Q logits `[batch, 2]` (halt, continue) from z_H.
    func heads(zH: UnsafePointer<Float>, batch: Int, logits: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>, ws: Workspace) {
        let c = config, hidden = c.hiddenSize, seq = c.totalSeqLen
        ws.time(.heads, multiplyAdds: Double(batch) * Double(c.seqLen * c.vocabSize + 2) * Double(hidden)) {
            for b in 0..<batch {
                let sample = zH + b * seq * hidden
                lmHead(sample + c.puzzleEmbLen * hidden, logits + b * c.seqLen * c.vocabSize, rows: c.seqLen, scratch: ws.quantScratch)
                (ws.headInput.pointer + b * hidden).update(from: sample, count: hidden)
            }
            qHead(ws.headInput.pointer, q, rows: batch, scratch: ws.quantScratch)
        }
    }
}
