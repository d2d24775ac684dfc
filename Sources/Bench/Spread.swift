/// Median and spread of repeated measurements: benchmarks on shared machines are noisy, so one
/// number alone says little.
public struct Spread: Sendable, Codable, Equatable {
    public var median: Double
    public var min: Double
    public var max: Double
    /// Quartiles (linear interpolation between order statistics).
    public var q1: Double
    public var q3: Double
    public var count: Int

    public init(_ values: [Double]) {
        let s = values.sorted()
        count = s.count
        func quantile(_ p: Double) -> Double {
            guard !s.isEmpty else { return .nan }
            let x = p * Double(s.count - 1)
            let lo = Int(x.rounded(.down)), hi = Swift.min(lo + 1, s.count - 1)
            return s[lo] + (s[hi] - s[lo]) * (x - Double(lo))
        }
        median = quantile(0.5)
        q1 = quantile(0.25)
        q3 = quantile(0.75)
        min = s.first ?? .nan
        max = s.last ?? .nan
    }

    /// Figures named `<prefix>_median`, `_min`, `_max`, `_q1`, `_q3`.
    public func figures(_ prefix: String) -> [String: Double] {
        ["\(prefix)_median": median, "\(prefix)_min": min, "\(prefix)_max": max, "\(prefix)_q1": q1, "\(prefix)_q3": q3]
    }
}
