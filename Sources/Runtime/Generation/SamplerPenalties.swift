/// The repeat, frequency and presence penalties of llama.cpp's `penalties` sampler: how often each
/// token occurs among the last `window` accepted tokens, and what that does to its logit.
struct SamplerPenalties: Sendable {
    let window: Int
    let repeatPenalty: Float
    let frequencyPenalty: Float
    let presencePenalty: Float
    /// False when the parameters leave every logit as it is; then nothing is recorded either.
    let isActive: Bool

    /// The window's tokens, oldest at `oldest` once the ring is full (unused for the whole context).
    private var ring: [Int32] = []
    private var oldest = 0
    /// How often each token occurs in the window; a token leaves when its count reaches 0.
    private(set) var counts: [Int32: Int] = [:]

    init(_ p: SamplingParameters) {
        window = p.repeatLastN
        repeatPenalty = p.repeatPenalty
        frequencyPenalty = p.frequencyPenalty
        presencePenalty = p.presencePenalty
        isActive = p.hasPenalties && p.repeatLastN >= -1
    }

    mutating func accept(_ token: Int32) {
        guard isActive else { return }
        if window > 0 {
            if ring.count < window {
                ring.append(token)
            } else {
                let old = ring[oldest]
                if let c = counts[old] { counts[old] = c > 1 ? c - 1 : nil }
                ring[oldest] = token
                oldest = (oldest + 1) % window
            }
        }
        counts[token, default: 0] += 1
    }

    mutating func reset() {
        ring.removeAll(keepingCapacity: true)
        oldest = 0
        counts.removeAll(keepingCapacity: true)
    }

    /// Penalizes `logits[0..<count]` in place, only at the tokens in the window (and inside the
    /// vocabulary: an accepted id outside it is remembered but touches nothing). Same arithmetic
    /// as llama.cpp: a logit at or below 0 is multiplied by the repeat penalty, above 0 divided,
    /// then count × frequency + presence is subtracted.
    func apply(to logits: UnsafeMutablePointer<Float>, count: Int) {
        guard isActive else { return }
        for (token, seen) in counts where token >= 0 && Int(token) < count {
            var l = logits[Int(token)]
            if l <= 0 { l *= repeatPenalty } else { l /= repeatPenalty }
            l -= Float(seen) * frequencyPenalty + (seen > 0 ? presencePenalty : 0)
            logits[Int(token)] = l
        }
    }
}
