import Foundation
import Runtime
import TestSupport
import XCTest

/// Halting decisions against a direct double-precision evaluation of each rule.
final class HaltingPolicyTests: XCTestCase {
    /// hazard = 1 - exp(-softplus(x)) = sigmoid(x), so hazard >= t exactly when x >= log(t / (1 - t)).
    func testHazardGateMatchesClosedForm() throws {
        var rng = SystemRandomNumberGenerator()
        let extremes: [Float] = [0, -0, 1e-30, -1e-30, 1, -1, 40, -40, 1e4, -1e4, 3e38, -3e38, .infinity, -.infinity]
        var checked = 0
        for _ in 0..<400 {
            let k = Double.random(in: -50...50, using: &rng) * (Bool.random() ? 1 : 1e6)
            let c = Double.random(in: -10...10, using: &rng)
            let threshold = [0.5, 1e-12, 1 - 1e-12, Double.random(in: 0.001...0.999, using: &rng)].randomElement()!
            let gate = try HazardGate(k: k, c: c, threshold: threshold)
            let logits = extremes + (0..<50).map { _ in Float.random(in: -1e3...1e3, using: &rng) }
            for q in logits {
                let h = gate.hazard(qHalt: q)
                XCTAssertFalse(h.isNaN, "hazard is NaN for k \(k), c \(c), q \(q)")
                XCTAssertTrue(h >= 0 && h <= 1, "hazard \(h) outside [0, 1]")
                let x = k * (Double(q) - c)
                guard !x.isNaN else { continue }
                let boundary = log(threshold / (1 - threshold))
                // Rounding may move the decision within a hair of the boundary only.
                if abs(x - boundary) <= 1e-9 * max(1, abs(boundary)) { continue }
                let expected = x >= boundary
                XCTAssertEqual(gate.halts(qHalt: q), expected, "k \(k) c \(c) threshold \(threshold) q \(q): x \(x), boundary \(boundary)")
                XCTAssertEqual(HaltingPolicy.hazard(gate).halts(qHalt: q, qContinue: 0, rule: .qHaltPositive), expected)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 10_000)
    }

    func testSoftplusIsStable() {
        for x in [-1e308, -800, -40, -1, 0, 1, 40, 800, 1e308] as [Double] {
            let s = HazardGate.softplus(x)
            XCTAssertFalse(s.isNaN || s.isInfinite, "softplus(\(x)) = \(s)")
            let direct = log1p(exp(x))
            if direct.isFinite && direct > 0 { XCTAssertEqual(s, direct, accuracy: 1e-12 * max(1, direct)) }
        }
        XCTAssertEqual(HazardGate.softplus(1e308), 1e308)
    }

    func testDefaultGateIsQHaltNonNegative() throws {
        let gate = try HazardGate()
        for q: Float in [-1, -1e-7, 0, 1e-7, 1] { XCTAssertEqual(gate.halts(qHalt: q), q >= 0, "q \(q)") }
    }

    func testRulesOnRandomLogits() {
        for _ in 0..<2000 {
            let h = Float.random(in: -20...20), c = Float.random(in: -20...20)
            XCTAssertEqual(HaltingPolicy.compare.halts(qHalt: h, qContinue: c, rule: .qHaltPositive), Double(h) > Double(c))
            XCTAssertEqual(HaltingPolicy.qHead.halts(qHalt: h, qContinue: c, rule: .qHaltPositive), Double(h) > 0)
            XCTAssertEqual(HaltingPolicy.qHead.halts(qHalt: h, qContinue: c, rule: .qHaltAboveContinue), Double(h) > Double(c))
            XCTAssertFalse(HaltingPolicy.maxSteps.halts(qHalt: h, qContinue: c, rule: .qHaltPositive))
        }
    }

    func testBadGateSettingsAreRejected() {
        XCTAssertThrowsError(try HazardGate(k: .nan, c: 0, threshold: 0.5))
        XCTAssertThrowsError(try HazardGate(k: 1, c: 0, threshold: 1))
        XCTAssertThrowsError(try HazardGate(k: 1, c: 0, threshold: 0))
        XCTAssertThrowsError(try HazardGate(k: 1, c: .infinity, threshold: 0.5))
    }
}
