import Foundation

/// Attention of the current step over the sample's recent steps: q = W_q x_t, and keys/values
/// `W_k x`, `W_v x` of the last `memory` steps (the current one included) kept in a per-slot ring;
/// `heads` heads of width d/heads, softmax scaled by 1/sqrt(d/heads), then W_out (with bias) -> 2.
///
/// The ring keeps projected keys and values rather than raw states, so a step projects only the
/// new state. Slot state: [filled, next, K ring (memory x d), V ring (memory x d)].
public final class AttentionHead: QHead {
    public let kind = QHeadKind.attention
    public let format: QHeadFormat
    public let inputSize: Int
    public let byteSize: Int
    public let width: Int
    public let heads: Int
    public let memory: Int
    let wq: any HeadLinear
    let wk: any HeadLinear
    let wv: any HeadLinear
    let output: any HeadLinear

    init(wq: any HeadLinear, wk: any HeadLinear, wv: any HeadLinear, output: any HeadLinear, heads: Int, memory: Int, format: QHeadFormat, byteSize: Int) {
        self.format = format
        self.wq = wq
        self.wk = wk
        self.wv = wv
        self.output = output
        self.heads = heads
        self.memory = memory
        self.byteSize = byteSize
        inputSize = wq.inFeatures
        width = wq.outFeatures
    }

    public var stateSize: Int { 2 + 2 * memory * width }
    public var summary: String { "attention(d \(width), \(heads) heads, memory \(memory)) \(headTypeName(format, wq))" }

    public func makeScratch(capacity: Int) -> QHeadScratch {
        let layers: [any HeadLinear] = [wq, wk, wv, output]
        return QHeadScratch(floats: capacity * width * 4 + memory, layers: layers.needs(rows: capacity))
    }

    public func evaluate(_ x: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>,
                         batch: Int, scratch: QHeadScratch) {
        let d = width, m = memory, hd = d / heads
        let qs = scratch.floats.pointer
        let ks = qs + batch * d, vs = ks + batch * d, o = vs + batch * d
        let p = o + batch * d
        wq(x, qs, rows: batch, scratch: scratch)
        wk(x, ks, rows: batch, scratch: scratch)
        wv(x, vs, rows: batch, scratch: scratch)
        let scale = 1 / Float(Double(hd).squareRoot())
        for b in 0..<batch {
            let s = state + b * stateSize
            let ringK = s + 2, ringV = s + 2 + m * d
            var filled = Int(s[0]), next = Int(s[1])
            (ringK + next * d).update(from: ks + b * d, count: d)
            (ringV + next * d).update(from: vs + b * d, count: d)
            filled = min(filled + 1, m)
            next = (next + 1) % m
            s[0] = Float(filled)
            s[1] = Float(next)
            // Oldest first, the order the PyTorch reference concatenates its memory in.
            let oldest = filled < m ? 0 : next
            let qb = qs + b * d, ob = o + b * d
            for h in 0..<heads {
                var top = -Float.infinity
                for e in 0..<filled {
                    let slot = (oldest + e) % m
                    var dot: Float = 0
                    for j in 0..<hd { dot += qb[h * hd + j] * ringK[slot * d + h * hd + j] }
                    p[e] = dot * scale
                    top = max(top, p[e])
                }
                var sum: Float = 0
                for e in 0..<filled { p[e] = Foundation.exp(p[e] - top); sum += p[e] }
                for j in 0..<hd { ob[h * hd + j] = 0 }
                for e in 0..<filled {
                    let slot = (oldest + e) % m, weight = p[e] / sum
                    for j in 0..<hd { ob[h * hd + j] += weight * ringV[slot * d + h * hd + j] }
                }
            }
        }
        output(o, q, rows: batch, scratch: scratch)
    }
}
