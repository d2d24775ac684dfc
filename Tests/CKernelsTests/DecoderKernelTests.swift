import CKernels
import Foundation
import TestSupport
import XCTest

/// A float no kernel computes (a NaN with a payload): memory a kernel must not write holds it, and
/// is compared bit for bit afterwards.
private let untouched = Float(bitPattern: 0x7FC0_DEAD)

/// The SIMD tiers this CPU runs, scalar first (for kernels whose tiers must agree bit for bit).
private var supportedTiers: [recur_isa] {
    [RECUR_ISA_SCALAR, RECUR_ISA_AVX2, RECUR_ISA_AVX512].filter { recur_isa_supported($0) == 1 }
}

/// The scalar tier and the best one this CPU runs (once if they are the same).
private var scalarAndBest: [recur_isa] {
    recur_isa_best() == RECUR_ISA_SCALAR ? [RECUR_ISA_SCALAR] : [RECUR_ISA_SCALAR, recur_isa_best()]
}

private func tierName(_ isa: recur_isa) -> String { String(cString: recur_isa_name(isa)) }

// MARK: - Causal attention inputs

/// One causal attention call: shapes, and where q, k, v sit in memory. In the fused layout q, k and
/// v share one qkv buffer of pos0 + n rows (q heads, k heads, v heads, then padding) with a single
/// stride; otherwise q, k and v are separate buffers whose strides exceed the packed width and
/// whose first row starts past the buffer's start.
private struct CausalInputs {
    var n, pos0, heads, kvHeads, headDim: Int
    var fused: Bool
    var q: [Float], qOffset: Int, qStride: Int
    var k: [Float], kOffset: Int
    var v: [Float], vOffset: Int
    var kvStride: Int

    var width: Int { heads * headDim }
    var outStride: Int { width + 5 }
    var outCount: Int { n * outStride + 7 }
    var scale: Float { 1 / Float(headDim).squareRoot() }
    var label: String {
        "n=\(n) pos0=\(pos0) heads=\(heads)/\(kvHeads) head_dim=\(headDim)\(fused ? " fused" : "")"
    }

    init(n: Int, pos0: Int, heads: Int, kvHeads: Int, headDim: Int, fused: Bool, seed: UInt64) {
        self.n = n; self.pos0 = pos0; self.heads = heads; self.kvHeads = kvHeads
        self.headDim = headDim; self.fused = fused
        var rng = SeededRandom(seed: seed)
        let keys = pos0 + n
        if fused {
            let stride = (heads + 2 * kvHeads) * headDim + 3
            let qkv = rng.floats(keys * stride, -2, 2)
            q = qkv; qOffset = pos0 * stride; qStride = stride
            k = qkv; kOffset = heads * headDim
            v = qkv; vOffset = (heads + kvHeads) * headDim
            kvStride = stride
        } else {
            qStride = heads * headDim + 3
            qOffset = 1
            q = rng.floats(qOffset + n * qStride, -2, 2)
            kvStride = kvHeads * headDim + 2
            kOffset = 0
            vOffset = 2
            k = rng.floats(keys * kvStride, -2, 2)
            v = rng.floats(vOffset + keys * kvStride, -2, 2)
        }
    }

    /// The double-precision result, packed [n, heads * headDim].
    func reference() -> [Double] {
        referenceCausalAttention(q: q, qOffset: qOffset, qStride: qStride, k: k, kOffset: kOffset,
                                 v: v, vOffset: vOffset, kvStride: kvStride, n: n, pos0: pos0,
                                 heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale)
    }

    /// Calls the kernel for queries first ..< first + count (at positions pos0 + first ...),
    /// writing row i of the result at out[outOffset + (i - first) * outStride]. The shape
    /// arguments can be overridden to test rejected calls.
    func call(first: Int = 0, count: Int? = nil, out: inout [Float], outOffset: Int = 0,
              scratch: inout [Float], heads h: Int? = nil, kvHeads kvh: Int? = nil,
              headDim hd: Int? = nil, pos0 p0: Int? = nil) -> Int32 {
        let count = count ?? n
        let outStride = self.outStride
        return q.withUnsafeBufferPointer { q in
            k.withUnsafeBufferPointer { k in
                v.withUnsafeBufferPointer { v in
                    out.withUnsafeMutableBufferPointer { o in
                        scratch.withUnsafeMutableBufferPointer { s in
                            recur_f32_causal_attention(
                                q.baseAddress! + qOffset + first * qStride, Int64(qStride),
                                k.baseAddress! + kOffset, v.baseAddress! + vOffset, Int64(kvStride),
                                o.baseAddress! + outOffset, Int64(outStride), Int64(count),
                                Int64(p0 ?? (pos0 + first)), Int64(h ?? heads), Int64(kvh ?? kvHeads),
                                Int64(hd ?? headDim), scale, s.baseAddress!)
                        }
                    }
                }
            }
        }
    }

    /// Runs the whole call at the thread count in force with a sentinel-filled output and scratch
    /// (sized as the header says, plus a guard that must stay untouched); returns the output.
    func run(file: StaticString = #filePath, line: UInt = #line) -> [Float] {
        var out = [Float](repeating: untouched, count: outCount)
        let need = Int(recur_f32_causal_attention_scratch(Int64(n), Int64(pos0 + n))) * Int(recur_get_num_threads())
        let guardCount = 64
        var scratch = [Float](repeating: untouched, count: need + guardCount)
        let rc = call(out: &out, scratch: &scratch)
        XCTAssertEqual(rc, 0, "\(label): return code", file: file, line: line)
        for i in need..<scratch.count where scratch[i].bitPattern != untouched.bitPattern {
            XCTFail("\(label): scratch written past its documented size (at \(i - need))", file: file, line: line)
            break
        }
        return out
    }

    /// Splits the strided output into the written rows (packed) and checks that every other float
    /// of the buffer (the stride's gap, the tail) still holds the sentinel.
    func unpack(_ out: [Float], file: StaticString = #filePath, line: UInt = #line) -> [Float] {
        var packed = [Float]()
        packed.reserveCapacity(n * width)
        var strayWrites = 0
        for i in 0..<out.count {
            let row = i / outStride, col = i % outStride
            if row < n && col < width {
                packed.append(out[i])
            } else if out[i].bitPattern != untouched.bitPattern {
                strayWrites += 1
            }
        }
        XCTAssertEqual(strayWrites, 0, "\(label): floats written outside the output rows", file: file, line: line)
        return packed
    }
}

/// The attention shapes: every combination of query count (one block, ragged blocks of 64),
/// cache offset, head grouping (MHA, GQA, a group of 3) and head size, fused and separate layouts
/// alternating. Built once and shared by the per-tier tests, since the double reference dominates
/// the run time.
private let causalCases: [(inputs: CausalInputs, reference: [Double])] = {
    var cases: [(CausalInputs, [Double])] = []
    var seed: UInt64 = 100
    for n in [1, 2, 7, 64, 65, 130] {
        for pos0 in [0, 1, 37, 200] {
            for (heads, kvHeads) in [(1, 1), (4, 2), (9, 3), (8, 8)] {
                for headDim in [8, 64, 80] {
                    seed += 1
                    let c = CausalInputs(n: n, pos0: pos0, heads: heads, kvHeads: kvHeads,
                                         headDim: headDim, fused: seed % 2 == 0, seed: seed)
                    cases.append((c, c.reference()))
                }
            }
        }
    }
    return cases
}()

// MARK: - Tests

/// Kernels of causal decoders (decoder.c): causal attention over a KV cache, weighted RMS norm,
/// LayerNorm and RoPE at absolute positions.
///
/// Tolerances:
/// - causal attention against a double reference: |got - expected| <= 1e-5 * (|expected| + 1),
///   with q, k, v in [-2, 2] (so 1e-5 relative at the value scale): float dot products, the tier's
///   softmax (polynomial exp in avx2 / avx512, within 2 ulp) and the float weighted sum of up to
///   330 keys.
/// - one call for n queries against n calls of one query on the same cache: |a - b| <=
///   1e-6 * (|b| + 1) (relative 1e-6 at the value scale); the sgemm shapes differ (a 1-row product
///   against a block of up to 64), so OpenBLAS may sum the dot products in another order.
/// - RMS norm and RoPE: bit-exact against a float reimplementation of llama.cpp's / ggml's
///   operations in the same order (plain C in every tier); RMS norm within rtol 1e-6 of a double
///   reference.
/// - LayerNorm: bit-exact against a float reimplementation, within 2e-6 * (|expected| + 1) of a
///   double reference (mean rounded to float before the deviations are taken).
/// - RoPE against the closed form cos / sin(pos * base^(-2i / n_dims)) in double, positions below
///   4096, x in [-1, 1]: within max(1e-4, 3e-7 * pos) absolute, i.e. 1e-4 up to position 333 and
///   1.2e-3 at 4095. 1e-4 cannot hold for every position below 4096: the angle is a float that
///   ggml's recurrence builds by one product per pair, so its error grows with the position (at
///   4095 the second pair's angle is above 2048, where rounding it to float alone costs up to
///   1.2e-4; the seeded cases reach 1.7e-7 * pos). A wrong pairing or frequency is off by O(1).
final class DecoderKernelTests: XCTestCase {
    // MARK: causal attention

    /// Every shape of `causalCases` under one tier against the double reference: the strides are
    /// honoured (q inside a fused qkv row, separate q / k / v with padded rows, a padded output),
    /// query i sees exactly the keys 0 ... pos0 + i, query head h reads kv head h / (heads /
    /// kv_heads), and nothing outside the output rows or past the documented scratch is written.
    private func checkCausalAttention(_ isa: recur_isa) throws {
        let name = tierName(isa)
        try withTier(isa) {
            var worst = 0.0
            for (c, expected) in causalCases {
                let got = c.unpack(c.run())
                assertClose(expected, got, rtol: 1e-5, atol: 1e-5, "\(name) causal attention \(c.label)")
                for i in 0..<min(got.count, expected.count) {
                    worst = max(worst, abs(Double(got[i]) - expected[i]) / (abs(expected[i]) + 1))
                }
            }
            print("\(name) causal attention: max |got - expected| / (|expected| + 1) = \(worst) over \(causalCases.count) shapes")
        }
    }

    func testCausalAttentionScalar() throws { try checkCausalAttention(RECUR_ISA_SCALAR) }
    func testCausalAttentionAVX2() throws { try checkCausalAttention(RECUR_ISA_AVX2) }
    func testCausalAttentionAVX512() throws { try checkCausalAttention(RECUR_ISA_AVX512) }

    /// The same bits at 1, 2, 3 and 5 threads, under the scalar tier and the best one: shapes with
    /// fewer work items than threads (one query, 4 heads), with several query blocks per head,
    /// and with a ragged last block. The previous thread count is restored afterwards.
    func testCausalAttentionThreadCountInvariant() throws {
        let shapes: [(n: Int, pos0: Int, heads: Int, kvHeads: Int, headDim: Int, fused: Bool)] = [
            (130, 37, 8, 8, 64, true), (1, 200, 4, 2, 64, false), (65, 0, 9, 3, 80, true),
            (7, 200, 4, 2, 8, false), (200, 1, 2, 1, 64, false),
        ]
        for isa in scalarAndBest {
            for (i, s) in shapes.enumerated() {
                let c = CausalInputs(n: s.n, pos0: s.pos0, heads: s.heads, kvHeads: s.kvHeads,
                                     headDim: s.headDim, fused: s.fused, seed: 500 + UInt64(i))
                let one = try withTier(isa) { withThreads(1) { c.run() } }
                for threads: Int32 in [2, 3, 5] {
                    let many = try withTier(isa) { withThreads(threads) { c.run() } }
                    assertBitIdentical(one, many, "\(tierName(isa)) causal attention \(c.label) at \(threads) threads")
                }
            }
        }
    }

    /// The KV-cache path: n queries in one call give the result of n calls of one query each, at
    /// positions pos0, pos0 + 1, ... against the same cache (within 1e-6 * (|b| + 1), see the
    /// class comment), under the scalar tier and the best one.
    func testCausalAttentionIncrementalDecodeMatchesOneCall() throws {
        let shapes: [(n: Int, pos0: Int, heads: Int, kvHeads: Int, headDim: Int, fused: Bool)] = [
            (130, 0, 8, 8, 64, true), (65, 37, 9, 3, 80, false), (7, 200, 4, 2, 8, true),
            (64, 1, 1, 1, 64, false),
        ]
        for isa in scalarAndBest {
            try withTier(isa) {
                var worst = 0.0, identical = 0, total = 0
                for (i, s) in shapes.enumerated() {
                    let c = CausalInputs(n: s.n, pos0: s.pos0, heads: s.heads, kvHeads: s.kvHeads,
                                         headDim: s.headDim, fused: s.fused, seed: 600 + UInt64(i))
                    let batch = c.unpack(c.run())
                    var stepwise = [Float](repeating: untouched, count: c.outCount)
                    for t in 0..<c.n {
                        var scratch = [Float](repeating: 0, count: Int(recur_f32_causal_attention_scratch(1, Int64(c.pos0 + t + 1))) * Int(recur_get_num_threads()))
                        let rc = c.call(first: t, count: 1, out: &stepwise, outOffset: t * c.outStride, scratch: &scratch)
                        XCTAssertEqual(rc, 0)
                    }
                    let steps = c.unpack(stepwise)
                    assertClose(steps, batch, rtol: 1e-6, atol: 1e-6, "\(tierName(isa)) one call vs one query at a time \(c.label)")
                    for j in 0..<min(steps.count, batch.count) {
                        worst = max(worst, abs(Double(batch[j]) - Double(steps[j])) / (abs(Double(steps[j])) + 1))
                        if batch[j].bitPattern == steps[j].bitPattern { identical += 1 }
                        total += 1
                    }
                }
                print("\(tierName(isa)) causal attention one call vs stepwise: max |a - b| / (|b| + 1) = \(worst), \(identical) of \(total) floats identical")
            }
        }
    }

    /// Rejected calls return -1 and write neither the output nor the scratch: heads not a multiple
    /// of kv_heads, no heads or kv heads, no head_dim, a negative pos0. An empty call (n = 0)
    /// returns 0 and writes nothing.
    func testCausalAttentionRejectsInvalidArguments() {
        let c = CausalInputs(n: 7, pos0: 3, heads: 6, kvHeads: 3, headDim: 8, fused: false, seed: 700)
        let invalid: [(String, Int?, Int?, Int?, Int?)] = [
            ("heads 6 over kv_heads 4", 6, 4, nil, nil), ("heads 4 over kv_heads 6", 4, 6, nil, nil),
            ("kv_heads 0", nil, 0, nil, nil), ("heads 0", 0, nil, nil, nil),
            ("head_dim 0", nil, nil, 0, nil), ("pos0 -1", nil, nil, nil, -1),
        ]
        for (what, h, kvh, hd, p0) in invalid {
            var out = [Float](repeating: untouched, count: c.outCount)
            var scratch = [Float](repeating: untouched, count: 4096)
            let rc = c.call(out: &out, scratch: &scratch, heads: h, kvHeads: kvh, headDim: hd, pos0: p0)
            XCTAssertEqual(rc, -1, "\(what): return code")
            XCTAssertTrue(out.allSatisfy { $0.bitPattern == untouched.bitPattern }, "\(what): output written")
            XCTAssertTrue(scratch.allSatisfy { $0.bitPattern == untouched.bitPattern }, "\(what): scratch written")
        }
        var out = [Float](repeating: untouched, count: c.outCount)
        var scratch = [Float](repeating: untouched, count: 4096)
        XCTAssertEqual(c.call(count: 0, out: &out, scratch: &scratch), 0, "n = 0: return code")
        XCTAssertTrue(out.allSatisfy { $0.bitPattern == untouched.bitPattern }, "n = 0: output written")
    }

    // MARK: RMS norm

    /// Rows of every ragged width at three magnitudes (plus an all-zero row, where the scale is
    /// 1/sqrt(eps)), with a weight and without (w NULL), at two eps: bit-identical to the float
    /// reimplementation of llama.cpp's rms_norm + mul under every tier, within rtol 1e-6 of the
    /// double reference. A 17 x 1000 case is big enough to run on several threads.
    func testRMSNormWeightedMatchesLlamaDefinition() throws {
        var rng = SeededRandom(seed: 800)
        for (rows, dim) in raggedSizes.map({ (4, $0) }) + [(17, 1000), (2, 4096)] {
            var x = [Float]()
            for r in 0..<rows {
                let magnitude: Float = [1e-3, 1, 100, 0][r % 4]
                x += rng.floats(dim, -3, 3).map { $0 * magnitude }
            }
            let w = rng.floats(dim, -2, 2)
            for eps: Float in [1e-5, 1e-6] {
                for weight in [w, nil] {
                    let label = "rms_norm_weighted rows=\(rows) dim=\(dim) eps=\(eps)\(weight == nil ? " no weight" : "")"
                    let expected = floatRMSNormWeighted(x, weight, rows: rows, dim: dim, eps: eps)
                    for isa in supportedTiers {
                        let got = try withTier(isa) { () -> [Float] in
                            var y = [Float](repeating: untouched, count: x.count)
                            recur_f32_rms_norm_weighted(x, weight, &y, Int64(rows), Int64(dim), eps)
                            return y
                        }
                        assertBitIdentical(expected, got, "\(label) [\(tierName(isa))]")
                    }
                    assertClose(doubleRMSNormWeighted(x, weight, rows: rows, dim: dim, eps: eps), expected,
                                rtol: 1e-6, atol: 0, "\(label): float reimplementation against double")
                }
            }
        }
    }

    /// x and y may be the same buffer: the in-place result equals the out-of-place one, with and
    /// without a weight.
    func testRMSNormWeightedInPlace() {
        var rng = SeededRandom(seed: 801)
        for (rows, dim) in [(3, 17), (17, 1000)] {
            let x = rng.floats(rows * dim, -3, 3), w = rng.floats(dim, -2, 2)
            for weight in [w, nil] {
                var separate = [Float](repeating: 0, count: x.count)
                recur_f32_rms_norm_weighted(x, weight, &separate, Int64(rows), Int64(dim), 1e-6)
                var inPlace = x
                inPlace.withUnsafeMutableBufferPointer { p in
                    recur_f32_rms_norm_weighted(p.baseAddress, weight, p.baseAddress, Int64(rows), Int64(dim), 1e-6)
                }
                assertBitIdentical(separate, inPlace, "rms_norm_weighted in place rows=\(rows) dim=\(dim)\(weight == nil ? " no weight" : "")")
            }
        }
    }

    // MARK: LayerNorm

    /// Every ragged width, rows offset from zero (so the mean matters) and a constant row (variance
    /// 0), with and without weight and bias: bit-identical to the float reimplementation of the
    /// documented operations under every tier, within 2e-6 * (|expected| + 1) of the double
    /// reference.
    func testLayerNormMatchesReference() throws {
        var rng = SeededRandom(seed: 900)
        for (rows, dim) in raggedSizes.map({ (4, $0) }) + [(17, 1000)] {
            var x = [Float]()
            for r in 0..<rows {
                let offset: Float = [0, 5, -2, 0][r % 4]
                x += r % 4 == 3 ? [Float](repeating: 1.25, count: dim) : rng.floats(dim, -3, 3).map { $0 + offset }
            }
            let w = rng.floats(dim, -2, 2), b = rng.floats(dim, -1, 1)
            for (weight, bias) in [(w, b), (w, nil), (nil, b), (nil, nil)] as [([Float]?, [Float]?)] {
                let label = "layer_norm rows=\(rows) dim=\(dim) weight \(weight != nil) bias \(bias != nil)"
                let expected = floatLayerNorm(x, weight, bias, rows: rows, dim: dim, eps: 1e-5)
                for isa in supportedTiers {
                    let got = try withTier(isa) { () -> [Float] in
                        var y = [Float](repeating: untouched, count: x.count)
                        recur_f32_layer_norm(x, weight, bias, &y, Int64(rows), Int64(dim), 1e-5)
                        return y
                    }
                    assertBitIdentical(expected, got, "\(label) [\(tierName(isa))]")
                }
                assertClose(doubleLayerNorm(x, weight, bias, rows: rows, dim: dim, eps: 1e-5), expected,
                            rtol: 2e-6, atol: 2e-6, "\(label): against double")
            }
        }
    }

    // MARK: RoPE at absolute positions

    /// Applies recur_f32_rope_positions to a copy of x and returns it with the return code.
    private func rope(_ x: [Float], rows: Int, heads: Int, headDim: Int, nDims: Int, rowStride: Int,
                      positions: [Int32], base: Float, neox: Bool) -> ([Float], Int32) {
        var y = x
        let rc = recur_f32_rope_positions(&y, Int64(rows), Int64(heads), Int64(headDim), Int64(nDims),
                                          Int64(rowStride), positions, base, neox ? 1 : 0)
        return (y, rc)
    }

    /// Both layouts, bit-identical to ggml's rope cache and rotation under every tier: heads of
    /// 2 to 1024 floats, n_dims the whole head, half of it or 2 (the tail past n_dims unchanged),
    /// rows padded past heads * head_dim (the padding unchanged), non-contiguous positions
    /// ([5, 3, 1000] and random ones up to 32767), three bases.
    func testRoPEPositionsMatchGGML() throws {
        var rng = SeededRandom(seed: 1000)
        var cases = 0
        for neox in [true, false] {
            for headDim in [2, 8, 64, 80, 128, 1024] {
                for nDims in Set([headDim, (headDim / 4) * 2, 2]).sorted() where nDims >= 2 {
                    for heads in [1, 3, 8] where headDim * heads <= 4096 {
                        for (rows, pad) in [(3, 0), (17, 5)] {
                            let rowStride = heads * headDim + pad
                            let positions: [Int32] = rows == 3 ? [5, 3, 1000] : (0..<rows).map { _ in Int32(rng.int(32768)) }
                            let base: Float = [10000, 500_000, 1_000_000][cases % 3]
                            cases += 1
                            let x = rng.floats(rows * rowStride, -2, 2)
                            let label = "rope neox=\(neox) heads=\(heads) head_dim=\(headDim) n_dims=\(nDims) stride=\(rowStride) base=\(base)"
                            let expected = ggmlRoPE(x, rows: rows, heads: heads, headDim: headDim, nDims: nDims,
                                                    rowStride: rowStride, positions: positions, base: base, neox: neox)
                            for isa in supportedTiers {
                                let (got, rc) = try withTier(isa) {
                                    rope(x, rows: rows, heads: heads, headDim: headDim, nDims: nDims,
                                         rowStride: rowStride, positions: positions, base: base, neox: neox)
                                }
                                XCTAssertEqual(rc, 0, "\(label): return code")
                                assertBitIdentical(expected, got, "\(label) [\(tierName(isa))]")
                                // Stated on its own: the head tails and the row padding keep their bits.
                                var changedOutside = 0
                                for i in 0..<x.count {
                                    let col = i % rowStride
                                    let rotated = col < heads * headDim && col % headDim < nDims
                                    if !rotated && x[i].bitPattern != got[i].bitPattern { changedOutside += 1 }
                                }
                                XCTAssertEqual(changedOutside, 0, "\(label): floats changed past n_dims or in the row padding")
                            }
                        }
                    }
                }
            }
        }
    }

    /// The layout against the closed form in double: neox = 1 rotates element i with
    /// i + n_dims / 2, neox = 0 element 2i with 2i + 1, by pos * base^(-2i / n_dims), for positions
    /// below 4096, within max(1e-4, 3e-7 * pos) (see the class comment).
    func testRoPEPositionsMatchClosedForm() {
        var rng = SeededRandom(seed: 1100)
        var worstBelow512 = 0.0, worstScaled = 0.0
        for neox in [true, false] {
            for (heads, headDim, nDims) in [(4, 64, 64), (2, 128, 128), (3, 80, 40), (1, 8, 8)] {
                for base: Double in [10000, 1_000_000] {
                    let rows = 64
                    var positions: [Int32] = [0, 1, 2, 511, 512, 4095]
                    positions += (positions.count..<rows).map { _ in Int32(rng.int(4096)) }
                    let rowStride = heads * headDim + 3
                    let x = rng.floats(rows * rowStride, -1, 1)
                    let (got, rc) = rope(x, rows: rows, heads: heads, headDim: headDim, nDims: nDims, rowStride: rowStride,
                                         positions: positions, base: Float(base), neox: neox)
                    XCTAssertEqual(rc, 0)
                    let expected = closedFormRoPE(x, rows: rows, heads: heads, headDim: headDim, nDims: nDims,
                                                  rowStride: rowStride, positions: positions, base: base, neox: neox)
                    var failures = 0
                    for i in 0..<x.count {
                        let pos = Double(positions[i / rowStride])
                        let err = abs(Double(got[i]) - expected[i])
                        let tolerance = max(1e-4, 3e-7 * pos)
                        if pos < 512 { worstBelow512 = max(worstBelow512, err) } else { worstScaled = max(worstScaled, err / pos) }
                        if err > tolerance {
                            if failures == 0 {
                                XCTFail("rope closed form neox=\(neox) head_dim=\(headDim) n_dims=\(nDims) base=\(base): element \(i) at position \(pos): expected \(expected[i]), got \(got[i])")
                            }
                            failures += 1
                        }
                    }
                }
            }
        }
        print("rope closed form: max |error| \(worstBelow512) for positions < 512, max |error| / pos \(worstScaled) for 512 ... 4095")
    }

    /// n_dims odd, above head_dim, above 1024 or below 2 returns -1 and leaves x as it was;
    /// n_dims = head_dim = 1024 (the largest allowed) is accepted.
    func testRoPEPositionsRejectsInvalidDims() {
        var rng = SeededRandom(seed: 1200)
        let positions: [Int32] = [7, 0]
        for (headDim, nDims) in [(8, 3), (8, 7), (8, 10), (8, 0), (1026, 1026), (2048, 1026)] {
            let x = rng.floats(2 * headDim, -1, 1)
            for neox in [true, false] {
                let (y, rc) = rope(x, rows: 2, heads: 1, headDim: headDim, nDims: nDims, rowStride: headDim,
                                   positions: positions, base: 10000, neox: neox)
                XCTAssertEqual(rc, -1, "head_dim \(headDim) n_dims \(nDims) neox \(neox): return code")
                assertBitIdentical(x, y, "head_dim \(headDim) n_dims \(nDims) neox \(neox): x changed")
            }
        }
        let x = rng.floats(2 * 1024, -1, 1)
        let (y, rc) = rope(x, rows: 2, heads: 1, headDim: 1024, nDims: 1024, rowStride: 1024,
                           positions: positions, base: 10000, neox: true)
        XCTAssertEqual(rc, 0, "n_dims 1024: return code")
        assertBitIdentical(ggmlRoPE(x, rows: 2, heads: 1, headDim: 1024, nDims: 1024, rowStride: 1024,
                                    positions: positions, base: 10000, neox: true), y, "n_dims 1024")
    }

    // MARK: thread count

    /// The norms and RoPE give the same bits at 1, 2, 3 and 5 threads (sizes above the parallel
    /// threshold, so the runs really fork).
    func testNormsAndRoPEThreadCountInvariant() {
        var rng = SeededRandom(seed: 1300)
        let rows = 97, dim = 1000
        let x = rng.floats(rows * dim, -3, 3), w = rng.floats(dim, -2, 2), b = rng.floats(dim, -1, 1)
        let ropeRows = 200, heads = 8, headDim = 64, stride = heads * headDim + 7
        let rx = rng.floats(ropeRows * stride, -2, 2)
        let positions = (0..<ropeRows).map { _ in Int32(rng.int(8192)) }
        func runAll() -> [String: [Float]] {
            var results: [String: [Float]] = [:]
            var y = [Float](repeating: 0, count: x.count)
            recur_f32_rms_norm_weighted(x, w, &y, Int64(rows), Int64(dim), 1e-6)
            results["rms_norm_weighted"] = y
            recur_f32_layer_norm(x, w, b, &y, Int64(rows), Int64(dim), 1e-5)
            results["layer_norm"] = y
            for neox in [true, false] {
                results["rope neox=\(neox)"] = rope(rx, rows: ropeRows, heads: heads, headDim: headDim, nDims: 48,
                                                    rowStride: stride, positions: positions, base: 10000, neox: neox).0
            }
            return results
        }
        let one = withThreads(1) { runAll() }
        for threads: Int32 in [2, 3, 5] {
            let many = withThreads(threads) { runAll() }
            XCTAssertEqual(one.count, many.count)
            for (name, values) in one {
                assertBitIdentical(values, many[name] ?? [], "\(name) at \(threads) threads")
            }
        }
    }
}
