import Foundation

/// Deterministic SplitMix64 for test data, so every random case repeats run to run and a failure
/// reproduces on any machine. One generator for all test targets.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [low, high), from the top 24 bits.
    public mutating func float(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }

    public mutating func floats(_ count: Int, _ low: Float = -1, _ high: Float = 1) -> [Float] {
        (0..<count).map { _ in float(low, high) }
    }

    /// Approximately standard normal (Box-Muller).
    public mutating func normal() -> Float {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let v = Double.random(in: 0..<1, using: &self)
        return Float((-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v))
    }
}
