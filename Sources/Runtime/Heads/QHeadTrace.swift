/// What each matrix of a head reads and writes over a set of state sequences: the float path the
/// BNN and SNN converters fit their layers to, recorded by running the head itself (so the GRU
/// cell and the attention ring are the runtime's own code, not a second copy).
public struct QHeadLayerTrace: Sendable {
    public var inFeatures: Int
    public var outFeatures: Int
    /// Rows of `inFeatures` (what the matrix read) and of `outFeatures` (what it wrote).
    public var inputs: [Float] = []
    public var outputs: [Float] = []
    public var rows: Int { inFeatures == 0 ? 0 : inputs.count / inFeatures }
}

public enum QHeadTracer {
    /// Runs `head` over `states` (`sequences` x `steps` rows of `inputSize`, sequence-major) one
    /// step at a time with every sequence in its own slot, and returns each matrix's trace in
    /// `QHeadLayout.matrices` order.
    public static func trace(_ head: QHead, states: [Float], steps: Int) throws -> [QHeadLayerTrace] {
        let recorders: [Recorder]
        let traced: QHead
        switch head {
        case let h as FeedForwardHead:
            recorders = h.layers.map(Recorder.init)
            traced = FeedForwardHead(kind: h.kind, format: h.format, layers: recorders, activation: h.activation, byteSize: h.byteSize)
        case let h as GRUHead:
            recorders = [h.input, h.ih, h.hh, h.output].map(Recorder.init)
            traced = GRUHead(input: recorders[0], ih: recorders[1], hh: recorders[2], output: recorders[3], format: h.format, byteSize: h.byteSize)
        case let h as AttentionHead:
            recorders = [h.wq, h.wk, h.wv, h.output].map(Recorder.init)
            traced = AttentionHead(wq: recorders[0], wk: recorders[1], wv: recorders[2], output: recorders[3],
                                   heads: h.heads, memory: h.memory, format: h.format, byteSize: h.byteSize)
        default:
            throw ModelError.badInput("head trace: \(head.summary) is not a float, binary or recurrent head")
        }
        _ = try evaluate(traced, states: states, steps: steps)
        return recorders.map(\.trace)
    }

    /// Q logits of every step of every sequence, sequence-major like `states`: each sequence in
    /// its own slot, reset first, fed one step at a time.
    public static func evaluate(_ head: QHead, states: [Float], steps: Int) throws -> [Float] {
        let n = head.inputSize
        guard steps >= 1, n > 0, states.count % (n * steps) == 0 else {
            throw ModelError.badInput("head run: \(states.count) values are not whole sequences of \(steps) steps x \(n)")
        }
        let sequences = states.count / (n * steps)
        guard sequences > 0 else { return [] }
        let session = QHeadSession(head: head, capacity: sequences)
        for s in 0..<sequences { session.reset(slot: s) }
        var x = [Float](repeating: 0, count: sequences * n)
        var q = [Float](repeating: 0, count: sequences * steps * 2)
        for t in 0..<steps {
            for s in 0..<sequences {
                let from = (s * steps + t) * n
                x.replaceSubrange(s * n..<(s + 1) * n, with: states[from..<from + n])
            }
            let out = session.evaluate(x, batch: sequences)
            for s in 0..<sequences { for i in 0..<2 { q[(s * steps + t) * 2 + i] = out[2 * s + i] } }
        }
        return q
    }

    /// A matrix that records what passes through it.
    final class Recorder: HeadLinear {
        let inner: any HeadLinear
        var trace: QHeadLayerTrace

        init(_ inner: any HeadLinear) {
            self.inner = inner
            trace = QHeadLayerTrace(inFeatures: inner.inFeatures, outFeatures: inner.outFeatures)
        }

        var inFeatures: Int { inner.inFeatures }
        var outFeatures: Int { inner.outFeatures }
        func needs(rows: Int) -> HeadScratchNeeds { inner.needs(rows: rows) }

        func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, scratch: QHeadScratch) {
            inner(x, y, rows: rows, scratch: scratch)
            trace.inputs.append(contentsOf: UnsafeBufferPointer(start: x, count: rows * inFeatures))
            trace.outputs.append(contentsOf: UnsafeBufferPointer(start: y, count: rows * outFeatures))
        }
    }
}
