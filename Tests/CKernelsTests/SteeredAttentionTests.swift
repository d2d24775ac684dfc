import CKernels
import Foundation
import TestSupport
import XCTest

/// `recur_f32_steered_attention`: causal attention with an attention controller's distribution
/// mixed in (docs/attention-controller.md), against a double-precision reference of the rule, in
/// every tier; alpha 0 is plain attention bit for bit; tiers mix alike.
final class SteeredAttentionTests: XCTestCase {
    /// One call's inputs: separate q, k, v with padded rows, controller slots per row and head
    /// (a softmax over the slots the row's position has, 0 elsewhere), and alphas, some 0.
    private struct Case {
        let n, pos0, heads, kvHeads, headDim, window: Int
        let q, k, v, slots, alpha: [Float]
        var qStride: Int { heads * headDim + 3 }
        var kvStride: Int { kvHeads * headDim + 1 }
        var width: Int { heads * headDim }
        var label: String { "n=\(n) pos0=\(pos0) heads=\(heads)/\(kvHeads) d=\(headDim) K=\(window)" }

        init(n: Int, pos0: Int, heads: Int, kvHeads: Int, headDim: Int, window: Int, zeroAlpha: Bool = false, seed: UInt64) {
            self.n = n; self.pos0 = pos0; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.window = window
            var rng = SeededRandom(seed: seed)
            let keys = pos0 + n
            q = rng.floats(n * (heads * headDim + 3), -2, 2)
            k = rng.floats(keys * (kvHeads * headDim + 1), -2, 2)
            v = rng.floats(keys * (kvHeads * headDim + 1), -2, 2)
            var slots = [Float](repeating: 0, count: n * heads * (window + 1))
            var alpha = [Float](repeating: 0, count: n * heads)
            for i in 0..<n {
                let t = pos0 + i
                for h in 0..<heads {
                    let base = (i * heads + h) * (window + 1)
                    let valid = (0...window).filter { $0 < window ? t - $0 >= 0 : t >= window }
                    let raw = valid.map { _ in Foundation.exp(Double(rng.floats(1, -3, 3)[0])) }
                    let sum = raw.reduce(0, +)
                    for (s, r) in zip(valid, raw) { slots[base + s] = Float(r / sum) }
                    // Every third (row, head) unsteered; the rest anywhere in (0, 1].
                    let r = rng.floats(1, 0, 1)[0]
                    alpha[i * heads + h] = zeroAlpha || (i + h) % 3 == 0 ? 0 : max(r, 1e-3)
                }
            }
            self.slots = slots
            self.alpha = alpha
        }

        /// The rule in double precision, packed [n, heads * headDim].
        func reference() -> [Double] {
            var out = [Double](repeating: 0, count: n * width)
            let group = heads / kvHeads, scale = 1 / Double(headDim).squareRoot()
            for i in 0..<n {
                let t = pos0 + i, seen = t + 1
                for h in 0..<heads {
                    let g = h / group
                    var p = (0..<seen).map { j -> Double in
                        var dot = 0.0
                        for d in 0..<headDim { dot += Double(q[i * qStride + h * headDim + d]) * Double(k[j * kvStride + g * headDim + d]) }
                        return dot * scale
                    }
                    let top = p.max()!
                    p = p.map { Foundation.exp($0 - top) }
                    let sum = p.reduce(0, +)
                    p = p.map { $0 / sum }
                    let a = Double(alpha[i * heads + h])
                    if a != 0 {
                        let s = (i * heads + h) * (window + 1)
                        let first = max(0, seen - window)
                        let before = p[0..<first].reduce(0, +)
                        for j in 0..<seen {
                            if j >= first {
                                p[j] = (1 - a) * p[j] + a * Double(slots[s + t - j])
                            } else {
                                p[j] *= before > 0 ? (1 - a) + a * Double(slots[s + window]) / before : 1 - a
                            }
                        }
                    }
                    for d in 0..<headDim {
                        var acc = 0.0
                        for j in 0..<seen { acc += p[j] * Double(v[j * kvStride + g * headDim + d]) }
                        out[i * width + h * headDim + d] = acc
                    }
                }
            }
            return out
        }

        /// Runs the kernel (steered, or plain with `plain`) at the thread count in force.
        func run(plain: Bool = false, window w: Int? = nil) -> (rc: Int32, out: [Float]) {
            var out = [Float](repeating: .nan, count: n * width)
            var scratch = [Float](repeating: 0, count: Int(recur_f32_causal_attention_scratch(Int64(n), Int64(pos0 + n))) * Int(recur_get_num_threads()))
            let rc = q.withUnsafeBufferPointer { q in
                k.withUnsafeBufferPointer { k in
                    v.withUnsafeBufferPointer { v in
                        slots.withUnsafeBufferPointer { s in
                            alpha.withUnsafeBufferPointer { a in
                                out.withUnsafeMutableBufferPointer { o in
                                    scratch.withUnsafeMutableBufferPointer { sc in
                                        plain
                                            ? recur_f32_causal_attention(q.baseAddress!, Int64(qStride), k.baseAddress!, v.baseAddress!, Int64(kvStride),
                                                                         o.baseAddress!, Int64(width), Int64(n), Int64(pos0), Int64(heads), Int64(kvHeads),
                                                                         Int64(headDim), 1 / Float(headDim).squareRoot(), sc.baseAddress!)
                                            : recur_f32_steered_attention(q.baseAddress!, Int64(qStride), k.baseAddress!, v.baseAddress!, Int64(kvStride),
                                                                          o.baseAddress!, Int64(width), Int64(n), Int64(pos0), Int64(heads), Int64(kvHeads),
                                                                          Int64(headDim), 1 / Float(headDim).squareRoot(), sc.baseAddress!,
                                                                          s.baseAddress!, a.baseAddress!, Int64(w ?? window))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return (rc, out)
        }
    }

    /// Prefill (window shorter and longer than the context), decode (one row far in), GQA groups,
    /// a head width that is not a multiple of the vector width, window 1.
    private let cases: [Case] = [
        Case(n: 20, pos0: 0, heads: 4, kvHeads: 2, headDim: 16, window: 8, seed: 1),
        Case(n: 1, pos0: 70, heads: 9, kvHeads: 3, headDim: 64, window: 32, seed: 2),
        Case(n: 5, pos0: 3, heads: 3, kvHeads: 1, headDim: 13, window: 64, seed: 3),
        Case(n: 70, pos0: 10, heads: 2, kvHeads: 2, headDim: 8, window: 1, seed: 4),
        Case(n: 3, pos0: 40, heads: 4, kvHeads: 4, headDim: 24, window: 17, seed: 5),
    ]

    private func check(_ isa: recur_isa) throws {
        let name = String(cString: recur_isa_name(isa))
        try withTier(isa) {
            var worst = 0.0
            for c in cases {
                let (rc, got) = c.run()
                XCTAssertEqual(rc, 0, "\(name) \(c.label)")
                let expected = c.reference()
                assertClose(expected, got, rtol: 1e-5, atol: 1e-5, "\(name) steered attention \(c.label)")
                for i in got.indices { worst = max(worst, abs(Double(got[i]) - expected[i]) / (abs(expected[i]) + 1)) }
            }
            print("\(name) steered attention: max |got - expected| / (|expected| + 1) = \(worst) over \(cases.count) shapes")
        }
    }

    func testSteeredAttentionScalar() throws { try check(RECUR_ISA_SCALAR) }
    func testSteeredAttentionAVX2() throws { try check(RECUR_ISA_AVX2) }
    func testSteeredAttentionAVX512() throws { try check(RECUR_ISA_AVX512) }

    /// The mixing runs the same operations in every tier, so a SIMD tier's steered result differs
    /// from scalar exactly where its plain result does (the softmax), and nowhere else: with the
    /// plain rows equal, the steered rows are equal bit for bit.
    func testTiersMixAlike() throws {
        let best = recur_isa_best()
        guard best != RECUR_ISA_SCALAR else { throw XCTSkip("this CPU has no SIMD tier") }
        for c in cases {
            let plain = try scalarAnd(best) { c.run(plain: true).out }
            let steered = try scalarAnd(best) { c.run().out }
            if plain.scalar.map(\.bitPattern) == plain.simd.map(\.bitPattern) {
                assertBitIdentical(steered.scalar, steered.simd, "steered attention \(c.label): \(String(cString: recur_isa_name(best))) vs scalar")
            } else {
                assertClose(steered.scalar.map(Double.init), steered.simd, rtol: 1e-6, atol: 1e-6, "steered attention \(c.label)")
            }
        }
    }

    /// Alpha 0 everywhere: the plain kernel's bits, in the scalar tier and the best one.
    func testZeroAlphaIsPlainAttention() throws {
        for isa in [RECUR_ISA_SCALAR, recur_isa_best()] {
            try withTier(isa) {
                for (i, c) in cases.enumerated() {
                    let z = Case(n: c.n, pos0: c.pos0, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, window: c.window, zeroAlpha: true, seed: 100 + UInt64(i))
                    assertBitIdentical(z.run(plain: true).out, z.run().out, "alpha 0 \(z.label)")
                    // And a steered call whose rows are not all 0 differs from plain somewhere.
                    XCTAssertNotEqual(c.run(plain: true).out.map(\.bitPattern), c.run().out.map(\.bitPattern), "\(c.label): steering changed nothing")
                }
            }
        }
    }

    func testThreadCountInvariant() throws {
        for isa in [RECUR_ISA_SCALAR, recur_isa_best()] {
            try withTier(isa) {
                for c in cases {
                    let one = withThreads(1) { c.run().out }
                    for threads: Int32 in [2, 3] {
                        assertBitIdentical(one, withThreads(threads) { c.run().out }, "\(c.label) at \(threads) threads")
                    }
                }
            }
        }
    }

    func testRejectsInvalidWindow() {
        let c = cases[0]
        for w in [0, -1, Int(RECUR_STEER_MAX_WINDOW) + 1] {
            let (rc, out) = c.run(window: w)
            XCTAssertEqual(rc, -1, "window \(w)")
            XCTAssertTrue(out.allSatisfy(\.isNaN), "window \(w): nothing written")
        }
    }
}
