import CKernels
import Foundation

/// The rule-latent model f(x, z) (UZR, docs/rule-latent.md), built from its description
/// (`RuleLatentFamily`): a byte-level pre-norm encoder whose blocks are FiLM-modulated by a latent
/// z. It runs forward (logits of a batch of pairs for a given z) and backward with respect to z
/// only (the weights stay fixed), which is what fitting z at inference needs:
///
///     e = token_embd[tokens] + position_embd
///     per block:  e += attn_output(attention(layer_norm1(e)))       // prefix-LM mask
///                 e += ffn_down(act(ffn_up(layer_norm2(e))))
///                 e  = e * (1 + film_gamma(z)) + film_beta(z)
///     logits = output(output_norm(e))
public final class RuleModel: @unchecked Sendable {
    public static let pad: Int32 = 256, bos: Int32 = 257, sep: Int32 = 258, eos: Int32 = 259

    public let description: ModelDescription
    public let file: GGUFFile
    public let hidden: Int, heads: Int, headDim: Int, ffn: Int, latent: Int, vocab: Int
    /// Sequence length, and the input part's length (BOS plus `maxInput` byte slots).
    public let length: Int, prefix: Int
    public let maxInput: Int, maxOutput: Int
    public let activation: ChannelMLP
    let epsilon: Float
    let embedding: FloatBuffer
    let positions: FloatBuffer
    let blocks: [RuleBlock]
    let outputNorm: (weight: FloatBuffer, bias: FloatBuffer)
    let output: (weight: FloatBuffer, bias: FloatBuffer)
    /// The fit settings the file recommends (`uzr.fit.*`).
    public let fitDefaults: RuleFitSettings

    /// One block's weights, F32 (quantized files are widened at load).
    struct RuleBlock {
        let norm1w, norm1b, wq, bq, wk, bk, wv, bv, wo, bo: FloatBuffer
        let norm2w, norm2b, wUp, bUp, wDown, bDown: FloatBuffer
        let wGamma, bGamma, wBeta, bBeta: FloatBuffer
    }

    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    public init(file: GGUFFile) throws {
        let d = try ModelFamilies.describe(file)
        guard d.architecture == "uzr", let stack = d.stacks.first, case let .attention(a) = stack.block.mixer,
              case let .film(latent)? = stack.block.modulation, let prefix = a.prefixLength else {
            throw ModelError.badMetadata(file: file.path, detail: "'\(d.architecture)' is not a rule-latent model (uzr)")
        }
        self.file = file
        description = d
        hidden = d.hiddenSize
        heads = a.heads
        headDim = a.headDim
        ffn = stack.block.mlpWidth
        self.latent = latent
        vocab = d.vocabSize
        length = d.contextLength
        self.prefix = prefix
        maxInput = prefix - 1
        maxOutput = length - prefix - 1
        activation = stack.block.mlp
        epsilon = stack.block.norm.epsilon
        guard vocab == 260 else {
            throw ModelError.badMetadata(file: file.path, detail: "uzr.vocab_size is \(vocab); the byte vocabulary is 256 bytes and 4 specials (260)")
        }
        let loader = WeightLoader(file: file)
        let h = hidden, ffn = stack.block.mlpWidth, vocab = d.vocabSize, length = d.contextLength
        embedding = try loader.floats("token_embd.weight", shape: [vocab, h])
        positions = try loader.floats("position_embd.weight", shape: [length, h])
        blocks = try (0..<stack.layers).map { n in
            let p = "blk.\(n)"
            func f(_ name: String, _ shape: [Int]) throws -> FloatBuffer { try loader.floats("\(p).\(name)", shape: shape) }
            return RuleBlock(
                norm1w: try f("attn_norm.weight", [h]), norm1b: try f("attn_norm.bias", [h]),
                wq: try f("attn_q.weight", [h, h]), bq: try f("attn_q.bias", [h]),
                wk: try f("attn_k.weight", [h, h]), bk: try f("attn_k.bias", [h]),
                wv: try f("attn_v.weight", [h, h]), bv: try f("attn_v.bias", [h]),
                wo: try f("attn_output.weight", [h, h]), bo: try f("attn_output.bias", [h]),
                norm2w: try f("ffn_norm.weight", [h]), norm2b: try f("ffn_norm.bias", [h]),
                wUp: try f("ffn_up.weight", [ffn, h]), bUp: try f("ffn_up.bias", [ffn]),
                wDown: try f("ffn_down.weight", [h, ffn]), bDown: try f("ffn_down.bias", [h]),
                wGamma: try f("film_gamma.weight", [h, latent]), bGamma: try f("film_gamma.bias", [h]),
                wBeta: try f("film_beta.weight", [h, latent]), bBeta: try f("film_beta.bias", [h]))
        }
        outputNorm = (try loader.floats("output_norm.weight", shape: [h]), try loader.floats("output_norm.bias", shape: [h]))
        output = (try loader.floats("output.weight", shape: [vocab, h]), try loader.floats("output.bias", shape: [vocab]))
        fitDefaults = RuleFitSettings(file: file)
    }

    /// The mean of the token embedding's rows over `bytes` (zeros when empty): a context's sketch key.
    public func meanByteEmbedding(_ bytes: [UInt8]) -> [Float] {
        var key = [Float](repeating: 0, count: hidden)
        guard !bytes.isEmpty else { return key }
        for b in bytes {
            let row = embedding.pointer + Int(b) * hidden
            for i in 0..<hidden { key[i] += row[i] }
        }
        return key.map { $0 / Float(bytes.count) }
    }

    // MARK: sequences

    /// One pair as the model reads it: `[BOS] x (PAD to maxInput) [SEP] y`, PAD after, and the
    /// target of output slot j (`y[j]`, EOS at `j = y.count`, -1 elsewhere: ignored).
    public func sequence(input: [UInt8], output: [UInt8]) throws -> (tokens: [Int32], targets: [Int32]) {
        guard input.count <= maxInput else { throw ModelError.badInput("an input of \(input.count) bytes is longer than the model's \(maxInput)") }
        guard output.count <= maxOutput else { throw ModelError.badInput("an output of \(output.count) bytes is longer than the model's \(maxOutput)") }
        var tokens = [Int32](repeating: Self.pad, count: length), targets = [Int32](repeating: -1, count: length)
        tokens[0] = Self.bos
        for (i, b) in input.enumerated() { tokens[1 + i] = Int32(b) }
        tokens[prefix] = Self.sep
        for (j, b) in output.enumerated() {
            targets[prefix + j] = Int32(b)
            if prefix + j + 1 < length { tokens[prefix + j + 1] = Int32(b) }
        }
        targets[prefix + output.count] = Self.eos
        return (tokens, targets)
    }

    // MARK: forward and backward

    /// Logits `[pairs, length, vocab]` of `tokens` (`[pairs * length]`) for latent `z`.
    public func logits(tokens: [Int32], z: [Float]) throws -> [Float] {
        let pairs = tokens.count / length
        let tape = RuleTape(model: self, pairs: pairs)
        try forward(tokens, z: z, tape: tape)
        return Array(UnsafeBufferPointer(start: tape.logits.pointer, count: pairs * length * vocab))
    }

    /// The fit's loss for `z` on `pairs` (sequences from `sequence`): the mean over pairs of the
    /// mean cross-entropy over each pair's targets, plus `l2 * mean(z^2)`; and its gradient with
    /// respect to z. `crossEntropy` is the first part alone.
    public func lossAndGradient(tokens: [Int32], targets: [Int32], z: [Float], l2: Float, tape: RuleTape? = nil)
        throws -> (loss: Float, crossEntropy: Float, gradient: [Float]) {
        let pairs = tokens.count / length
        let tape = tape ?? RuleTape(model: self, pairs: pairs)
        try forward(tokens, z: z, tape: tape)
        let ce = crossEntropyGradient(targets: targets, pairs: pairs, tape: tape)
        var gradient = backward(z: z, tape: tape)
        var squares: Float = 0
        for (i, v) in z.enumerated() {
            squares += v * v
            gradient[i] += 2 * l2 * v / Float(latent)
        }
        return (ce + l2 * squares / Float(latent), ce, gradient)
    }

    func forward(_ tokens: [Int32], z: [Float], tape t: RuleTape) throws {
        guard z.count == latent else { throw ModelError.badInput("z has \(z.count) values, the model's latent has \(latent)") }
        guard tokens.count == t.pairs * length else { throw ModelError.badInput("\(tokens.count) tokens are not \(t.pairs) sequences of \(length)") }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocab }) { throw ModelError.badInput("token \(bad) is outside the vocabulary of \(vocab)") }
        let h = hidden, rows = t.rows
        // e = token_embd[tokens] + position_embd
        for r in 0..<rows {
            let row = t.e.pointer + r * h, tok = embedding.pointer + Int(tokens[r]) * h, pos = positions.pointer + (r % length) * h
            for i in 0..<h { row[i] = tok[i] + pos[i] }
        }
        for (n, b) in blocks.enumerated() {
            let s = t.layers[n]
            layerNorm(t.e.pointer, b.norm1w, b.norm1b, rows: rows, xhat: s.xhat1.pointer, rstd: s.rstd1.pointer, y: s.h1.pointer)
            recur_f32_linear_bias(s.h1.pointer, b.wq.pointer, b.bq.pointer, s.q.pointer, Int64(rows), Int64(h), Int64(h))
            recur_f32_linear_bias(s.h1.pointer, b.wk.pointer, b.bk.pointer, s.k.pointer, Int64(rows), Int64(h), Int64(h))
            recur_f32_linear_bias(s.h1.pointer, b.wv.pointer, b.bv.pointer, s.v.pointer, Int64(rows), Int64(h), Int64(h))
            attention(s, pairs: t.pairs)
            recur_f32_linear_bias(s.context.pointer, b.wo.pointer, b.bo.pointer, t.scratch.pointer, Int64(rows), Int64(h), Int64(h))
            recur_f32_add(t.e.pointer, t.scratch.pointer, t.e.pointer, Int64(rows * h))
            layerNorm(t.e.pointer, b.norm2w, b.norm2b, rows: rows, xhat: s.xhat2.pointer, rstd: s.rstd2.pointer, y: s.h2.pointer)
            recur_f32_linear_bias(s.h2.pointer, b.wUp.pointer, b.bUp.pointer, s.up.pointer, Int64(rows), Int64(ffn), Int64(h))
            activate(s.up.pointer, into: s.act.pointer, cdf: s.cdf.pointer, count: rows * ffn)
            recur_f32_linear_bias(s.act.pointer, b.wDown.pointer, b.bDown.pointer, t.scratch.pointer, Int64(rows), Int64(h), Int64(ffn))
            recur_f32_add(t.e.pointer, t.scratch.pointer, t.e.pointer, Int64(rows * h))
            // FiLM: gamma and beta are linear in z, the same for every position.
            s.beforeFiLM.pointer.update(from: t.e.pointer, count: rows * h)
            film(b, z: z, gamma: s.gamma.pointer, beta: s.beta.pointer)
            for r in 0..<rows {
                let row = t.e.pointer + r * h
                for i in 0..<h { row[i] = row[i] * (1 + s.gamma.pointer[i]) + s.beta.pointer[i] }
            }
        }
        layerNorm(t.e.pointer, outputNorm.weight, outputNorm.bias, rows: rows, xhat: t.xhatOut.pointer, rstd: t.rstdOut.pointer, y: t.normed.pointer)
        recur_f32_linear_bias(t.normed.pointer, output.weight.pointer, output.bias.pointer, t.logits.pointer, Int64(rows), Int64(vocab), Int64(h))
    }

    /// gamma = W_gamma z + b_gamma, beta = W_beta z + b_beta.
    private func film(_ b: RuleBlock, z: [Float], gamma: UnsafeMutablePointer<Float>, beta: UnsafeMutablePointer<Float>) {
        z.withUnsafeBufferPointer { zp in
            recur_f32_linear_bias(zp.baseAddress!, b.wGamma.pointer, b.bGamma.pointer, gamma, 1, Int64(hidden), Int64(latent))
            recur_f32_linear_bias(zp.baseAddress!, b.wBeta.pointer, b.bBeta.pointer, beta, 1, Int64(hidden), Int64(latent))
        }
    }

    /// Softmax attention of every pair and head, probabilities kept for the backward pass.
    private func attention(_ s: RuleLayerTape, pairs: Int) {
        let h = hidden, l = length, scale = 1 / Float(headDim).squareRoot()
        for p in 0..<pairs {
            for head in 0..<heads {
                let q = s.q.pointer + p * l * h + head * headDim, k = s.k.pointer + p * l * h + head * headDim
                let v = s.v.pointer + p * l * h + head * headDim
                let probs = s.probs.pointer + (p * heads + head) * l * l
                recur_f32_gemm(0, 1, Int64(l), Int64(l), Int64(headDim), scale, q, Int64(h), k, Int64(h), 0, probs, Int64(l))
                for i in 0..<l {
                    let row = probs + i * l
                    var top = -Float.infinity
                    for j in 0..<l where visible(i, j) { top = max(top, row[j]) }
                    var sum: Float = 0
                    for j in 0..<l {
                        if visible(i, j) { row[j] = expf(row[j] - top); sum += row[j] } else { row[j] = 0 }
                    }
                    for j in 0..<l { row[j] /= sum }
                }
                recur_f32_gemm(0, 0, Int64(l), Int64(headDim), Int64(l), 1, probs, Int64(l), v, Int64(h), 0,
                               s.context.pointer + p * l * h + head * headDim, Int64(h))
            }
        }
    }

    /// The prefix-LM mask: input positions see the input; output positions see the input and
    /// the output up to their own.
    @inline(__always) func visible(_ i: Int, _ j: Int) -> Bool { j < prefix || (i >= prefix && j <= i) }

    /// y = act(x); for GELU, `cdf` keeps 0.5 (1 + erf(x / sqrt 2)) for the backward pass (erf is
    /// the costliest part of a fit step, so it is computed once).
    private func activate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, cdf: UnsafeMutablePointer<Float>, count: Int) {
        switch activation {
        case .relu: for i in 0..<count { y[i] = max(x[i], 0) }
        default:
            for i in 0..<count {
                cdf[i] = 0.5 * (1 + erff(x[i] * Float(0.5.squareRoot())))
                y[i] = x[i] * cdf[i]
            }
        }
    }

    /// d act(u) / du, given the forward pass's cdf for GELU.
    @inline(__always) private func slope(_ u: Float, cdf: Float) -> Float {
        switch activation {
        case .relu: return u > 0 ? 1 : 0
        default: return cdf + u * expf(-0.5 * u * u) / Float((2 * Double.pi).squareRoot())
        }
    }

    /// LayerNorm over rows, keeping the normalized rows and 1/std for the backward pass.
    private func layerNorm(_ x: UnsafePointer<Float>, _ w: FloatBuffer, _ b: FloatBuffer, rows: Int,
                           xhat: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let h = hidden
        for r in 0..<rows {
            let row = x + r * h, xr = xhat + r * h, yr = y + r * h
            var mean: Float = 0
            for i in 0..<h { mean += row[i] }
            mean /= Float(h)
            var variance: Float = 0
            for i in 0..<h { let c = row[i] - mean; variance += c * c }
            variance /= Float(h)
            let inv = 1 / (variance + epsilon).squareRoot()
            rstd[r] = inv
            for i in 0..<h {
                xr[i] = (row[i] - mean) * inv
                yr[i] = xr[i] * w.pointer[i] + b.pointer[i]
            }
        }
    }

    /// dx from dy through y = xhat * w + b: written to dx, or added to it (`accumulate`).
    private func layerNormBackward(_ dy: UnsafePointer<Float>, _ w: FloatBuffer, xhat: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                   rows: Int, dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let h = hidden
        for r in 0..<rows {
            let g = dy + r * h, xr = xhat + r * h, out = dx + r * h
            var meanG: Float = 0, meanGX: Float = 0
            for i in 0..<h {
                let gi = g[i] * w.pointer[i]
                meanG += gi
                meanGX += gi * xr[i]
            }
            meanG /= Float(h)
            meanGX /= Float(h)
            for i in 0..<h {
                let v = rstd[r] * (g[i] * w.pointer[i] - meanG - xr[i] * meanGX)
                out[i] = accumulate ? out[i] + v : v
            }
        }
    }

    /// Turns `tape.logits` into d loss / d logits in place (mean over each pair's targets, mean
    /// over pairs); returns the mean cross-entropy.
    private func crossEntropyGradient(targets: [Int32], pairs: Int, tape t: RuleTape) -> Float {
        var total: Float = 0
        for p in 0..<pairs {
            let positions = (0..<length).filter { targets[p * length + $0] >= 0 }
            let count = Float(max(positions.count, 1))
            var ce: Float = 0
            for pos in 0..<length {
                let row = t.logits.pointer + (p * length + pos) * vocab
                let target = Int(targets[p * length + pos])
                guard target >= 0 else {
                    row.update(repeating: 0, count: vocab)
                    continue
                }
                var top = -Float.infinity
                for i in 0..<vocab { top = max(top, row[i]) }
                ce += top - row[target]
                var sum: Float = 0
                for i in 0..<vocab {
                    row[i] = expf(row[i] - top)
                    sum += row[i]
                }
                ce += logf(sum)
                let scale = 1 / (sum * count * Float(pairs))
                for i in 0..<vocab { row[i] *= scale }
                row[target] -= 1 / (count * Float(pairs))
            }
            total += ce / count
        }
        return total / Float(pairs)
    }

    /// d loss / d z from d loss / d logits (in `tape.logits`), through every block down to the
    /// first block's FiLM (nothing below it depends on z).
    private func backward(z: [Float], tape t: RuleTape) -> [Float] {
        let h = hidden, rows = t.rows
        var dz = [Float](repeating: 0, count: latent)
        let de = t.grad.pointer, tmp = t.scratch.pointer
        // Output: logits = normed W^T + b  ->  d normed = d logits W;  LayerNorm back to de.
        recur_f32_gemm(0, 0, Int64(rows), Int64(h), Int64(vocab), 1, t.logits.pointer, Int64(vocab), output.weight.pointer, Int64(h), 0, tmp, Int64(h))
        layerNormBackward(tmp, outputNorm.weight, xhat: t.xhatOut.pointer, rstd: t.rstdOut.pointer, rows: rows, dx: de, accumulate: false)
        for n in stride(from: blocks.count - 1, through: 0, by: -1) {
            let b = blocks[n], s = t.layers[n]
            // FiLM: out = pre * (1 + gamma) + beta.
            var dGamma = [Float](repeating: 0, count: h), dBeta = [Float](repeating: 0, count: h)
            for r in 0..<rows {
                let g = de + r * h, pre = s.beforeFiLM.pointer + r * h
                for i in 0..<h {
                    dGamma[i] += g[i] * pre[i]
                    dBeta[i] += g[i]
                    g[i] *= 1 + s.gamma.pointer[i]
                }
            }
            // dz += W_gamma^T dGamma + W_beta^T dBeta (W: [h, latent]).
            dz.withUnsafeMutableBufferPointer { dzp in
                dGamma.withUnsafeBufferPointer { recur_f32_gemm(0, 0, 1, Int64(latent), Int64(h), 1, $0.baseAddress!, Int64(h), b.wGamma.pointer, Int64(latent), 1, dzp.baseAddress!, Int64(latent)) }
                dBeta.withUnsafeBufferPointer { recur_f32_gemm(0, 0, 1, Int64(latent), Int64(h), 1, $0.baseAddress!, Int64(h), b.wBeta.pointer, Int64(latent), 1, dzp.baseAddress!, Int64(latent)) }
            }
            if n == 0 { break }
            // MLP: e = e1 + down(act(up(ln2(e1)))).
            recur_f32_gemm(0, 0, Int64(rows), Int64(ffn), Int64(h), 1, de, Int64(h), b.wDown.pointer, Int64(ffn), 0, t.ffnGrad.pointer, Int64(ffn))
            for i in 0..<(rows * ffn) { t.ffnGrad.pointer[i] *= slope(s.up.pointer[i], cdf: s.cdf.pointer[i]) }
            recur_f32_gemm(0, 0, Int64(rows), Int64(h), Int64(ffn), 1, t.ffnGrad.pointer, Int64(ffn), b.wUp.pointer, Int64(h), 0, tmp, Int64(h))
            layerNormBackward(tmp, b.norm2w, xhat: s.xhat2.pointer, rstd: s.rstd2.pointer, rows: rows, dx: de, accumulate: true)
            // Attention: e1 = e0 + out(attention(ln1(e0))).
            let dContext = t.dContext.pointer
            recur_f32_gemm(0, 0, Int64(rows), Int64(h), Int64(h), 1, de, Int64(h), b.wo.pointer, Int64(h), 0, dContext, Int64(h))
            attentionBackward(s, dContext: dContext, pairs: t.pairs, tape: t)
            // d h1 = dq Wq + dk Wk + dv Wv, then LayerNorm back into de.
            recur_f32_gemm(0, 0, Int64(rows), Int64(h), Int64(h), 1, t.dq.pointer, Int64(h), b.wq.pointer, Int64(h), 0, tmp, Int64(h))
            recur_f32_gemm(0, 0, Int64(rows), Int64(h), Int64(h), 1, t.dk.pointer, Int64(h), b.wk.pointer, Int64(h), 1, tmp, Int64(h))
            recur_f32_gemm(0, 0, Int64(rows), Int64(h), Int64(h), 1, t.dv.pointer, Int64(h), b.wv.pointer, Int64(h), 1, tmp, Int64(h))
            layerNormBackward(tmp, b.norm1w, xhat: s.xhat1.pointer, rstd: s.rstd1.pointer, rows: rows, dx: de, accumulate: true)
        }
        return dz
    }

    /// dq, dk, dv (in the tape) from d context, per pair and head.
    private func attentionBackward(_ s: RuleLayerTape, dContext: UnsafePointer<Float>, pairs: Int, tape t: RuleTape) {
        let h = hidden, l = length, scale = 1 / Float(headDim).squareRoot()
        let dP = t.dProbs.pointer
        for p in 0..<pairs {
            for head in 0..<heads {
                let off = p * l * h + head * headDim
                let probs = s.probs.pointer + (p * heads + head) * l * l
                // dP = dC V^T; dV = P^T dC.
                recur_f32_gemm(0, 1, Int64(l), Int64(l), Int64(headDim), 1, dContext + off, Int64(h), s.v.pointer + off, Int64(h), 0, dP, Int64(l))
                recur_f32_gemm(1, 0, Int64(l), Int64(headDim), Int64(l), 1, probs, Int64(l), dContext + off, Int64(h), 0, t.dv.pointer + off, Int64(h))
                // dS = P * (dP - rowsum(dP * P)) * scale.
                for i in 0..<l {
                    let pr = probs + i * l, dr = dP + i * l
                    var dot: Float = 0
                    for j in 0..<l { dot += dr[j] * pr[j] }
                    for j in 0..<l { dr[j] = pr[j] * (dr[j] - dot) * scale }
                }
                // dQ = dS K; dK = dS^T Q.
                recur_f32_gemm(0, 0, Int64(l), Int64(headDim), Int64(l), 1, dP, Int64(l), s.k.pointer + off, Int64(h), 0, t.dq.pointer + off, Int64(h))
                recur_f32_gemm(1, 0, Int64(l), Int64(headDim), Int64(l), 1, dP, Int64(l), s.q.pointer + off, Int64(h), 0, t.dk.pointer + off, Int64(h))
            }
        }
    }
}

/// What one block keeps from the forward pass for the backward one.
final class RuleLayerTape {
    let xhat1, h1, q, k, v, probs, context, xhat2, h2, up, act, cdf, beforeFiLM: FloatBuffer
    let rstd1, rstd2, gamma, beta: FloatBuffer

    init(model m: RuleModel, rows: Int, pairs: Int) {
        let h = m.hidden
        xhat1 = FloatBuffer(count: rows * h)
        h1 = FloatBuffer(count: rows * h)
        q = FloatBuffer(count: rows * h)
        k = FloatBuffer(count: rows * h)
        v = FloatBuffer(count: rows * h)
        probs = FloatBuffer(count: pairs * m.heads * m.length * m.length)
        context = FloatBuffer(count: rows * h)
        xhat2 = FloatBuffer(count: rows * h)
        h2 = FloatBuffer(count: rows * h)
        up = FloatBuffer(count: rows * m.ffn)
        act = FloatBuffer(count: rows * m.ffn)
        cdf = FloatBuffer(count: rows * m.ffn)
        beforeFiLM = FloatBuffer(count: rows * h)
        rstd1 = FloatBuffer(count: rows)
        rstd2 = FloatBuffer(count: rows)
        gamma = FloatBuffer(count: h)
        beta = FloatBuffer(count: h)
    }
}

/// Buffers of one forward/backward pass over `pairs` sequences, reusable across fit steps.
public final class RuleTape {
    let pairs: Int, rows: Int
    let e, scratch, grad, normed, xhatOut, rstdOut, logits: FloatBuffer
    let ffnGrad, dContext, dq, dk, dv, dProbs: FloatBuffer
    let layers: [RuleLayerTape]

    public init(model m: RuleModel, pairs: Int) {
        self.pairs = pairs
        rows = pairs * m.length
        let h = m.hidden
        e = FloatBuffer(count: rows * h)
        scratch = FloatBuffer(count: rows * h)
        grad = FloatBuffer(count: rows * h)
        normed = FloatBuffer(count: rows * h)
        xhatOut = FloatBuffer(count: rows * h)
        rstdOut = FloatBuffer(count: rows)
        logits = FloatBuffer(count: rows * m.vocab)
        ffnGrad = FloatBuffer(count: rows * m.ffn)
        dContext = FloatBuffer(count: rows * h)
        dq = FloatBuffer(count: rows * h)
        dk = FloatBuffer(count: rows * h)
        dv = FloatBuffer(count: rows * h)
        dProbs = FloatBuffer(count: m.length * m.length)
        layers = m.blocks.map { _ in RuleLayerTape(model: m, rows: pairs * m.length, pairs: pairs) }
    }
}
