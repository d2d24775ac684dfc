/// The 32-bit Mersenne Twister, bit for bit the `std::mt19937` of C++ (seeded through its
/// one-integer constructor), so that a sampler seeded with the same number draws the same numbers
/// as llama.cpp's `dist` sampler, on every machine: it is plain integer arithmetic, nothing from
/// the platform's random facilities.
struct RandomMT19937: Sendable, Equatable {
    private static let n = 624
    private static let m = 397

    private var state: [UInt32]
    private var index: Int

    init(seed: UInt32) {
        var s = [UInt32](repeating: 0, count: Self.n)
        s[0] = seed
        for i in 1..<Self.n {
            let previous = s[i - 1]
            s[i] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(i)
        }
        state = s
        index = Self.n
    }

    /// The next 32-bit output.
    mutating func next() -> UInt32 {
        if index >= Self.n { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// Uniform in [0, 1) from two outputs, as `std::uniform_real_distribution<double>(0, 1)` makes
    /// it with libstdc++ (`generate_canonical<double, 53>`: low word plus high word times 2^32,
    /// over 2^64, a result that rounds up to 1 replaced by the largest double below 1). libc++
    /// computes the same sum; that clamp is the only place the C++ libraries can differ.
    mutating func nextUnitDouble() -> Double {
        let low = Double(next())
        let high = Double(next())
        let r = (low + high * 4_294_967_296.0) / 18_446_744_073_709_551_616.0
        return r >= 1 ? (1.0 as Double).nextDown : r
    }

    private mutating func twist() {
        state.withUnsafeMutableBufferPointer { s in
            for i in 0..<Self.n {
                let y = (s[i] & 0x8000_0000) | (s[(i + 1) % Self.n] & 0x7FFF_FFFF)
                var v = s[(i + Self.m) % Self.n] ^ (y >> 1)
                if y & 1 != 0 { v ^= 0x9908_B0DF }
                s[i] = v
            }
        }
        index = 0
    }
}
