import Foundation

/// When a sample stops thinking. Every policy is capped at the runner's max steps.
public enum HaltingPolicy: Sendable, Equatable {
    /// The model's own Q-head rule (TRM: q_halt > 0; HRM: q_halt > q_continue).
    case qHead
    /// q_halt > q_continue whatever the model's rule (the HRM/Q-learning reading of the two logits).
    case compare
    /// Always run the maximum number of steps (the official evaluation).
    case maxSteps
    /// Halt once the discrete-time hazard `1 - exp(-softplus(k (q_halt - c)))` reaches `threshold`.
    case hazard(HazardGate)

    func halts(rule: ModelConfig.HaltRule, qHalt: Float, qContinue: Float) -> Bool {
        switch self {
        case .maxSteps: return false
        case .compare: return qHalt > qContinue
        case let .hazard(gate): return gate.halts(qHalt: qHalt)
        case .qHead:
            switch rule {
            case .qHaltPositive: return qHalt > 0
            case .qHaltAboveContinue: return qHalt > qContinue
            }
        }
    }

    /// Public form of the decision, for tools and tests that replay recorded Q logits.
    public func halts(qHalt: Float, qContinue: Float, rule: ModelConfig.HaltRule) -> Bool {
        halts(rule: rule, qHalt: qHalt, qContinue: qContinue)
    }
}

/// A smooth halting gate on q_halt: `k` sets how sharp it is, `c` where it centres, `threshold`
/// how sure it must be. With k = 1, c = 0, threshold = 1 - exp(-log 2) = 0.5 it is exactly q_halt > 0.
public struct HazardGate: Sendable, Equatable {
    public var k: Double
    public var c: Double
    public var threshold: Double

    public init(k: Double = 1, c: Double = 0, threshold: Double = 0.5) throws {
        guard k.isFinite, c.isFinite else { throw ModelError.badInput("hazard k and c must be finite, got k=\(k), c=\(c)") }
        guard threshold.isFinite, threshold > 0, threshold < 1 else {
            throw ModelError.badInput("hazard threshold must be in (0, 1), got \(threshold)")
        }
        self.k = k
        self.c = c
        self.threshold = threshold
    }

    /// softplus without overflow: `max(x, 0) + log1p(exp(-|x|))` never exponentiates a positive number.
    public static func softplus(_ x: Double) -> Double {
        max(x, 0) + log1p(exp(-abs(x)))
    }

    /// The hazard in double precision; `-expm1(-s)` keeps small hazards accurate and large ones at 1.
    public func hazard(qHalt: Float) -> Double {
        let x = k * (Double(qHalt) - c)
        guard !x.isNaN else { return 0 }
        return -expm1(-Self.softplus(x))
    }

    public func halts(qHalt: Float) -> Bool { hazard(qHalt: qHalt) >= threshold }
}
