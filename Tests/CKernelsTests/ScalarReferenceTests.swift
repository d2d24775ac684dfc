import CKernels
import Foundation
import XCTest

/// The scalar tier against straightforward double-precision definitions. Tolerances are bounds on
/// float rounding for the operations each kernel performs (u = 2^-24, one half ulp).
final class ScalarReferenceTests: XCTestCase {
    override func invokeTest() {
        do { try withTier(RECUR_ISA_SCALAR) { super.invokeTest() } } catch { XCTFail("\(error)") }
    }

    func testRMSNorm() {
        var rng = SeededRandom(seed: 11)
        for dim in raggedSizes + [512] {
            let rows = 3, eps: Float = 1e-5
            let x = rng.floats(rows * dim, -3, 3), res = rng.floats(rows * dim, -3, 3)
            func reference(_ v: [Double]) -> [Double] {
                (0..<rows).flatMap { r -> [Double] in
                    let row = v[r * dim..<(r + 1) * dim]
                    let meanSquare = row.reduce(0) { $0 + $1 * $1 } / Double(dim)
                    return row.map { $0 / (meanSquare + Double(eps)).squareRoot() }
                }
            }
            var y = x
            recur_f32_rms_norm(&y, Int64(rows), Int64(dim), eps)
            // mean, + eps, sqrt, divide, multiply: five roundings.
            assertClose(reference(x.map(Double.init)), y, rtol: 4e-7, atol: 0, "rms_norm dim=\(dim)")

            var z = x
            recur_f32_add_rms_norm(&z, res, Int64(rows), Int64(dim), eps)
            let sum = zip(x, res).map { Double($0 + $1) } // the kernel stores x + res as a float first
            assertClose(reference(sum), z, rtol: 4e-7, atol: 0, "add_rms_norm dim=\(dim)")
        }
    }

    func testSwiGLU() {
        var rng = SeededRandom(seed: 12)
        for inter in raggedSizes {
            let rows = 2
            let gu = rng.floats(rows * 2 * inter, -12, 12)
            var out = [Float](repeating: 0, count: rows * inter)
            recur_f32_swiglu(gu, &out, Int64(rows), Int64(inter))
            let reference = (0..<rows * inter).map { i -> Double in
                let r = i / inter, j = i % inter
                let g = Double(gu[r * 2 * inter + j]), u = Double(gu[r * 2 * inter + inter + j])
                return g / (1 + exp(-g)) * u
            }
            // expf (< 1 ulp), then +, / and *: within 4 half-ulps.
            assertClose(reference, out, rtol: 4e-7, atol: 0, "swiglu inter=\(inter)")
        }
    }

    func testSoftmax() {
        var rng = SeededRandom(seed: 13)
        for n in raggedSizes {
            let rows = 3
            let x = rng.floats(rows * n, -20, 20)
            var y = x
            recur_f32_softmax(&y, Int64(rows), Int64(n))
            for r in 0..<rows {
                let row = x[r * n..<(r + 1) * n].map(Double.init)
                let m = row.max()!
                let e = row.map { exp($0 - m) }
                let s = e.reduce(0, +)
                for j in 0..<n {
                    let exact = e[j] / s, got = Double(y[r * n + j])
                    // x - max rounds (absolute error u*|x - max|, which exp turns into a relative
                    // one), expf < 1 ulp, the double sum rounded to float, 1/sum, multiply.
                    let bound = (abs(row[j] - m) + 6) * 0x1p-24 * exact
                    if abs(got - exact) > bound {
                        XCTFail("softmax n=\(n) row \(r) [\(j)]: \(got) vs \(exact), bound \(bound)")
                        return
                    }
                }
            }
            for r in 0..<rows {
                let total = y[r * n..<(r + 1) * n].reduce(0, +)
                XCTAssertEqual(total, 1, accuracy: 1e-5, "softmax row sums to one")
            }
        }
    }

    func testRoPERotation() {
        var rng = SeededRandom(seed: 14)
        for headDim in [2, 8, 14, 64] {
            let batch = 2, seq = 9, heads = 2, stride = heads * headDim
            let x = rng.floats(batch * seq * stride, -2, 2)
            var cos = [Float](repeating: 0, count: seq * headDim), sin = cos
            recur_f32_rope_tables(&cos, &sin, Int64(seq), Int64(headDim), 10000)
            var y = x
            recur_f32_rope(&y, Int64(batch), Int64(seq), Int64(heads), Int64(headDim), Int64(stride), cos, sin)
            let half = headDim / 2
            for row in 0..<batch * seq {
                let p = row % seq
                for h in 0..<heads {
                    let base = row * stride + h * headDim
                    for i in 0..<headDim {
                        let a = Double(x[base + i]), b = Double(x[base + (i + half) % headDim])
                        let c = Double(cos[p * headDim + i]), s = Double(sin[p * headDim + i])
                        // rotate_half: first half pairs with -v[i + half], second with +v[i - half]
                        let rotated = i < half ? -b : b
                        let exact = a * c + rotated * s
                        let bound = 2 * 0x1p-24 * (abs(a * c) + abs(rotated * s))
                        XCTAssertLessThanOrEqual(abs(Double(y[base + i]) - exact), bound,
                                                 "rope row \(row) head \(h) dim \(i)")
                    }
                }
            }
        }
    }

    func testRoPETablesAtPositionZero() {
        var cos = [Float](repeating: .nan, count: 3 * 8), sin = cos
        recur_f32_rope_tables(&cos, &sin, 3, 8, 10000)
        XCTAssertEqual(Array(cos[0..<8]), [Float](repeating: 1, count: 8))
        XCTAssertEqual(Array(sin[0..<8]), [Float](repeating: 0, count: 8))
        // emb = cat(freqs, freqs): both halves equal.
        XCTAssertEqual(Array(cos[8..<12]), Array(cos[12..<16]))
        XCTAssertEqual(Array(sin[16..<20]), Array(sin[20..<24]))
    }

    func testAttention() {
        var rng = SeededRandom(seed: 15)
        for (batch, seq, heads, kvHeads, headDim) in [(1, 1, 2, 2, 8), (2, 5, 4, 2, 7), (1, 33, 2, 1, 16), (1, 64, 2, 2, 64)] {
            let width = (heads + 2 * kvHeads) * headDim
            let qkv = rng.floats(batch * seq * width, -1, 1)
            let scale = 1 / Float(headDim).squareRoot()
            var out = [Float](repeating: .nan, count: batch * seq * heads * headDim)
            var scratch = [Float](repeating: 0, count: Int(recur_f32_attention_scratch(Int64(seq))) *
                                                       Int(recur_get_num_threads()))
            recur_f32_attention(qkv, &out, Int64(batch), Int64(seq), Int64(heads), Int64(kvHeads),
                                Int64(headDim), scale, &scratch)
            var reference = [Double](repeating: 0, count: out.count)
            let group = heads / kvHeads
            for b in 0..<batch {
                for h in 0..<heads {
                    let kh = h / group
                    for i in 0..<seq {
                        let q = (0..<headDim).map { Double(qkv[(b * seq + i) * width + h * headDim + $0]) }
                        let scores = (0..<seq).map { j -> Double in
                            let k = (b * seq + j) * width + (heads + kh) * headDim
                            return (0..<headDim).reduce(0) { $0 + q[$1] * Double(qkv[k + $1]) } * Double(scale)
                        }
                        let m = scores.max()!
                        let e = scores.map { exp($0 - m) }
                        let s = e.reduce(0, +)
                        for d in 0..<headDim {
                            var acc = 0.0
                            for j in 0..<seq {
                                acc += e[j] * Double(qkv[(b * seq + j) * width + (heads + kvHeads + kh) * headDim + d])
                            }
                            reference[((b * seq + i) * heads + h) * headDim + d] = acc / s
                        }
                    }
                }
            }
            assertClose(reference, out, rtol: 1e-5, atol: 1e-6,
                        "attention b=\(batch) s=\(seq) h=\(heads) kv=\(kvHeads) d=\(headDim)")
        }
    }

    func testEmbeddingArgmaxTranspose() {
        var rng = SeededRandom(seed: 17)
        let vocab = 13, dim = 33
        let table = rng.floats(vocab * dim)
        let ids: [Int32] = [0, 12, 5, 5, 7]
        var out = [Float](repeating: 0, count: ids.count * dim)
        recur_f32_embedding(table, ids, &out, Int64(ids.count), Int64(dim), 3.5)
        for (i, id) in ids.enumerated() {
            for d in 0..<dim {
                // One product, one rounding: the double product rounded to float is exact.
                XCTAssertEqual(out[i * dim + d], Float(Double(table[Int(id) * dim + d]) * 3.5))
            }
        }

        let rows = 4, n = 10
        var x = (0..<rows * n).map { _ in Float(rng.int(4)) }
        x[2 * n + 6] = .nan
        x[2 * n + 8] = .nan
        var arg = [Int32](repeating: -9, count: rows)
        recur_f32_argmax(x, Int64(rows), Int64(n), &arg)
        for r in 0..<rows {
            let row = Array(x[r * n..<(r + 1) * n])
            let expected = row.firstIndex { $0.isNaN } ?? row.firstIndex(of: row.max()!)!
            XCTAssertEqual(arg[r], Int32(expected), "argmax row \(r)")
        }

        let batch = 2, tr = 5, tc = 19
        let m = rng.floats(batch * tr * tc)
        var t = [Float](repeating: 0, count: m.count)
        recur_f32_transpose(m, &t, Int64(batch), Int64(tr), Int64(tc))
        for b in 0..<batch {
            for i in 0..<tr {
                for j in 0..<tc { XCTAssertEqual(t[b * tr * tc + j * tr + i], m[b * tr * tc + i * tc + j]) }
            }
        }
    }

    func testHalfConversionsAgainstSwiftFloat16() {
        // Every half: the float value Swift's Float16 gives (NaNs: still NaN, same sign).
        let halves = (0...0xFFFF).map { UInt16($0) }
        var f = [Float](repeating: 0, count: halves.count)
        recur_f16_to_f32(halves, &f, Int64(halves.count))
        for (i, h) in halves.enumerated() {
            let expected = Float(Float16(bitPattern: h))
            if expected.isNaN {
                XCTAssertTrue(f[i].isNaN && f[i].sign == expected.sign, "f16 \(h) NaN")
            } else {
                XCTAssertEqual(f[i].bitPattern, expected.bitPattern, "f16 \(String(h, radix: 16))")
            }
        }

        // Round-to-nearest-even on random patterns, ties, overflow and subnormals.
        var rng = SeededRandom(seed: 18)
        var x = (0..<100_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        x += halfwayPoints() + rng.floats(10_000, -1e-4, 1e-4) + [65504, 65519.99, 65520, 1e10, .infinity, -.infinity, 0, -0.0]
        var h = [UInt16](repeating: 0, count: x.count)
        recur_f32_to_f16(x, &h, Int64(x.count))
        for i in x.indices {
            if x[i].isNaN {
                XCTAssertTrue(Float16(bitPattern: h[i]).isNaN, "NaN stays NaN")
            } else {
                XCTAssertEqual(h[i], Float16(x[i]).bitPattern, "f32 \(x[i]) to f16")
            }
        }

        var b = [Float](repeating: 0, count: halves.count)
        recur_bf16_to_f32(halves, &b, Int64(halves.count))
        for (i, v) in halves.enumerated() { XCTAssertEqual(b[i].bitPattern, UInt32(v) << 16) }
    }
}
