/// Sorts a long candidate list (top-k off) by descending logit, then ascending position, in a few
/// linear passes: a comparison sort of 49,152 candidates costs several milliseconds per token,
/// which llama.cpp avoids with a bucket sort. Each candidate becomes a 64-bit key, the logit's
/// bits made to order as unsigned integers (descending) above its position, sorted by bytes from
/// the lowest (LSD radix), skipping the bytes all keys share.
struct SamplerRadixSort: Sendable {
    private var keys: [UInt64] = []
    private var other: [UInt64] = []
    private var moved: [SamplerCandidate] = []

    /// The key: larger logits give smaller keys, -0 counts as +0 (they compare equal as floats),
    /// and the position breaks ties. Logits must not be NaN.
    @inline(__always)
    static func key(_ logit: Float, _ position: Int) -> UInt64 {
        let bits = logit == 0 ? 0 : logit.bitPattern
        let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(~ascending) << 32 | UInt64(UInt32(truncatingIfNeeded: position))
    }

    /// Sorts `items[0..<n]` as `SamplerCandidates.precedes` would when positions rise with ids.
    mutating func sort(_ items: UnsafeMutablePointer<SamplerCandidate>, _ n: Int) {
        guard n > 1 else { return }
        if keys.count < n {
            keys = [UInt64](repeating: 0, count: n)
            other = [UInt64](repeating: 0, count: n)
            moved = [SamplerCandidate](repeating: SamplerCandidate(id: 0, logit: 0), count: n)
        }
        keys.withUnsafeMutableBufferPointer { a in
            other.withUnsafeMutableBufferPointer { b in
                moved.withUnsafeMutableBufferPointer { m in
                    Self.sort(items, n, a.baseAddress!, b.baseAddress!, m.baseAddress!)
                }
            }
        }
    }

    private static func sort(
        _ items: UnsafeMutablePointer<SamplerCandidate>, _ n: Int,
        _ a: UnsafeMutablePointer<UInt64>, _ b: UnsafeMutablePointer<UInt64>, _ m: UnsafeMutablePointer<SamplerCandidate>
    ) {
        for i in 0..<n { a[i] = key(items[i].logit, i) }
        var source = a
        var target = b
        var counts = [Int](repeating: 0, count: 256)
        counts.withUnsafeMutableBufferPointer { c in
            for shift in stride(from: UInt64(0), to: 64, by: 8) {
                for d in 0..<256 { c[d] = 0 }
                for i in 0..<n { c[Int(truncatingIfNeeded: source[i] >> shift) & 255] += 1 }
                if c[Int(truncatingIfNeeded: source[0] >> shift) & 255] == n { continue }
                var sum = 0
                for d in 0..<256 {
                    let k = c[d]
                    c[d] = sum
                    sum += k
                }
                for i in 0..<n {
                    let d = Int(truncatingIfNeeded: source[i] >> shift) & 255
                    target[c[d]] = source[i]
                    c[d] += 1
                }
                swap(&source, &target)
            }
        }
        for i in 0..<n { m[i] = items[Int(truncatingIfNeeded: source[i] & 0xFFFF_FFFF)] }
        items.update(from: m, count: n)
    }
}
