import CKernels

/// One post-norm block of a TRM/HRM stack:
///
///     x = rms_norm(x + token_mixer(x))     // attention, or mlp_t over the transposed state
///     x = rms_norm(x + swiglu_mlp(x))
///
/// Norms have no weight (eps from the file); attention is non-causal with RoPE or none.
final class Block: @unchecked Sendable {
    enum Mixer {
        case attention(qkv: Linear, output: Linear)
        /// SwiGLU over the sequence axis: gate_up `[2 * tokenInter, seq]`, down `[seq, tokenInter]`.
        case mlpT(gateUp: Linear, down: Linear)
    }

    let mixer: Mixer
    let gateUp: Linear
    let down: Linear

    init(mixer: Mixer, gateUp: Linear, down: Linear) {
        self.mixer = mixer
        self.gateUp = gateUp
        self.down = down
    }

    /// Loads `prefix.blk.N.*` (for example `L.blk.0`).
    convenience init(loading prefix: String, config c: ModelConfig, from loader: WeightLoader) throws {
        let mixer: Mixer
        switch c.tokenMixer {
        case .attention:
            mixer = .attention(
                qkv: try loader.linear("\(prefix).attn_qkv", out: c.qkvWidth, in: c.hiddenSize),
                output: try loader.linear("\(prefix).attn_output", out: c.hiddenSize, in: c.headCount * c.headDim))
        case .mlpT:
            mixer = .mlpT(
                gateUp: try loader.stacked("\(prefix).tmix_gate", "\(prefix).tmix_up", out: c.tokenMixFeedForwardLength, in: c.totalSeqLen),
                down: try loader.linear("\(prefix).tmix_down", out: c.totalSeqLen, in: c.tokenMixFeedForwardLength))
        }
        self.init(
            mixer: mixer,
            gateUp: try loader.stacked("\(prefix).ffn_gate", "\(prefix).ffn_up", out: c.feedForwardLength, in: c.hiddenSize),
            down: try loader.linear("\(prefix).ffn_down", out: c.hiddenSize, in: c.feedForwardLength))
    }

    /// Whether a down projection has float weights, so its SwiGLU needs a buffer of its own
    /// (a quantized one forms the SwiGLU inside its input quantization).
    var hasFloatDownProjection: Bool {
        if case let .mlpT(_, tDown) = mixer, !tDown.isQuantized { return true }
        return !down.isQuantized
    }

    /// Linears of this block, for sizing scratch memory.
    var linears: [Linear] {
        switch mixer {
        case let .attention(qkv, output): return [qkv, output, gateUp, down]
        case let .mlpT(tGateUp, tDown): return [tGateUp, tDown, gateUp, down]
        }
    }

    /// Runs the block in place on `x` = `[batch, seq, hidden]`.
    func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, config c: ModelConfig, rope: RopeTables?, ws: Workspace) {
        let seq = c.totalSeqLen, hidden = c.hiddenSize, rows = batch * seq
        let eps = c.normEpsilon
        switch mixer {
        case let .attention(qkv, output):
            ws.linear(.qkv, qkv, x, ws.qkv.pointer, rows: rows)
            let (b, s, h, kv, d) = (Int64(batch), Int64(seq), Int64(c.headCount), Int64(c.kvHeadCount), Int64(c.headDim))
            let scale = 1 / Float(c.headDim).squareRoot()
            // BF16 attention rotates Q and K itself while it packs them.
            var bf16 = false
            if ws.attentionPrecision == .bf16 {
                ws.time(.attention) {
                    bf16 = recur_attention_bf16(ws.qkv.pointer, ws.attention.pointer, b, s, h, kv, d, scale, rope?.cos.pointer,
                                                rope?.sin.pointer, ws.attentionScratch.pointer) == 0
                }
            }
            if !bf16 {
                if let rope {
                    let stride = Int64(c.qkvWidth)
                    ws.time(.rope) {
                        recur_f32_rope(ws.qkv.pointer, b, s, h, d, stride, rope.cos.pointer, rope.sin.pointer)
                        recur_f32_rope(ws.qkv.pointer + c.headCount * c.headDim, b, s, kv, d, stride, rope.cos.pointer, rope.sin.pointer)
                    }
                }
                ws.time(.attention) { recur_f32_attention(ws.qkv.pointer, ws.attention.pointer, b, s, h, kv, d, scale, ws.attentionScratch.pointer) }
            }
            ws.linear(.attentionOutput, output, ws.attention.pointer, ws.projection.pointer, rows: rows)
            ws.time(.addNorm) { recur_f32_add_rms_norm(x, ws.projection.pointer, Int64(rows), Int64(hidden), eps) }
        case let .mlpT(gateUp, down):
            // The official block transposes to [batch, hidden, seq], so the norm runs over the sequence.
            let tRows = batch * hidden
            ws.time(.transpose) { recur_f32_transpose(x, ws.transposed.pointer, Int64(batch), Int64(seq), Int64(hidden)) }
            ws.linear(.tokenMixGateUp, gateUp, ws.transposed.pointer, ws.gateUp.pointer, rows: tRows)
            ws.swigluLinear(.tokenMixDown, fused: .tokenMixSwigluDown, down, rows: tRows, ws.projection.pointer)
            ws.time(.addNorm) { recur_f32_add_rms_norm(ws.transposed.pointer, ws.projection.pointer, Int64(tRows), Int64(seq), eps) }
            ws.time(.transpose) { recur_f32_transpose(ws.transposed.pointer, x, Int64(batch), Int64(hidden), Int64(seq)) }
        }
        ws.linear(.ffnGateUp, gateUp, x, ws.gateUp.pointer, rows: rows)
        ws.swigluLinear(.ffnDown, fused: .ffnSwigluDown, down, rows: rows, ws.projection.pointer)
        ws.time(.addNorm) { recur_f32_add_rms_norm(x, ws.projection.pointer, Int64(rows), Int64(hidden), eps) }
    }
}

/// RoPE cos/sin tables `[totalSeqLen, headDim]`, built once per model.
struct RopeTables {
    let cos: FloatBuffer
    let sin: FloatBuffer

    init(seq: Int, headDim: Int, theta: Float) {
        cos = FloatBuffer(count: seq * headDim)
        sin = FloatBuffer(count: seq * headDim)
        recur_f32_rope_tables(cos.pointer, sin.pointer, Int64(seq), Int64(headDim), theta)
    }
}
