import CKernels
import XCTest

/// Every SIMD tier against the scalar reference on random shapes with ragged edges.
///
/// Bit-identical where the tiers perform the same float operations in the same order
/// (element-wise, RoPE, embedding, argmax, transpose, conversions). Where a tier sums in SIMD
/// lanes or uses the polynomial exp, the stated tolerances hold:
/// - RMS norm: rtol 2e-6 (float lane sums against the scalar double sum; ~17 ulp).
/// - SwiGLU: rtol 4e-7 (~3.4 ulp; exp within 2 ulp, then +, /, *).
/// - softmax: rtol 2e-6 (exp within 2 ulp, float lane sums of up to 4099 terms against the scalar
///   double sum).
/// - attention: atol 1e-5 + rtol 1e-5 with q, k, v in [-3, 3], i.e. within about 3e-6 of the value
///   scale (dot products, exp and the weighted sum all reordered, FMA in the SIMD tiers; the scalar
///   reference itself accumulates in float).
final class TierEquivalenceTests: XCTestCase {
    // MARK: element-wise

    private func checkElementwise(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 1)
        for n in raggedSizes + [4096, 4099, 70001] {
            let a = rng.floats(n, -3, 3), b = rng.floats(n, -3, 3)
            let add = try scalarAnd(isa) { () -> [Float] in
                var y = [Float](repeating: 0, count: n)
                recur_f32_add(a, b, &y, Int64(n))
                return y
            }
            assertBitIdentical(add.scalar, add.simd, "add n=\(n)")
            let scale = try scalarAnd(isa) { () -> [Float] in
                var x = a
                recur_f32_scale(&x, 0.37, Int64(n))
                return x
            }
            assertBitIdentical(scale.scalar, scale.simd, "scale n=\(n)")
        }
        for dim in raggedSizes {
            let rows = 3
            let a = rng.floats(rows * dim, -3, 3), b = rng.floats(dim, -3, 3)
            let r = try scalarAnd(isa) { () -> [Float] in
                var y = [Float](repeating: 0, count: rows * dim)
                recur_f32_add_row(a, b, &y, Int64(rows), Int64(dim))
                return y
            }
            assertBitIdentical(r.scalar, r.simd, "add_row dim=\(dim)")

            let vocab = 11
            let table = rng.floats(vocab * dim, -2, 2)
            let ids = (0..<5).map { _ in Int32(rng.int(vocab)) }
            let e = try scalarAnd(isa) { () -> [Float] in
                var out = [Float](repeating: 0, count: ids.count * dim)
                recur_f32_embedding(table, ids, &out, Int64(ids.count), Int64(dim), 22.627417)
                return out
            }
            assertBitIdentical(e.scalar, e.simd, "embedding dim=\(dim)")
        }
    }

    func testElementwiseAVX2() throws { try checkElementwise(RECUR_ISA_AVX2) }
    func testElementwiseAVX512() throws { try checkElementwise(RECUR_ISA_AVX512) }

    // MARK: exp

    /// The SIMD exp against double-precision exp over the whole float range that does not
    /// overflow or underflow to zero, plus the special values.
    private func checkExp(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 2)
        var x = rng.floats(200_000, -103.9, 88.7)
        x += rng.floats(20_000, -1, 1)
        x += [0, -0.0, 88.72, 88.7228, 88.73, 89, 100, -87.3, -100, -103.97, -104, -110,
              .infinity, -.infinity, .nan, .leastNormalMagnitude, 1e-30, -1e-30]
        let y = try withTier(isa) { () -> [Float] in
            var y = [Float](repeating: 0, count: x.count)
            recur_f32_exp(x, &y, Int64(x.count))
            return y
        }
        var worst: Int64 = 0
        var worstAt = 0
        for i in x.indices {
            let reference = Float(exp(Double(x[i])))
            let d = ulpDistance(reference, y[i])
            if d > worst { worst = d; worstAt = i }
        }
        let name = String(cString: recur_isa_name(isa))
        print("\(name) exp: max error \(worst) ulp (at x = \(x[worstAt]))")
        XCTAssertLessThanOrEqual(worst, 2, "\(name) exp at x = \(x[worstAt]): \(y[worstAt])")
    }

    func testExpAccuracyScalar() throws { try checkExp(RECUR_ISA_SCALAR) }
    func testExpAccuracyAVX2() throws { try checkExp(RECUR_ISA_AVX2) }
    func testExpAccuracyAVX512() throws { try checkExp(RECUR_ISA_AVX512) }

    // MARK: norms, activations

    private func checkNorms(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 3)
        for dim in raggedSizes + [512] {
            let rows = 3
            let x = rng.floats(rows * dim, -3, 3), res = rng.floats(rows * dim, -3, 3)
            let n = try scalarAnd(isa) { () -> [Float] in
                var y = x
                recur_f32_rms_norm(&y, Int64(rows), Int64(dim), 1e-5)
                return y
            }
            assertClose(n.scalar, n.simd, rtol: 2e-6, atol: 0, "rms_norm dim=\(dim)")
            let a = try scalarAnd(isa) { () -> [Float] in
                var y = x
                recur_f32_add_rms_norm(&y, res, Int64(rows), Int64(dim), 1e-5)
                return y
            }
            assertClose(a.scalar, a.simd, rtol: 2e-6, atol: 0, "add_rms_norm dim=\(dim)")
        }
    }

    func testRMSNormAVX2() throws { try checkNorms(RECUR_ISA_AVX2) }
    func testRMSNormAVX512() throws { try checkNorms(RECUR_ISA_AVX512) }

    private func checkSwiGLU(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 4)
        for inter in raggedSizes {
            let rows = 3
            let gateUp = rng.floats(rows * 2 * inter, -12, 12)
            let r = try scalarAnd(isa) { () -> [Float] in
                var out = [Float](repeating: 0, count: rows * inter)
                recur_f32_swiglu(gateUp, &out, Int64(rows), Int64(inter))
                return out
            }
            assertClose(r.scalar, r.simd, rtol: 4e-7, atol: 0, "swiglu inter=\(inter)")
        }
    }

    func testSwiGLUAVX2() throws { try checkSwiGLU(RECUR_ISA_AVX2) }
    func testSwiGLUAVX512() throws { try checkSwiGLU(RECUR_ISA_AVX512) }

    private func checkSoftmax(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 5)
        for n in raggedSizes + [4099] {
            let rows = 3
            var x = rng.floats(rows * n, -20, 20)
            x[0] = -.infinity // a masked-out entry is an exact zero
            let r = try scalarAnd(isa) { () -> [Float] in
                var y = x
                recur_f32_softmax(&y, Int64(rows), Int64(n))
                return y
            }
            assertClose(r.scalar, r.simd, rtol: 2e-6, atol: 0, "softmax n=\(n)")
        }
        // A NaN anywhere makes its row NaN in every tier.
        var x = rng.floats(2 * 17, -1, 1)
        x[20] = .nan
        let r = try scalarAnd(isa) { () -> [Float] in
            var y = x
            recur_f32_softmax(&y, 2, 17)
            return y
        }
        XCTAssertTrue(r.simd[17...].allSatisfy { $0.isNaN })
        XCTAssertTrue(r.simd[..<17].allSatisfy { !$0.isNaN })
        assertClose(r.scalar, r.simd, rtol: 2e-6, atol: 0, "softmax with NaN")
    }

    func testSoftmaxAVX2() throws { try checkSoftmax(RECUR_ISA_AVX2) }
    func testSoftmaxAVX512() throws { try checkSoftmax(RECUR_ISA_AVX512) }

    // MARK: RoPE

    private func checkRoPE(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 6)
        for headDim in [2, 8, 14, 34, 64, 130] {
            for seq in [1, 7, 33] {
                let batch = 2, heads = 3
                // Rotate q inside a fused [q | k | v] row: the k and v parts must stay untouched.
                let stride = 3 * heads * headDim
                let x = rng.floats(batch * seq * stride, -2, 2)
                var cos = [Float](repeating: 0, count: seq * headDim), sin = cos
                recur_f32_rope_tables(&cos, &sin, Int64(seq), Int64(headDim), 10000)
                let r = try scalarAnd(isa) { () -> [Float] in
                    var y = x
                    recur_f32_rope(&y, Int64(batch), Int64(seq), Int64(heads), Int64(headDim),
                                   Int64(stride), cos, sin)
                    return y
                }
                assertBitIdentical(r.scalar, r.simd, "rope seq=\(seq) head_dim=\(headDim)")
                for row in 0..<batch * seq {
                    let tail = row * stride + heads * headDim..<(row + 1) * stride
                    XCTAssertEqual(Array(r.simd[tail]), Array(x[tail]), "rope wrote outside q")
                }
            }
        }
    }

    func testRoPEAVX2() throws { try checkRoPE(RECUR_ISA_AVX2) }
    func testRoPEAVX512() throws { try checkRoPE(RECUR_ISA_AVX512) }

    // MARK: attention

    /// (batch, seq, heads, kv_heads, head_dim): ragged sequences and head sizes, grouped-query
    /// heads, sequences longer than one work item (300, 2048), a head so wide that items shrink to
    /// 8 queries and 32-key tiles (600), and one too wide for the blocked SIMD path (1100).
    static let attentionShapes: [(Int, Int, Int, Int, Int)] = [
        (1, 1, 4, 4, 64), (2, 5, 4, 2, 7), (1, 97, 8, 8, 64), (1, 300, 4, 1, 33),
        (1, 2048, 2, 2, 64), (1, 19, 2, 2, 600), (1, 13, 2, 2, 1100), (1, 40, 3, 3, 130), (3, 17, 2, 1, 16),
    ]

    private func checkAttention(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 7)
        for (batch, seq, heads, kvHeads, headDim) in Self.attentionShapes {
            let width = (heads + 2 * kvHeads) * headDim
            let qkv = rng.floats(batch * seq * width, -3, 3)
            let scale = 1 / Float(headDim).squareRoot()
            let r = try scalarAnd(isa) { () -> [Float] in
                var out = [Float](repeating: .nan, count: batch * seq * heads * headDim)
                var scratch = [Float](repeating: 0, count: Int(recur_f32_attention_scratch(Int64(seq))) *
                                                           Int(recur_get_num_threads()))
                recur_f32_attention(qkv, &out, Int64(batch), Int64(seq), Int64(heads), Int64(kvHeads),
                                    Int64(headDim), scale, &scratch)
                return out
            }
            assertClose(r.scalar, r.simd, rtol: 1e-5, atol: 1e-5,
                        "attention b=\(batch) s=\(seq) h=\(heads) kv=\(kvHeads) d=\(headDim)")
        }
    }

    func testAttentionAVX2() throws { try checkAttention(RECUR_ISA_AVX2) }
    func testAttentionAVX512() throws { try checkAttention(RECUR_ISA_AVX512) }

    // MARK: argmax, transpose

    private func checkArgmax(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 8)
        for n in raggedSizes {
            let rows = 6
            // Few distinct values, so ties are common and "first maximum" matters.
            var x = (0..<rows * n).map { _ in Float(rng.int(5)) - 2 }
            x[n - 1] = .nan // row 0: a NaN wins
            for i in n..<2 * n { x[i] = -.infinity } // row 1: all -inf
            for i in 2 * n..<3 * n { x[i] = i % 2 == 0 ? 0 : -0.0 } // row 2: signed zeros
            let r = try scalarAnd(isa) { () -> [Int32] in
                var out = [Int32](repeating: -7, count: rows)
                recur_f32_argmax(x, Int64(rows), Int64(n), &out)
                return out
            }
            assertBitIdentical(r.scalar, r.simd, "argmax n=\(n)")
            XCTAssertEqual(r.simd[0], Int32(n - 1), "the first NaN is the maximum")
        }
    }

    func testArgmaxAVX2() throws { try checkArgmax(RECUR_ISA_AVX2) }
    func testArgmaxAVX512() throws { try checkArgmax(RECUR_ISA_AVX512) }

    private func checkTranspose(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 9)
        for rows in [1, 7, 8, 17, 33, 97] {
            for cols in [1, 8, 15, 16, 33, 100] {
                let batch = 2
                let x = rng.floats(batch * rows * cols)
                let r = try scalarAnd(isa) { () -> [Float] in
                    var y = [Float](repeating: 0, count: x.count)
                    recur_f32_transpose(x, &y, Int64(batch), Int64(rows), Int64(cols))
                    return y
                }
                assertBitIdentical(r.scalar, r.simd, "transpose \(rows)x\(cols)")
            }
        }
    }

    func testTransposeAVX2() throws { try checkTranspose(RECUR_ISA_AVX2) }
    func testTransposeAVX512() throws { try checkTranspose(RECUR_ISA_AVX512) }

    // MARK: conversions

    private func checkConversions(_ isa: recur_isa) throws {
        // Every half and bfloat16 bit pattern.
        let halves = (0...0xFFFF).map { UInt16($0) }
        let f16 = try scalarAnd(isa) { () -> [Float] in
            var y = [Float](repeating: 0, count: halves.count)
            recur_f16_to_f32(halves, &y, Int64(halves.count))
            return y
        }
        assertBitIdentical(f16.scalar.map(\.bitPattern), f16.simd.map(\.bitPattern), "f16_to_f32")
        let bf16 = try scalarAnd(isa) { () -> [Float] in
            var y = [Float](repeating: 0, count: halves.count)
            recur_bf16_to_f32(halves, &y, Int64(halves.count))
            return y
        }
        assertBitIdentical(bf16.scalar.map(\.bitPattern), bf16.simd.map(\.bitPattern), "bf16_to_f32")

        // Floats: random bit patterns (NaN payloads, subnormals, huge values) and every value
        // halfway between neighbouring halves (round-to-nearest-even ties), each ragged length.
        var rng = SeededRandom(seed: 10)
        var x = (0..<100_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        x += halfwayPoints()
        for n in raggedSizes + [x.count] {
            let input = Array(x.prefix(n))
            let r = try scalarAnd(isa) { () -> [UInt16] in
                var y = [UInt16](repeating: 0, count: n)
                recur_f32_to_f16(input, &y, Int64(n))
                return y
            }
            assertBitIdentical(r.scalar, r.simd, "f32_to_f16 n=\(n)")
        }
    }

    func testConversionsAVX2() throws { try checkConversions(RECUR_ISA_AVX2) }
    func testConversionsAVX512() throws { try checkConversions(RECUR_ISA_AVX512) }
}

/// Floats exactly halfway between consecutive finite halves (and their negatives), plus 65520,
/// the tie between the largest half and infinity.
func halfwayPoints() -> [Float] {
    var out: [Float] = [65520, -65520]
    for bits in 0..<UInt16(0x7BFF) {
        let low = Double(Float16(bitPattern: bits)), high = Double(Float16(bitPattern: bits + 1))
        let mid = Float((low + high) / 2) // 12 significant bits: exact in a float
        out.append(mid)
        out.append(-mid)
    }
    return out
}
