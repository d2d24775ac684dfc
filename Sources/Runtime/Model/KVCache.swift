#if canImport(Glibc)
import Glibc
#endif

/// Keys and values of one sequence: per virtual layer, `capacity` rows of `width` floats (kv heads
/// x head size). Memory is reserved at once but only touched as positions fill, so a long
/// `--ctx-size` costs address space, not resident memory, until it is used.
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public let layers: Int
    let width: Int
    /// Positions filled (the next token's position).
    public internal(set) var count = 0
    private let storage: UnsafeMutableRawPointer
    private let byteCount: Int

    init(layers: Int, capacity: Int, width: Int) throws {
        self.layers = layers
        self.capacity = capacity
        self.width = width
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
    }
}
