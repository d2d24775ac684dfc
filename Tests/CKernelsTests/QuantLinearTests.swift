import CKernels
import XCTest

/// recur_q_linear: the scalar reference against double-precision math, and every SIMD tier against
/// the scalar reference bit for bit.
final class QuantLinearTests: XCTestCase {
    private static let ns = [1, 3, 7, 17, 33, 100]
    private static let ms = [1, 2, 5, 16, 31, 97, 194]
    private static let ks = [32, 64, 96, 512, 1536]

    private struct Case {
        let format: QuantFormat
        let m: Int, n: Int, k: Int
        let weights: QuantWeights
        let packed: AlignedBuffer
        let x: [Float]
    }

    /// Random weights and activations; `special` adds an all-zero activation block, one outlier
    /// activation, extreme quants (-128 in Q8_0) in every other weight row and a zero-scale row.
    private static func makeCase(_ format: QuantFormat, m: Int, n: Int, k: Int, special: Bool, seed: UInt64) -> Case {
        var rng = QuantRandom(seed: seed)
        var w = QuantWeights.random(format, n: n, k: k, rng: &rng)
        var x = (0..<(m * k)).map { _ in rng.unit() * 2 }
        if special {
            for j in 0..<32 { x[j] = 0 }
            if m > 1 && k >= 64 { x[k + 40] = 1e4 }
            w.setExtremeQuants(rows: Array(stride(from: 0, to: n, by: 2)))
            if n > 2 { for b in 0..<(k / 32) { w.bytes[2 * w.rowBytes + b * format.blockBytes] = 0; w.bytes[2 * w.rowBytes + b * format.blockBytes + 1] = 0 } }
        }
        return Case(format: format, m: m, n: n, k: k, weights: w, packed: w.packed(), x: x)
    }

    /// Every n with every m; k cycles so each k meets small and large shapes.
    private static func shapeGrid() -> [(m: Int, n: Int, k: Int)] {
        var shapes: [(m: Int, n: Int, k: Int)] = []
        for (ni, n) in ns.enumerated() {
            for (mi, m) in ms.enumerated() { shapes.append((m, n, ks[(ni + mi) % ks.count])) }
        }
        return shapes
    }

    private func scalar(_ c: Case) -> [Float] {
        quantLinear(isa: RECUR_ISA_SCALAR, c.format, packed: c.packed, x: c.x, m: c.m, n: c.n, k: c.k)!
    }

    func testScalarMatchesDoublePrecisionReference() {
        for format in QuantFormat.allCases {
            for (m, n, k) in [(1, 1, 32), (5, 17, 96), (3, 33, 512), (2, 7, 1536)] {
                let c = Self.makeCase(format, m: m, n: n, k: k, special: true, seed: UInt64(m * 1000 + n * 10 + k))
                let y = scalar(c)
                for i in 0..<m {
                    // Quantized activations from the plain definition, then dequantize-and-multiply in double.
                    var xq = [Double](), xStep = [Double]()
                    for b in 0..<(k / 32) {
                        let base = i * k + b * 32
                        let def = QuantActivationTests.definition(c.x[base..<(base + 32)])
                        xq += def.q.map { Double($0) * Double(def.d) }
                        xStep.append(Double(def.d))
                    }
                    for r in 0..<n {
                        var exact = 0.0, magnitude = 0.0, fromFloat = 0.0, quantBound = 0.0
                        for j in 0..<k {
                            let w = c.weights.value(row: r, j)
                            exact += xq[j] * w
                            magnitude += abs(xq[j]) * c.weights.magnitude(row: r, j)
                            fromFloat += Double(c.x[i * k + j]) * w
                            quantBound += abs(w) * xStep[j / 32] / 2
                        }
                        let got = Double(y[i * n + r])
                        // Float rounding: a product and one or two fmas per block, each 2^-24 relative
                        // to the parts summed (for Q4_1 the d*q and m parts before they cancel).
                        let tol = magnitude * Double(k / 32 + 2) * 0x1p-23 + 1e-30
                        XCTAssertLessThanOrEqual(abs(got - exact), tol, "\(format) m \(m) n \(n) k \(k) at [\(i), \(r)]")
                        // Against the unquantized activations: |x - xq| <= d/2 per element.
                        XCTAssertLessThanOrEqual(abs(got - fromFloat), quantBound * 1.0001 + tol,
                                                 "\(format) vs float activations at [\(i), \(r)]")
                    }
                }
            }
        }
    }

    /// Every micro-kernel shape of the tier (recur_q_shapes), each forced in turn, against scalar.
    private func assertTierMatchesScalar(_ isa: recur_isa, name: String) throws {
        guard recur_q_isa_supported(isa) != 0 else {
            throw XCTSkip("this CPU (or build) cannot run the \(name) tier; run these tests on a CPU that has it")
        }
        var compared = 0, shapesChecked = 0
        for format in QuantFormat.allCases {
            let shapes = Self.shapeNames(isa, format.type)
            XCTAssertFalse(shapes.isEmpty, "\(name) lists no micro-kernel shape")
            defer { recur_q_shape_set(isa, format.type, nil) }
            for shapeName in shapes {
                XCTAssertEqual(recur_q_shape_set(isa, format.type, shapeName), 0, "\(name) refused its own shape \(shapeName)")
                shapesChecked += 1
                for (index, shape) in Self.shapeGrid().enumerated() {
                    let c = Self.makeCase(format, m: shape.m, n: shape.n, k: shape.k, special: index % 2 == 1,
                                          seed: UInt64(index + 77))
                    let want = scalar(c)
                    guard let got = quantLinear(isa: isa, format, packed: c.packed, x: c.x, m: c.m, n: c.n, k: c.k) else {
                        XCTFail("\(name) refused a supported call")
                        return
                    }
                    XCTAssertEqual(bitPatterns(got), bitPatterns(want), "\(name) \(shapeName) \(format) m \(c.m) n \(c.n) k \(c.k)")
                    compared += 1
                }
            }
        }
        XCTAssertEqual(compared, shapesChecked * Self.shapeGrid().count)
        XCTAssertEqual(recur_q_shape_set(isa, RECUR_Q8_0, "99x9"), -1, "an unknown shape name must be refused")
    }

    /// The names of a tier's micro-kernel shapes ("8x1", "4x2", ...).
    static func shapeNames(_ isa: recur_isa, _ type: recur_qtype) -> [String] {
        var rates = [recur_q_shape_rate](repeating: recur_q_shape_rate(), count: 16)
        var chosen: Int32 = 0
        let count = Int(recur_q_shapes(isa, type, &rates, Int32(rates.count), &chosen))
        guard count > 0 else { return [] }
        return rates.prefix(min(count, rates.count)).map { rate in
            withUnsafeBytes(of: rate.name) { raw in String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
    }

    func testAVX2MatchesScalarBitForBit() throws { try assertTierMatchesScalar(RECUR_ISA_AVX2, name: "avx2") }

    func testAVXVNNIMatchesScalarBitForBit() throws { try assertTierMatchesScalar(RECUR_ISA_AVXVNNI, name: "avxvnni") }

    func testAVX512MatchesScalarBitForBit() throws { try assertTierMatchesScalar(RECUR_ISA_AVX512, name: "avx512 (VNNI)") }

    func testAMXMatchesScalarBitForBit() throws { try assertTierMatchesScalar(RECUR_ISA_AMX, name: "amx") }

    /// Each output is one micro-kernel call over all of k, so threads never change a bit.
    func testThreadCountDoesNotChangeResults() {
        let saved = recur_get_num_threads()
        defer { recur_set_num_threads(saved) }
        for format in QuantFormat.allCases {
            let c = Self.makeCase(format, m: 97, n: 100, k: 512, special: false, seed: 9)
            recur_set_num_threads(1)
            let one = quantLinear(isa: RECUR_ISA_SCALAR, format, packed: c.packed, x: c.x, m: c.m, n: c.n, k: c.k)!
            for threads in [2, 3, 5] {
                recur_set_num_threads(Int32(threads))
                for (isa, _) in [(RECUR_ISA_SCALAR, "scalar")] + quantSIMDTiers where recur_q_isa_supported(isa) != 0 {
                    let y = quantLinear(isa: isa, format, packed: c.packed, x: c.x, m: c.m, n: c.n, k: c.k)!
                    XCTAssertEqual(bitPatterns(y), bitPatterns(one), "\(format) tier \(isa.rawValue) threads \(threads)")
                }
            }
        }
    }

    /// The dispatching entry point gives the same bits (every tier does) and writes every output.
    func testDispatchedCallMatchesScalar() {
        for format in QuantFormat.allCases {
            let c = Self.makeCase(format, m: 5, n: 33, k: 96, special: true, seed: 21)
            let scratch = AlignedBuffer(bytes: recur_q_act_size(5, 96))
            var y = [Float](repeating: .nan, count: 5 * 33)
            c.x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    recur_q_linear(format.type, c.packed.pointer, xp.baseAddress, yp.baseAddress, 5, 33, 96, scratch.pointer)
                }
            }
            XCTAssertEqual(bitPatterns(y), bitPatterns(scalar(c)), "\(format) via recur_isa_active()")
        }
    }

    /// recur_q_linear_swiglu against recur_f32_swiglu into a buffer and then recur_q_linear_isa, with
    /// `isa` in force (it picks both the FP32 swiglu and the quantized kernels), serial and threaded:
    /// the same bits, and the gate half of each row left holding the activation.
    private func assertSwiGLUFusionMatches(_ isa: recur_isa, name: String) throws {
        guard recur_isa_supported(isa) == 1 else {
            throw XCTSkip("this CPU (or build) cannot run the \(name) tier; run these tests on a CPU that has it")
        }
        var rng = QuantRandom(seed: 31)
        for format in QuantFormat.allCases {
            for (m, n, k, threads) in [(3, 17, 64, 1), (97, 100, 512, 3), (31, 48, 1536, 2)] {
                let w = QuantWeights.random(format, n: n, k: k, rng: &rng)
                let packed = w.packed()
                let gateUp = (0..<(m * 2 * k)).map { _ in rng.unit() * 8 }
                let (want, activation) = try withTier(isa) { () -> ([Float], [Float]) in
                    var act = [Float](repeating: 0, count: m * k)
                    recur_f32_swiglu(gateUp, &act, Int64(m), Int64(k))
                    return (withThreads(Int32(threads)) {
                        quantLinear(isa: isa, format, packed: packed, x: act, m: m, n: n, k: k)!
                    }, act)
                }
                var fusedInput = gateUp
                var got = [Float](repeating: .nan, count: m * n)
                let scratch = AlignedBuffer(bytes: recur_q_act_size(Int64(m), Int64(k)))
                let status = try withTier(isa) {
                    withThreads(Int32(threads)) {
                        recur_q_linear_swiglu_isa(isa, format.type, packed.pointer, &fusedInput, &got,
                                                  Int64(m), Int64(n), Int64(k), scratch.pointer)
                    }
                }
                XCTAssertEqual(status, 0)
                let what = "\(name) \(format) m \(m) n \(n) k \(k) threads \(threads)"
                XCTAssertEqual(bitPatterns(got), bitPatterns(want), what)
                let gates = (0..<m).flatMap { fusedInput[($0 * 2 * k)..<($0 * 2 * k + k)] }
                XCTAssertEqual(bitPatterns(gates), bitPatterns(activation), "\(what): gate halves")
            }
        }
    }

    func testSwiGLUFusionScalar() throws { try assertSwiGLUFusionMatches(RECUR_ISA_SCALAR, name: "scalar") }
    func testSwiGLUFusionAVX2() throws { try assertSwiGLUFusionMatches(RECUR_ISA_AVX2, name: "avx2") }
    func testSwiGLUFusionAVXVNNI() throws { try assertSwiGLUFusionMatches(RECUR_ISA_AVXVNNI, name: "avxvnni") }
    func testSwiGLUFusionAVX512() throws { try assertSwiGLUFusionMatches(RECUR_ISA_AVX512, name: "avx512") }
    func testSwiGLUFusionAMX() throws { try assertSwiGLUFusionMatches(RECUR_ISA_AMX, name: "amx") }

    func testRejectsBadShapesAndTypes() {
        let w = [UInt8](repeating: 0, count: 64)
        let out = AlignedBuffer(bytes: 4096)
        XCTAssertEqual(w.withUnsafeBytes { recur_q_repack(RECUR_Q8_0, $0.baseAddress, out.pointer, 1, 48) }, -1)
        XCTAssertEqual(w.withUnsafeBytes { recur_q_repack(recur_qtype(rawValue: 1), $0.baseAddress, out.pointer, 1, 32) }, -1)
        let x = [Float](repeating: 1, count: 48)
        var y = [Float](repeating: 7, count: 1)
        let scratch = AlignedBuffer(bytes: recur_q_act_size(1, 48))
        let status = x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                recur_q_linear_isa(RECUR_ISA_SCALAR, RECUR_Q8_0, out.pointer, xp.baseAddress, yp.baseAddress, 1, 1, 48,
                                   scratch.pointer)
            }
        }
        XCTAssertEqual(status, -1)
        XCTAssertEqual(y, [7], "a rejected call must leave y alone")
        XCTAssertEqual(recur_q_isa_supported(recur_isa(rawValue: 9)), 0)
    }
}
