import CKernels
import Foundation
import TestSupport
import XCTest

/// The rule-latent model's kernels (rule_latent.c, f32_packed.c, GELU in the FP32 tiers) under
/// every tier this CPU runs (the others skipped), against double-precision references:
/// - GELU: the SIMD tiers within 5e-7 relative of the double-precision GELU of the same float
///   x / sqrt 2 (slope: 3e-7 of max(1, |slope|)); the scalar formula (PyTorch's, 1 + erff) within
///   the same plus 6e-8 * |x| (it cancels for negative x); the tiers agree with each other on
///   infinities and NaN.
/// - packed products: within 2e-6 of the sum of |terms| (every tier), the same bits at 1 and 2
///   threads, untouched memory past each row.
/// - LayerNorm (kept statistics and backward), FiLM and its backward: the tiers bit-identical,
///   within 2e-6 of double precision (LayerNorm) or of the float formula (FiLM).
/// - cross-entropy: loss and gradient within 2e-6 of double precision.
/// - prefix-LM attention, forward and backward, in the fit's layout and a decoder's: within 2e-5
///   (absolute + relative) of double precision, with q, k, v in [-2, 2]; rows that hold no
///   query keep their memory.
final class RuleKernelTests: XCTestCase {
    private static let tiers: [recur_isa] = [RECUR_ISA_SCALAR, RECUR_ISA_AVX2, RECUR_ISA_AVX512]
    private static let untouched = Float(bitPattern: 0x7FC0_BEEF)

    private func name(_ isa: recur_isa) -> String { String(cString: recur_isa_name(isa)) }

    // MARK: GELU

    private func geluInputs() -> [Float] {
        var rng = SeededRandom(seed: 21)
        var x = rng.floats(20_000, -20, 20) + rng.floats(20_000, -6, 6) + rng.floats(20_000, -1.5, 1.5) + rng.floats(5_000, -0.01, 0.01)
        x += [0, -0.0, 1, -1, 0.5, -0.5, 1.41421, -1.41421, -0.70710677, 5, -5, -12, -13.5, -14, -15, 15, 1e-30, -1e-30]
        return x
    }

    /// GELU and its slope of `x`, with 1 + erf evaluated in double at the float a = x / sqrt 2 the
    /// kernels compute (erfc for negative a: no cancellation).
    private func geluReference(_ x: Float) -> (y: Double, slope: Double) {
        let a = Double(x * Float(0.707106781186547524))
        let c = a >= 0 ? 1 + erf(a) : erfc(-a)
        let xd = Double(x)
        return (xd * 0.5 * c, 0.5 * c + xd * exp(-xd * xd / 2) / (2 * Double.pi).squareRoot())
    }

    private func checkGELU(_ isa: recur_isa) throws {
        let x = geluInputs()
        let (y, slope) = try withTier(isa) { () -> ([Float], [Float]) in
            var y = [Float](repeating: 0, count: x.count), slope = y
            recur_f32_gelu(x, &y, &slope, Int64(x.count))
            return (y, slope)
        }
        let scalar = isa == RECUR_ISA_SCALAR
        var worstY = 0.0, worstSlope = 0.0
        for i in x.indices {
            let r = geluReference(x[i])
            let yError = abs(Double(y[i]) - r.y), slopeError = abs(Double(slope[i]) - r.slope) / max(1, abs(r.slope))
            let yBound = 5e-7 * abs(r.y) + (scalar ? 6e-8 * abs(Double(x[i])) : 0) + 1e-36
            if yError > yBound { XCTFail("\(name(isa)) GELU(\(x[i])) = \(y[i]), expected \(r.y)"); return }
            if slopeError > 3e-7 { XCTFail("\(name(isa)) GELU'(\(x[i])) = \(slope[i]), expected \(r.slope)"); return }
            worstY = max(worstY, yError / yBound)
            worstSlope = max(worstSlope, slopeError)
        }
        print("\(name(isa)) GELU: largest error \(String(format: "%.2f", worstY)) of its bound, slope \(String(format: "%.2e", worstSlope))")
        // In place, and without the slope: the same values.
        let inPlace = try withTier(isa) { () -> [Float] in
            var v = x
            v.withUnsafeMutableBufferPointer { recur_f32_gelu($0.baseAddress!, $0.baseAddress!, nil, Int64(x.count)) }
            return v
        }
        assertBitIdentical(y, inPlace, "\(name(isa)) GELU in place")
    }

    func testGELUScalar() throws { try checkGELU(RECUR_ISA_SCALAR) }
    func testGELUAVX2() throws { try checkGELU(RECUR_ISA_AVX2) }
    func testGELUAVX512() throws { try checkGELU(RECUR_ISA_AVX512) }

    /// Every tier gives what the scalar formulas give at zero, the infinities and NaN, and the
    /// same values over ragged lengths as element by element.
    func testGELUSpecialValuesAndRaggedEnds() throws {
        let specials: [Float] = [0, .infinity, -.infinity, .nan]
        for isa in Self.tiers where recur_isa_supported(isa) == 1 {
            let (y, slope) = try withTier(isa) { () -> ([Float], [Float]) in
                var y = [Float](repeating: 0, count: specials.count), slope = y
                recur_f32_gelu(specials, &y, &slope, Int64(specials.count))
                return (y, slope)
            }
            XCTAssertEqual(y[0], 0, name(isa))
            XCTAssertEqual(slope[0], 0.5, name(isa))
            XCTAssertEqual(y[1], .infinity, name(isa))
            XCTAssertTrue(y[2].isNaN && y[3].isNaN && slope[1].isNaN && slope[2].isNaN && slope[3].isNaN, "\(name(isa)): \(y) \(slope)")
            var rng = SeededRandom(seed: 22)
            for n in raggedSizes {
                let x = rng.floats(n, -8, 8)
                let (whole, one) = try withTier(isa) { () -> ([Float], [Float]) in
                    var whole = [Float](repeating: 0, count: n), one = whole
                    recur_f32_gelu(x, &whole, nil, Int64(n))
                    for i in 0..<n { x.withUnsafeBufferPointer { p in one.withUnsafeMutableBufferPointer { recur_f32_gelu(p.baseAddress! + i, $0.baseAddress! + i, nil, 1) } } }
                    return (whole, one)
                }
                assertBitIdentical(whole, one, "\(name(isa)) GELU n=\(n)")
            }
        }
    }

    // MARK: packed products

    private func checkPacked(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 23)
        let shapes = [1, 4, 6, 7, 13].flatMap { m in [1, 16, 17, 40].flatMap { n in [1, 9, 64].map { k in (m, n, k) } } }
        for (m, n, k) in shapes {
            let w = rng.floats(n * k, -1, 1), a = rng.floats(m * (k + 2), -1, 1)
            let bias = rng.floats(n, -1, 1), mul = rng.floats(m * n, -2, 2), start = rng.floats(m * (n + 3), -1, 1)
            var packed = [Float](repeating: 0, count: Int(recur_f32_packed_size(Int64(k), Int64(n))))
            recur_f32_pack_transposed(w, Int64(n), Int64(k), &packed)
            // Packing w^T [k, n] straight gives the same panels.
            var wt = [Float](repeating: 0, count: n * k)
            for j in 0..<n { for t in 0..<k { wt[t * n + j] = w[j * k + t] } }
            var straight = packed
            recur_f32_pack(wt, Int64(k), Int64(n), &straight)
            assertBitIdentical(packed, straight, "pack vs pack_transposed m=\(m) n=\(n) k=\(k)")
            var unpacked = [Float](repeating: .nan, count: n * k)
            recur_f32_unpack_transposed(packed, Int64(n), Int64(k), &unpacked)
            assertBitIdentical(unpacked, w, "unpack_transposed m=\(m) n=\(n) k=\(k)")
            for (withBias, withMul, accumulate) in [(true, false, false), (false, true, true), (true, true, false)] {
                let label = "\(name(isa)) m=\(m) n=\(n) k=\(k) bias=\(withBias) mul=\(withMul) accumulate=\(accumulate)"
                func run(_ threads: Int32) throws -> [Float] {
                    try withTier(isa) {
                        withThreads(threads) {
                            var c = start
                            bias.withUnsafeBufferPointer { b in
                                mul.withUnsafeBufferPointer { mu in
                                    recur_f32_packed_gemm(a, Int64(k + 2), packed, Int64(k), Int64(n), withBias ? b.baseAddress : nil,
                                                          withMul ? mu.baseAddress : nil, Int64(n), &c, Int64(n + 3), Int64(m), accumulate ? 1 : 0)
                                }
                            }
                            return c
                        }
                    }
                }
                let c = try run(1)
                assertBitIdentical(c, try run(2), "\(label): 1 and 2 threads")
                // A row's result does not depend on the rows beside it (what lets a batched server
                // answer as the same request alone): each row computed in a call of its own.
                let alone: [Float] = try withTier(isa) {
                    var out = start
                    a.withUnsafeBufferPointer { ap in
                        out.withUnsafeMutableBufferPointer { op in
                            bias.withUnsafeBufferPointer { b in
                                mul.withUnsafeBufferPointer { mu in
                                    for i in 0..<m {
                                        recur_f32_packed_gemm(ap.baseAddress! + i * (k + 2), Int64(k + 2), packed, Int64(k), Int64(n),
                                                              withBias ? b.baseAddress : nil, withMul ? mu.baseAddress! + i * n : nil, Int64(n),
                                                              op.baseAddress! + i * (n + 3), Int64(n + 3), 1, accumulate ? 1 : 0)
                                    }
                                }
                            }
                        }
                    }
                    return out
                }
                assertBitIdentical(c, alone, "\(label): rows computed one at a time")
                for i in 0..<m {
                    for j in 0..<(n + 3) {
                        let got = c[i * (n + 3) + j]
                        guard j < n else {
                            XCTAssertEqual(got.bitPattern, start[i * (n + 3) + j].bitPattern, "\(label): column \(j) past n written")
                            continue
                        }
                        var sum = withBias ? Double(bias[j]) : 0
                        var magnitude = abs(sum)
                        for t in 0..<k {
                            let term = Double(a[i * (k + 2) + t]) * Double(w[j * k + t])
                            sum += term
                            magnitude += abs(term)
                        }
                        if withMul {
                            let factor = Double(mul[i * n + j])
                            sum *= factor
                            magnitude *= abs(factor)
                        }
                        if accumulate {
                            let before = Double(start[i * (n + 3) + j])
                            sum += before
                            magnitude += abs(before)
                        }
                        if abs(Double(got) - sum) > 2e-6 * magnitude + 1e-30 {
                            XCTFail("\(label): c[\(i), \(j)] = \(got), expected \(sum)")
                            return
                        }
                    }
                }
            }
        }
    }

    func testPackedProductsScalar() throws { try checkPacked(RECUR_ISA_SCALAR) }
    func testPackedProductsAVX2() throws { try checkPacked(RECUR_ISA_AVX2) }
    func testPackedProductsAVX512() throws { try checkPacked(RECUR_ISA_AVX512) }

    /// The AVX-512 tier's wider tiles sum every element as the AVX2 tier does: the same bits.
    func testPackedProductsAVX512EqualsAVX2() throws {
        var rng = SeededRandom(seed: 29)
        for (m, n, k) in [(1, 16, 8), (9, 33, 17), (8, 64, 64), (17, 50, 129), (3, 1, 5), (23, 96, 31)] {
            let w = rng.floats(n * k, -1, 1), a = rng.floats(m * k, -1, 1), bias = rng.floats(n, -1, 1)
            let mul = rng.floats(m * n, -2, 2), start = rng.floats(m * n, -1, 1)
            var packed = [Float](repeating: 0, count: Int(recur_f32_packed_size(Int64(k), Int64(n))))
            recur_f32_pack_transposed(w, Int64(n), Int64(k), &packed)
            for (withBias, withMul, accumulate) in [(false, false, false), (true, false, true), (true, true, false)] {
                func run(_ isa: recur_isa) throws -> [Float] {
                    try withTier(isa) {
                        var c = start
                        recur_f32_packed_gemm(a, Int64(k), packed, Int64(k), Int64(n), withBias ? bias : nil, withMul ? mul : nil,
                                              Int64(n), &c, Int64(n), Int64(m), accumulate ? 1 : 0)
                        return c
                    }
                }
                assertBitIdentical(try run(RECUR_ISA_AVX512), try run(RECUR_ISA_AVX2),
                                   "m=\(m) n=\(n) k=\(k) bias=\(withBias) mul=\(withMul) accumulate=\(accumulate)")
            }
        }
    }

    // MARK: LayerNorm, FiLM, cross-entropy

    func testLayerNormKeepAndBackward() throws {
        var rng = SeededRandom(seed: 24)
        for dim in [1, 7, 8, 33, 128] {
            let rows = 5
            let x = rng.floats(rows * dim, -3, 3).enumerated().map { $0.element + Float($0.offset / dim) }
            let w = rng.floats(dim, 0.5, 1.5), b = rng.floats(dim, -0.5, 0.5), dy = rng.floats(rows * dim, -1, 1), start = rng.floats(rows * dim, -1, 1)
            var results: [(y: [Float], xhat: [Float], rstd: [Float], dx: [Float], added: [Float])] = []
            for isa in Self.tiers where recur_isa_supported(isa) == 1 {
                results.append(try withTier(isa) {
                    var y = [Float](repeating: 0, count: rows * dim), xhat = y, rstd = [Float](repeating: 0, count: rows), dx = y, added = start
                    recur_f32_layer_norm_keep(x, w, b, &y, &xhat, &rstd, Int64(rows), Int64(dim), 1e-5)
                    recur_f32_layer_norm_backward(dy, w, xhat, rstd, &dx, Int64(rows), Int64(dim), 0)
                    recur_f32_layer_norm_backward(dy, w, xhat, rstd, &added, Int64(rows), Int64(dim), 1)
                    return (y, xhat, rstd, dx, added)
                })
            }
            for r in results.dropFirst() {
                assertBitIdentical(results[0].y, r.y, "layer norm dim=\(dim)")
                assertBitIdentical(results[0].dx, r.dx, "layer norm backward dim=\(dim)")
            }
            let got = results[0]
            var y = [Double](), dx = [Double](), rstd = [Double]()
            for row in 0..<rows {
                let v = (0..<dim).map { Double(x[row * dim + $0]) }
                let mean = v.reduce(0, +) / Double(dim)
                let inv = 1 / ((v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim)) + 1e-5).squareRoot()
                let xhat = v.map { ($0 - mean) * inv }
                rstd.append(inv)
                y += (0..<dim).map { xhat[$0] * Double(w[$0]) + Double(b[$0]) }
                let g = (0..<dim).map { Double(dy[row * dim + $0]) * Double(w[$0]) }
                let meanG = g.reduce(0, +) / Double(dim), meanGX = zip(g, xhat).map { $0 * $1 }.reduce(0, +) / Double(dim)
                dx += (0..<dim).map { inv * (g[$0] - meanG - xhat[$0] * meanGX) }
            }
            assertClose(y, got.y, rtol: 2e-6, atol: 2e-6, "layer norm dim=\(dim)")
            assertClose(rstd, got.rstd, rtol: 2e-6, atol: 0, "layer norm rstd dim=\(dim)")
            assertClose(dx, got.dx, rtol: 2e-5, atol: 2e-5, "layer norm backward dim=\(dim)")
            assertClose(zip(dx, start).map { $0 + Double($1) }, got.added, rtol: 2e-5, atol: 2e-5, "layer norm backward accumulated dim=\(dim)")
        }
    }

    func testFiLMAndBackward() throws {
        var rng = SeededRandom(seed: 25)
        let rows = 6, dim = 37
        let x = rng.floats(rows * dim, -2, 2), add = rng.floats(rows * dim, -2, 2), gamma = rng.floats(dim, -0.5, 0.5), beta = rng.floats(dim, -0.5, 0.5)
        let dx = rng.floats(rows * dim, -1, 1)
        var expected = [Float](), before = [Float](), dGamma = [Float](repeating: 0.25, count: dim), dBeta = [Float](repeating: -0.5, count: dim), dBefore = [Float]()
        for r in 0..<rows {
            for i in 0..<dim {
                let v = x[r * dim + i] + add[r * dim + i]
                before.append(v)
                expected.append(v * (1 + gamma[i]) + beta[i])
                dGamma[i] += dx[r * dim + i] * v
                dBeta[i] += dx[r * dim + i]
                dBefore.append(dx[r * dim + i] * (1 + gamma[i]))
            }
        }
        for isa in Self.tiers where recur_isa_supported(isa) == 1 {
            try withTier(isa) {
                var y = x, kept = [Float](repeating: 0, count: rows * dim)
                recur_f32_film(y, add, &kept, &y, gamma, beta, Int64(rows), Int64(dim))
                assertClose(expected, y, rtol: 1e-6, atol: 1e-7, "\(name(isa)) FiLM")
                assertBitIdentical(before, kept, "\(name(isa)) FiLM input")
                var g = dx, dg = [Float](repeating: 0.25, count: dim), db = [Float](repeating: -0.5, count: dim)
                recur_f32_film_backward(&g, kept, gamma, &dg, &db, Int64(rows), Int64(dim))
                assertClose(dBefore, g, rtol: 1e-6, atol: 1e-7, "\(name(isa)) FiLM backward")
                assertClose(dGamma, dg, rtol: 1e-6, atol: 1e-6, "\(name(isa)) FiLM d gamma")
                assertClose(dBeta, db, rtol: 1e-6, atol: 1e-6, "\(name(isa)) FiLM d beta")
            }
        }
    }

    func testCrossEntropy() throws {
        var rng = SeededRandom(seed: 26)
        let rows = 7, vocab = 260
        let logits = rng.floats(rows * vocab, -8, 8)
        let targets: [Int32] = [3, -1, 259, 0, 100, -1, 17], weight = rng.floats(rows, 0.1, 1)
        var loss = 0.0, gradient = [Double](repeating: 0, count: rows * vocab)
        for r in 0..<rows where targets[r] >= 0 {
            let row = (0..<vocab).map { Double(logits[r * vocab + $0]) }
            let top = row.max()!, sum = row.map { exp($0 - top) }.reduce(0, +)
            loss += Double(weight[r]) * (log(sum) + top - row[Int(targets[r])])
            for i in 0..<vocab { gradient[r * vocab + i] = Double(weight[r]) * (exp(row[i] - top) / sum - (i == Int(targets[r]) ? 1 : 0)) }
        }
        for isa in Self.tiers where recur_isa_supported(isa) == 1 {
            try withTier(isa) {
                var l = logits
                let value = recur_f32_cross_entropy(&l, targets, weight, Int64(rows), Int64(vocab), 1)
                XCTAssertEqual(Double(value), loss, accuracy: 2e-6 * loss, "\(name(isa)) cross-entropy")
                assertClose(gradient, l, rtol: 2e-6, atol: 1e-8, "\(name(isa)) cross-entropy gradient")
                var onlyLoss = logits
                XCTAssertEqual(recur_f32_cross_entropy(&onlyLoss, targets, weight, Int64(rows), Int64(vocab), 0), value, "\(name(isa)) loss without the gradient")
            }
        }
    }

    // MARK: prefix-LM attention

    /// A batch in the layout of recur_prefix_batch, with q | k | v rows (stride heads * headDim * 3
    /// + 3) and context rows (stride heads * headDim + 1).
    private struct Batch {
        var prefix, step, heads, headDim, rows: Int
        var inputRow, outputRow, outputCount: [Int64]
        var positions: Int { prefix + Int(outputCount.max() ?? 0) }
        var width: Int { heads * headDim }
        var qkvStride: Int { 3 * width + 3 }
        var ctxStride: Int { width + 1 }
        var sequences: Int { inputRow.count }

        func row(_ s: Int, _ position: Int) -> Int {
            position < prefix ? Int(inputRow[s]) + position : Int(outputRow[s]) + (position - prefix) * step
        }

        func visible(_ i: Int) -> Int { i < prefix ? prefix : i + 1 }
        func length(_ s: Int) -> Int { prefix + Int(outputCount[s]) }

        func withC<R>(_ body: (UnsafePointer<recur_prefix_batch>) throws -> R) rethrows -> R {
            try inputRow.withUnsafeBufferPointer { i in
                try outputRow.withUnsafeBufferPointer { o in
                    try outputCount.withUnsafeBufferPointer { c in
                        var b = recur_prefix_batch(sequences: Int64(sequences), prefix: Int64(prefix), positions: Int64(positions), output_step: Int64(step),
                                                   input_row: i.baseAddress, output_row: o.baseAddress, output_count: c.baseAddress)
                        return try body(&b)
                    }
                }
            }
        }
    }

    /// The fit's layout (inputs, then each sequence's outputs) and a decoder's (outputs
    /// interleaved), with head_dim 8 (the AVX2 tier's path) and 6 (the plain C path everywhere).
    private func batches() -> [Batch] {
        var out: [Batch] = []
        for headDim in [8, 6, 32] {
            out.append(Batch(prefix: 5, step: 1, heads: 2, headDim: headDim, rows: 24, inputRow: [0, 5, 10], outputRow: [15, 18, 18], outputCount: [3, 0, 6]))
            out.append(Batch(prefix: 5, step: 2, heads: 2, headDim: headDim, rows: 18, inputRow: [0, 5], outputRow: [10, 11], outputCount: [3, 3]))
        }
        return out
    }

    /// Probabilities [sequence][head][query position][key] and contexts by row, in double.
    private func attentionReference(_ b: Batch, qkv: [Float], queryFrom: Int) -> (probs: [[[[Double]]]], ctx: [Int: [Double]]) {
        let scale = 1 / Double(Float(b.headDim).squareRoot())
        var probs = [[[[Double]]]](), ctx = [Int: [Double]]()
        for s in 0..<b.sequences {
            var heads = [[[Double]]]()
            for h in 0..<b.heads {
                var rows = [[Double]](repeating: [], count: b.length(s))
                for i in queryFrom..<max(queryFrom, b.length(s)) {
                    let q = b.row(s, i) * b.qkvStride + h * b.headDim
                    let scores = (0..<b.visible(i)).map { j in
                        let k = b.row(s, j) * b.qkvStride + b.width + h * b.headDim
                        return scale * (0..<b.headDim).map { Double(qkv[q + $0]) * Double(qkv[k + $0]) }.reduce(0, +)
                    }
                    let top = scores.max()!, e = scores.map { exp($0 - top) }, sum = e.reduce(0, +)
                    rows[i] = e.map { $0 / sum }
                    var c = ctx[b.row(s, i)] ?? [Double](repeating: 0, count: b.width)
                    for d in 0..<b.headDim {
                        c[h * b.headDim + d] = rows[i].enumerated().map { j, p in p * Double(qkv[b.row(s, j) * b.qkvStride + 2 * b.width + h * b.headDim + d]) }.reduce(0, +)
                    }
                    ctx[b.row(s, i)] = c
                }
                heads.append(rows)
            }
            probs.append(heads)
        }
        return (probs, ctx)
    }

    /// d q, d k, d v by row (zeros where nothing flows), in double.
    private func attentionBackwardReference(_ b: Batch, qkv: [Float], probs: [[[[Double]]]], dctx: [Float], queryFrom: Int) -> [Int: [Double]] {
        let scale = 1 / Double(Float(b.headDim).squareRoot())
        var g = [Int: [Double]]()
        for s in 0..<b.sequences { for j in 0..<b.length(s) { g[b.row(s, j)] = [Double](repeating: 0, count: 3 * b.width) } }
        for s in 0..<b.sequences {
            for h in 0..<b.heads {
                for i in queryFrom..<max(queryFrom, b.length(s)) {
                    let p = probs[s][h][i], ri = b.row(s, i), dc = (0..<b.headDim).map { Double(dctx[ri * b.ctxStride + h * b.headDim + $0]) }
                    let dp = (0..<p.count).map { j in (0..<b.headDim).map { dc[$0] * Double(qkv[b.row(s, j) * b.qkvStride + 2 * b.width + h * b.headDim + $0]) }.reduce(0, +) }
                    let dot = zip(p, dp).map { $0 * $1 }.reduce(0, +)
                    for j in 0..<p.count {
                        let rj = b.row(s, j), ds = p[j] * (dp[j] - dot) * scale
                        for d in 0..<b.headDim {
                            g[ri]![h * b.headDim + d] += ds * Double(qkv[rj * b.qkvStride + b.width + h * b.headDim + d])
                            g[rj]![b.width + h * b.headDim + d] += ds * Double(qkv[ri * b.qkvStride + h * b.headDim + d])
                            g[rj]![2 * b.width + h * b.headDim + d] += p[j] * dc[d]
                        }
                    }
                }
            }
        }
        return g
    }

    private func checkAttention(_ isa: recur_isa) throws {
        var rng = SeededRandom(seed: 27)
        for b in batches() {
            for queryFrom in [0, b.prefix, b.prefix + 2] {
                let label = "\(name(isa)) head_dim=\(b.headDim) step=\(b.step) query_from=\(queryFrom)"
                let qkv = rng.floats(b.rows * b.qkvStride, -2, 2), dctx = rng.floats(b.rows * b.ctxStride, -1, 1)
                let reference = attentionReference(b, qkv: qkv, queryFrom: queryFrom)
                let (ctx, probs, dqkv) = try withTier(isa) { () -> ([Float], [Float], [Float]) in
                    var ctx = [Float](repeating: Self.untouched, count: b.rows * b.ctxStride)
                    var probs = [Float](repeating: 0, count: b.sequences * b.heads * b.positions * b.positions)
                    var dqkv = [Float](repeating: Self.untouched, count: b.rows * b.qkvStride)
                    var scratch = [Float](repeating: 0, count: Int(recur_prefix_attention_scratch(Int64(b.positions), Int64(b.headDim)) * Int64(recur_get_num_threads())))
                    let scale = 1 / Float(b.headDim).squareRoot()
                    b.withC { batch in
                        recur_f32_prefix_attention(qkv, Int64(b.qkvStride), &ctx, Int64(b.ctxStride), &probs, batch, Int64(queryFrom), Int64(b.heads),
                                                   Int64(b.headDim), scale, &scratch)
                        recur_f32_prefix_attention_backward(qkv, Int64(b.qkvStride), probs, dctx, Int64(b.ctxStride), &dqkv, Int64(b.qkvStride), batch,
                                                            Int64(queryFrom), Int64(b.heads), Int64(b.headDim), scale, &scratch)
                    }
                    return (ctx, probs, dqkv)
                }
                let gradient = attentionBackwardReference(b, qkv: qkv, probs: reference.probs, dctx: dctx, queryFrom: queryFrom)
                for r in 0..<b.rows {
                    let got = Array(ctx[(r * b.ctxStride)..<(r * b.ctxStride + b.width)])
                    if let expected = reference.ctx[r] {
                        assertClose(expected, got, rtol: 2e-5, atol: 2e-5, "\(label): context row \(r)")
                    } else {
                        assertBitIdentical([Float](repeating: Self.untouched, count: b.width), got, "\(label): row \(r) holds no query")
                    }
                    let g = Array(dqkv[(r * b.qkvStride)..<(r * b.qkvStride + 3 * b.width)])
                    if let expected = gradient[r] {
                        assertClose(expected, g, rtol: 2e-5, atol: 2e-5, "\(label): d qkv row \(r)")
                    } else {
                        assertBitIdentical([Float](repeating: Self.untouched, count: 3 * b.width), g, "\(label): row \(r) is in no sequence")
                    }
                }
                for s in 0..<b.sequences {
                    for h in 0..<b.heads {
                        for i in queryFrom..<max(queryFrom, b.length(s)) {
                            let at = ((s * b.heads + h) * b.positions + i) * b.positions
                            let p = reference.probs[s][h][i]
                            assertClose(p, Array(probs[at..<(at + p.count)]), rtol: 1e-5, atol: 1e-6, "\(label): probabilities \(s) \(h) \(i)")
                        }
                    }
                }
            }
        }
    }

    func testPrefixAttentionScalar() throws { try checkAttention(RECUR_ISA_SCALAR) }
    func testPrefixAttentionAVX2() throws { try checkAttention(RECUR_ISA_AVX2) }
    func testPrefixAttentionAVX512() throws { try checkAttention(RECUR_ISA_AVX512) }
}
