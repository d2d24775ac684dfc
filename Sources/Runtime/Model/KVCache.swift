#if canImport(Glibc)
import Glibc
#endif

/// Keys and values of one sequence: per virtual layer, `capacity` rows of `width` floats (kv heads
/// x head size). Memory is reserved at once but only touched as positions fill, so a long
/// `--ctx-size` costs address space, not resident memory, until it is used.
///
/// A recursive LM's cache has `steps` ACT steps of `layers / steps` virtual layers each, and
/// remembers how many steps every position ran. A position that halted before step s has no keys
/// of its own there: when step s is first needed, `fill` copies those of its last step into it
/// (docs/recursive-lm.md), so each step's attention reads one contiguous block per layer and a
/// step no token reached costs no memory.
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public let layers: Int
    let width: Int
    /// ACT steps with entries of their own (1 for a flat decoder).
    public let steps: Int
    /// Positions filled (the next token's position).
    public internal(set) var count = 0
    /// ACT steps each position ran (recursive LMs; 0 while a position is still running).
    public internal(set) var positionSteps: [Int32] = []
    /// Per ACT step: positions below this hold valid entries in that step's layers.
    private var filled: [Int]
    private let storage: UnsafeMutableRawPointer
    private let byteCount: Int

    init(layers: Int, capacity: Int, width: Int, steps: Int = 1) throws {
        precondition(steps >= 1 && layers % steps == 0)
        self.layers = layers
        self.capacity = capacity
        self.width = width
        self.steps = steps
        filled = Array(repeating: 0, count: steps)
        let (bytes, overflow) = (2 * layers * width * MemoryLayout<Float>.stride).multipliedReportingOverflow(by: capacity)
        byteCount = max(bytes, 1)
        // Anonymous pages read as zero and become resident when first written.
        let mapped = overflow ? nil : mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw ModelError.badInput("cannot reserve \(overflow ? "that many" : "\(byteCount)") bytes for a KV cache of \(capacity) tokens x \(layers) layers: use a smaller --ctx-size")
        }
        storage = mapped
    }

    deinit { munmap(storage, byteCount) }

    /// Bytes reserved for `layers x capacity` positions.
    public var reservedBytes: Int { byteCount }

    func keys(_ layer: Int) -> UnsafeMutablePointer<Float> {
        storage.assumingMemoryBound(to: Float.self) + (2 * layer) * capacity * width
    }

    func values(_ layer: Int) -> UnsafeMutablePointer<Float> {
        storage.assumingMemoryBound(to: Float.self) + (2 * layer + 1) * capacity * width
    }

    /// Forgets every position from `position` on (the next forward call writes there again).
    public func truncate(to position: Int) {
        count = min(max(position, 0), count)
        if positionSteps.count > count { positionSteps.removeLast(positionSteps.count - count) }
        for s in filled.indices { filled[s] = min(filled[s], count) }
    }

    /// Records that `position` halted after `stepsRun` ACT steps.
    func setSteps(_ stepsRun: Int, at position: Int) {
        if positionSteps.count <= position { positionSteps += Array(repeating: 0, count: position + 1 - positionSteps.count) }
        positionSteps[position] = Int32(stepsRun)
    }

    /// Makes positions `0 ..< end` of ACT step `step` valid before rows at or after `end` run
    /// that step: a position that halted earlier gets the entries of its last step, copied for
    /// every virtual layer. Positions still running that step write their own entries as they go;
    /// `markWritten` then records them.
    func fill(step: Int, upTo end: Int) {
        guard step > 0, filled[step] < end else { return }
        let perStep = layers / steps, floats = width
        for p in filled[step]..<end {
            let ran = p < positionSteps.count ? Int(positionSteps[p]) : 0
            guard ran > 0, ran <= step else { continue }
            for v in 0..<perStep {
                let from = (ran - 1) * perStep + v, to = step * perStep + v
                (keys(to) + p * floats).update(from: keys(from) + p * floats, count: floats)
                (values(to) + p * floats).update(from: values(from) + p * floats, count: floats)
            }
        }
        filled[step] = end
    }

    /// Records that every position below `end` now holds entries of ACT step `step`.
    func markWritten(step: Int, upTo end: Int) {
        filled[step] = max(filled[step], end)
    }
}
