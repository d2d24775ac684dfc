import CKernels
import Foundation

/// The rule-latent model f(x, z) (UZR, docs/rule-latent.md), built from its description
/// (`RuleLatentFamily`): a byte-level pre-norm encoder whose blocks are FiLM-modulated by a latent
/// z. It runs forward (logits of a batch of pairs for a given z), backward with respect to z only
/// (the weights stay fixed), which is what fitting z at inference needs, and greedy decoding:
///
///     e = token_embd[tokens] + position_embd
///     per block:  e += attn_output(attention(layer_norm1(e)))       // prefix-LM mask
///                 e += ffn_down(act(ffn_up(layer_norm2(e))))
///                 e  = e * (1 + film_gamma(z)) + film_beta(z)
///     logits = output(output_norm(e))
///
/// The passes do only the work the result depends on (`RulePass` lays the rows out for it): a
/// pair's positions after its last target are dropped (nothing before them sees them), the last
/// block and the output run on the target rows alone (its other rows feed only their keys and
/// values), the first block before its FiLM does not depend on z and runs once per fit
/// (`RuleTape`), and decoding computes each output position once, against the keys and values
/// kept from the earlier ones.
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
    /// Every block's `film_gamma` then `film_beta` stacked, `[layers * 2 * hidden, latent]`: one
    /// product gives every gamma and beta from z, one gives z's gradient.
    let film: RuleLinear
    let outputNorm: (weight: FloatBuffer, bias: FloatBuffer)
    let output: RuleLinear
    /// The fit settings the file recommends (`uzr.fit.*`).
    public let fitDefaults: RuleFitSettings

    /// One block's weights, F32 (quantized files are widened at load); q, k and v stacked into
    /// one `[3 * hidden, hidden]` projection whose input gradient comes in two parts, from d q and
    /// from d k, d v.
    struct RuleBlock {
        let norm1w, norm1b, norm2w, norm2b: FloatBuffer
        let qkv, attentionOutput, up, down: RuleLinear
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
        let h = hidden, ffn = stack.block.mlpWidth, vocab = d.vocabSize, length = d.contextLength, layers = stack.layers
        /// Tensors stacked row-wise into one buffer.
        func stacked(_ names: [String], rows: Int, columns: Int) throws -> FloatBuffer {
            let out = FloatBuffer(count: names.count * rows * columns)
            for (i, name) in names.enumerated() {
                let part = try loader.floats(name, shape: columns == 1 ? [rows] : [rows, columns])
                (out.pointer + i * rows * columns).update(from: part.pointer, count: rows * columns)
            }
            return out
        }
        embedding = try loader.floats("token_embd.weight", shape: [vocab, h])
        positions = try loader.floats("position_embd.weight", shape: [length, h])
        func linear(_ names: [String], out: Int, in inFeatures: Int, parts: [Range<Int>]? = nil) throws -> RuleLinear {
            RuleLinear(weight: try stacked(names.map { "\($0).weight" }, rows: out, columns: inFeatures),
                       bias: try stacked(names.map { "\($0).bias" }, rows: out, columns: 1), out: names.count * out, in: inFeatures, parts: parts)
        }
        blocks = try (0..<layers).map { n in
            let p = "blk.\(n)"
            func f(_ name: String, _ shape: [Int]) throws -> FloatBuffer { try loader.floats("\(p).\(name)", shape: shape) }
            return RuleBlock(
                norm1w: try f("attn_norm.weight", [h]), norm1b: try f("attn_norm.bias", [h]),
                norm2w: try f("ffn_norm.weight", [h]), norm2b: try f("ffn_norm.bias", [h]),
                qkv: try linear(["q", "k", "v"].map { "\(p).attn_\($0)" }, out: h, in: h, parts: [0..<h, h..<3 * h]),
                attentionOutput: try linear(["\(p).attn_output"], out: h, in: h),
                up: try linear(["\(p).ffn_up"], out: ffn, in: h), down: try linear(["\(p).ffn_down"], out: h, in: ffn))
        }
        film = try linear((0..<layers).flatMap { ["blk.\($0).film_gamma", "blk.\($0).film_beta"] }, out: h, in: latent)
        outputNorm = (try loader.floats("output_norm.weight", shape: [h]), try loader.floats("output_norm.bias", shape: [h]))
        output = try linear(["output"], out: vocab, in: h)
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

    func checkTokens(_ tokens: [Int32]) throws {
        guard !tokens.isEmpty, tokens.count % length == 0 else { throw ModelError.badInput("\(tokens.count) tokens are not sequences of \(length)") }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocab }) { throw ModelError.badInput("token \(bad) is outside the vocabulary of \(vocab)") }
    }

    func checkLatent(_ z: [Float]) throws {
        guard z.count == latent else { throw ModelError.badInput("z has \(z.count) values, the model's latent has \(latent)") }
    }

    // MARK: the public passes

    /// Logits `[pairs, length, vocab]` of `tokens` (`[pairs * length]`) for latent `z`.
    public func logits(tokens: [Int32], z: [Float]) throws -> [Float] {
        try checkTokens(tokens)
        try checkLatent(z)
        let pairs = tokens.count / length
        let pass = RulePass(model: self, sequences: pairs, backward: false)
        pass.layOutFit(outputCounts: [Int](repeating: length - prefix, count: pairs))
        pass.embed(model: self, tokens: tokens)
        z.withUnsafeBufferPointer { filmParameters(z: $0.baseAddress!, into: pass.film.pointer) }
        for n in blocks.indices { block(n, pass, rows: 0..<pass.rows, queries: 0..<pass.rows, queryFrom: 0, keep: false) }
        head(pass, rows: 0..<pass.rows)
        var out = [Float](repeating: 0, count: pairs * length * vocab)
        for p in 0..<pairs {
            for pos in 0..<length {
                let row = pass.row(sequence: p, position: pos)
                out.withUnsafeMutableBufferPointer { ($0.baseAddress! + (p * length + pos) * vocab).update(from: pass.logits.pointer + row * vocab, count: vocab) }
            }
        }
        return out
    }

    /// The fit's loss for `z` on `pairs` (sequences from `sequence`): the mean over pairs of the
    /// mean cross-entropy over each pair's targets, plus `l2 * mean(z^2)`; and its gradient with
    /// respect to z. `crossEntropy` is the first part alone.
    public func lossAndGradient(tokens: [Int32], targets: [Int32], z: [Float], l2: Float) throws -> (loss: Float, crossEntropy: Float, gradient: [Float]) {
        let tape = try RuleTape(model: self, tokens: tokens, targets: targets)
        try checkLatent(z)
        let loss = z.withUnsafeBufferPointer { lossAndGradient(z: $0.baseAddress!, l2: l2, tape: tape) }
        return (loss.loss, loss.crossEntropy, tape.gradient.array)
    }

    // MARK: the fit's passes

    /// The loss at z (`latent` values) on the tape's pairs, and (`gradient`) its gradient into
    /// `tape.gradient`.
    func lossAndGradient(z: UnsafePointer<Float>, l2: Float, tape t: RuleTape, gradient: Bool = true) -> (loss: Float, crossEntropy: Float) {
        let pass = t.pass
        filmParameters(z: z, into: pass.film.pointer)
        // The first block's FiLM on the kept pre-FiLM rows; then the blocks that depend on z.
        let first = pass.layers[0]
        recur_f32_film(first.before.pointer, nil, first.before.pointer, pass.e.pointer, pass.film.pointer, pass.film.pointer + hidden,
                       Int64(pass.rows), Int64(hidden))
        let top = t.headRows
        for n in blocks.indices.dropFirst() {
            let last = n == blocks.count - 1
            block(n, pass, rows: 0..<pass.rows, queries: last ? top : 0..<pass.rows, queryFrom: last ? t.queryFrom : 0, keep: gradient)
        }
        head(pass, rows: top)
        let ce = t.targets.withUnsafeBufferPointer { targets in
            t.weights.withUnsafeBufferPointer { weights in
                recur_f32_cross_entropy(pass.logits.pointer + top.lowerBound * vocab, targets.baseAddress, weights.baseAddress,
                                        Int64(top.count), Int64(vocab), gradient ? 1 : 0)
            }
        }
        if gradient { backward(t) }
        var squares: Float = 0
        for i in 0..<latent {
            squares += z[i] * z[i]
            if gradient { t.gradient.pointer[i] += 2 * l2 * z[i] / Float(latent) }
        }
        return (ce + l2 * squares / Float(latent), ce)
    }

    /// Runs the first block before its FiLM (nothing there depends on z) on the tape's rows,
    /// keeping the result as that block's pre-FiLM rows.
    func prepareFirstBlock(_ t: RuleTape) {
        block(0, t.pass, rows: 0..<t.pass.rows, queries: 0..<t.pass.rows, queryFrom: 0, keep: false, film: false)
    }

    /// gamma and beta of every block (stacked as `film`'s rows) from z.
    private func filmParameters(z: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        film.forward(z, out, rows: 1)
    }

    /// Block n on `rows` of the pass: layer norm, q, k and v of every row (later rows attend to
    /// their keys and values), the rest (attention, MLP, FiLM) on `queries`, a contiguous part of
    /// `rows` that holds exactly their positions from `queryFrom` on. `keep`: keep what the
    /// backward pass needs. `film: false` stops before the FiLM, keeping the block's output as its
    /// pre-FiLM rows.
    func block(_ n: Int, _ p: RulePass, rows: Range<Int>, queries: Range<Int>, queryFrom: Int, keep: Bool, film: Bool = true) {
        let b = blocks[n], s = p.layers[n], h = hidden
        let r0 = rows.lowerBound, q0 = queries.lowerBound, nq = queries.count
        recur_f32_layer_norm_keep(p.e.pointer + r0 * h, b.norm1w.pointer, b.norm1b.pointer, p.normed.pointer + r0 * h,
                                  s.xhat1.pointer + r0 * h, s.rstd1.pointer + r0, Int64(rows.count), Int64(h), epsilon)
        if queries == rows || !RuleLinear.sliceable(at: h) {
            b.qkv.forward(p.normed.pointer + r0 * h, s.qkv.pointer + r0 * 3 * h, rows: rows.count)
        } else {
            // Keys and values of every row, queries of the query rows.
            b.qkv.forward(p.normed.pointer + r0 * h, s.qkv.pointer + r0 * 3 * h + h, rows: rows.count, columns: h..<3 * h, yStride: 3 * h)
            b.qkv.forward(p.normed.pointer + q0 * h, s.qkv.pointer + q0 * 3 * h, rows: nq, columns: 0..<h, yStride: 3 * h)
        }
        guard nq > 0 else { return }
        p.withBatch { batch in
            recur_f32_prefix_attention(s.qkv.pointer, Int64(3 * h), p.context.pointer, Int64(h), keep ? s.probs?.pointer : nil, batch,
                                       Int64(queryFrom), Int64(heads), Int64(headDim), 1 / Float(headDim).squareRoot(), p.scratch.pointer)
        }
        let e = p.e.pointer + q0 * h, tmp = p.tmp.pointer + q0 * h
        b.attentionOutput.forward(p.context.pointer + q0 * h, tmp, rows: nq)
        recur_f32_add(e, tmp, e, Int64(nq * h))
        recur_f32_layer_norm_keep(e, b.norm2w.pointer, b.norm2b.pointer, p.normed.pointer + q0 * h,
                                  s.xhat2.pointer + q0 * h, s.rstd2.pointer + q0, Int64(nq), Int64(h), epsilon)
        let up = p.up.pointer + q0 * ffn
        b.up.forward(p.normed.pointer + q0 * h, up, rows: nq)
        let slope = keep ? s.slope.map { $0.pointer + q0 * ffn } : nil
        switch activation {
        case .relu:
            for i in 0..<(nq * ffn) {
                slope?[i] = up[i] > 0 ? 1 : 0
                up[i] = max(up[i], 0)
            }
        default:
            recur_f32_gelu(up, up, slope, Int64(nq * ffn))
        }
        b.down.forward(up, tmp, rows: nq)
        if film {
            let gamma = p.film.pointer + n * 2 * h
            recur_f32_film(e, tmp, s.before.pointer + q0 * h, e, gamma, gamma + h, Int64(nq), Int64(h))
        } else {
            recur_f32_add(e, tmp, s.before.pointer + q0 * h, Int64(nq * h))
        }
    }

    /// The output norm and logits of `rows` (into `pass.logits`, at the same rows).
    func head(_ p: RulePass, rows: Range<Int>) {
        let h = hidden, r0 = rows.lowerBound
        recur_f32_layer_norm_keep(p.e.pointer + r0 * h, outputNorm.weight.pointer, outputNorm.bias.pointer, p.normed.pointer + r0 * h,
                                  p.xhatOut.pointer + r0 * h, p.rstdOut.pointer + r0, Int64(rows.count), Int64(h), epsilon)
        output.forward(p.normed.pointer + r0 * h, p.logits.pointer + r0 * vocab, rows: rows.count)
    }

    /// d loss / d z into `tape.gradient`, from d loss / d logits (in the pass's logits rows):
    /// through the output and every block down to the first block's FiLM (nothing below it
    /// depends on z). Only activations get gradients: dx = dy W for every linear.
    private func backward(_ t: RuleTape) {
        let p = t.pass, h = hidden, rows = p.rows, top = t.headRows
        let de = p.grad.pointer, tmp = p.tmp.pointer, dFilm = p.filmGrad.pointer
        // Output: d normed = d logits W, then its LayerNorm; the rows outside the head get nothing.
        de.update(repeating: 0, count: top.lowerBound * h)
        output.inputGradient(p.logits.pointer + top.lowerBound * vocab, tmp + top.lowerBound * h, rows: top.count)
        recur_f32_layer_norm_backward(tmp + top.lowerBound * h, outputNorm.weight.pointer, p.xhatOut.pointer + top.lowerBound * h,
                                      p.rstdOut.pointer + top.lowerBound, de + top.lowerBound * h, Int64(top.count), Int64(h), 0)
        dFilm.update(repeating: 0, count: blocks.count * 2 * h)
        for n in blocks.indices.reversed() {
            let b = blocks[n], s = p.layers[n]
            let q = n == blocks.count - 1 ? top : 0..<rows, q0 = q.lowerBound, nq = q.count
            // FiLM: out = before * (1 + gamma) + beta.
            let dGamma = dFilm + n * 2 * h
            recur_f32_film_backward(de + q0 * h, s.before.pointer + q0 * h, p.film.pointer + n * 2 * h, dGamma, dGamma + h, Int64(nq), Int64(h))
            if n == 0 { break }
            // MLP: e = e1 + down(act(up(ln2(e1)))); d up = (de W_down) * act'(up).
            let dUp = p.up.pointer + q0 * ffn
            b.down.inputGradient(de + q0 * h, dUp, rows: nq, times: s.slope!.pointer + q0 * ffn)
            b.up.inputGradient(dUp, tmp + q0 * h, rows: nq)
            recur_f32_layer_norm_backward(tmp + q0 * h, b.norm2w.pointer, s.xhat2.pointer + q0 * h, s.rstd2.pointer + q0, de + q0 * h,
                                          Int64(nq), Int64(h), 1)
            // Attention: e1 = e0 + out(attention(ln1(e0))); d q for the queries, d k and d v for
            // every row, then d ln1 = [dk dv] W_kv + [dq] W_q and its LayerNorm into de.
            b.attentionOutput.inputGradient(de + q0 * h, p.context.pointer + q0 * h, rows: nq)
            p.withBatch { batch in
                recur_f32_prefix_attention_backward(s.qkv.pointer, Int64(3 * h), s.probs!.pointer, p.context.pointer, Int64(h), p.qkvGrad.pointer,
                                                    Int64(3 * h), batch, Int64(n == blocks.count - 1 ? t.queryFrom : 0), Int64(heads), Int64(headDim),
                                                    1 / Float(headDim).squareRoot(), p.scratch.pointer)
            }
            b.qkv.inputGradient(p.qkvGrad.pointer + h, tmp, rows: rows, part: 1, dyStride: 3 * h)
            b.qkv.inputGradient(p.qkvGrad.pointer + q0 * 3 * h, tmp + q0 * h, rows: nq, part: 0, dyStride: 3 * h, accumulate: true)
            recur_f32_layer_norm_backward(tmp, b.norm1w.pointer, s.xhat1.pointer, s.rstd1.pointer, de, Int64(rows), Int64(h), 1)
        }
        film.inputGradient(dFilm, t.gradient.pointer, rows: 1)
    }

    // MARK: decoding

    /// Greedy answers to `inputs` under latent `z`, decoded together on `pass` (a forward pass
    /// for as many sequences): output bytes one position at a time (argmax over the vocabulary,
    /// the first of equal maxima) until a special token or `maxOutput` bytes. The input positions
    /// run once; each output position runs once, against the keys and values the earlier
    /// positions left in the pass.
    func answers(_ inputs: [[UInt8]], z: [Float], pass: RulePass) throws -> [[UInt8]] {
        try checkLatent(z)
        let count = inputs.count
        precondition(pass.sequences == count, "a pass for \(pass.sequences) sequences cannot decode \(count)")
        pass.layOutDecoding(maxOutput: maxOutput)
        var tokens: [Int32] = []
        for input in inputs { tokens += try sequence(input: input, output: []).tokens.prefix(prefix) }
        pass.embed(model: self, rows: 0..<pass.inputRows, tokens: tokens, position: { $0 % self.prefix })
        z.withUnsafeBufferPointer { filmParameters(z: $0.baseAddress!, into: pass.film.pointer) }
        let inputs = 0..<pass.inputRows
        for n in blocks.indices {
            // The last block's input rows only give keys and values to the outputs.
            let last = n == blocks.count - 1
            block(n, pass, rows: inputs, queries: last ? inputs.upperBound..<inputs.upperBound : inputs, queryFrom: last ? prefix : 0, keep: false)
        }
        var out = [[UInt8]](repeating: [], count: count), live = [Bool](repeating: true, count: count)
        for t in 0..<maxOutput {
            pass.setOutputCount(t + 1)
            let rows = pass.inputRows + t * count..<pass.inputRows + (t + 1) * count
            let step = (0..<count).map { s in t == 0 ? Self.sep : live[s] ? Int32(out[s][t - 1]) : Self.pad }
            pass.embed(model: self, rows: rows, tokens: step, position: { _ in self.prefix + t })
            for n in blocks.indices { block(n, pass, rows: rows, queries: rows, queryFrom: prefix + t, keep: false) }
            head(pass, rows: rows)
            for s in 0..<count where live[s] {
                let row = pass.logits.pointer + (rows.lowerBound + s) * vocab
                var best = 0
                for i in 1..<vocab where row[i] > row[best] { best = i }
                if best >= 256 { live[s] = false } else { out[s].append(UInt8(best)) }
            }
            if !live.contains(true) { break }
        }
        return out
    }
}
