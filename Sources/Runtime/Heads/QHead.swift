import CKernels

/// A halting head: reads `z_H[:, 0]` (the Q-head input) of every active slot and writes the
/// (q_halt, q_continue) logits the halting policy reads.
///
/// Heads are immutable and shared; anything a head carries from one ACT step to the next lives in
/// a per-slot state of `stateSize` floats that the runner resets when a slot takes a new puzzle and
/// copies when it compacts slots, so a sample's decisions never depend on its neighbours.
public protocol QHead: AnyObject {
    var kind: QHeadKind { get }
    var format: QHeadFormat { get }
    var inputSize: Int { get }
    var stateSize: Int { get }
    /// Bytes of weights and constants as stored in the file.
    var byteSize: Int { get }
    /// A short description such as "mlp(64, relu) Q8_0".
    var summary: String { get }
    func resetState(_ state: UnsafeMutablePointer<Float>)
    func makeScratch(capacity: Int) -> QHeadScratch
    /// `q[b, 0..<2]` for rows `x[b, 0..<inputSize]`, b < batch; `state` holds `batch` slot states.
    func evaluate(_ x: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>,
                  batch: Int, scratch: QHeadScratch)
}

extension QHead {
    public var stateSize: Int { 0 }
    public func resetState(_ state: UnsafeMutablePointer<Float>) {
        state.update(repeating: 0, count: stateSize)
    }
}

/// Scratch memory a head needs at a batch capacity, allocated once per runner: `floats` for the
/// head's own intermediate rows, the rest for its layers (`HeadLinear.needs`).
public final class QHeadScratch: @unchecked Sendable {
    public let floats: FloatBuffer
    let quant: RawBuffer
    let words: UnsafeMutablePointer<UInt64>
    let wordCount: Int
    let ints: UnsafeMutablePointer<Int32>
    let intCount: Int
    let layerFloats: FloatBuffer

    init(floats: Int, layers needs: HeadScratchNeeds = HeadScratchNeeds()) {
        self.floats = FloatBuffer(count: max(floats, 1))
        quant = RawBuffer(byteCount: needs.quantBytes)
        wordCount = max(needs.words, 1)
        words = .allocate(capacity: wordCount)
        words.initialize(repeating: 0, count: wordCount)
        intCount = max(needs.ints, 1)
        ints = .allocate(capacity: intCount)
        ints.initialize(repeating: 0, count: intCount)
        layerFloats = FloatBuffer(count: max(needs.floats, 1))
    }

    deinit {
        words.deallocate()
        ints.deallocate()
    }
}

/// One head with the per-slot states and scratch of a batch: what the ACT runner holds.
public final class QHeadSession {
    public let head: QHead
    public let capacity: Int
    let state: FloatBuffer
    let scratch: QHeadScratch

    public init(head: QHead, capacity: Int) {
        self.head = head
        self.capacity = capacity
        state = FloatBuffer(count: max(capacity * head.stateSize, 1))
        scratch = head.makeScratch(capacity: capacity)
    }

    /// A slot starts a new puzzle.
    public func reset(slot: Int) {
        head.resetState(state.pointer + slot * head.stateSize)
    }

    /// The runner moved a sample from slot `source` to slot `destination`.
    public func move(from source: Int, to destination: Int) {
        let n = head.stateSize
        guard n > 0, source != destination else { return }
        (state.pointer + destination * n).update(from: state.pointer + source * n, count: n)
    }

    /// Q logits `[batch, 2]` for the first `batch` slots.
    public func evaluate(_ x: UnsafePointer<Float>, q: UnsafeMutablePointer<Float>, batch: Int) {
        head.evaluate(x, state: state.pointer, q: q, batch: batch, scratch: scratch)
    }

    /// Convenience for tools: one step of `batch` rows from Swift arrays.
    public func evaluate(_ x: [Float], batch: Int) -> [Float] {
        var q = [Float](repeating: 0, count: 2 * batch)
        x.withUnsafeBufferPointer { xs in q.withUnsafeMutableBufferPointer { evaluate(xs.baseAddress!, q: $0.baseAddress!, batch: batch) } }
        return q
    }
}
