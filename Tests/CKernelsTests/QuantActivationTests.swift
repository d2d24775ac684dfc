import CKernels
import XCTest

/// The activation quantization every tier shares, checked against its plain definition.
final class QuantActivationTests: XCTestCase {
    /// Per block of 32: d = amax / 127, q = rint(clamp(x * (1 / d), -127, 127)) half to even.
    static func definition(_ block: ArraySlice<Float>) -> (q: [Int8], d: Float, sum: Int32, s: Float) {
        let amax = block.reduce(Float(0)) { max($0, abs($1)) }
        var d = amax / 127
        var id: Float = d != 0 ? 1 / d : 0
        if id > .greatestFiniteMagnitude { (d, id) = (0, 0) } // too small to scale: the block is zero
        let q = block.map { Int8(min(max($0 * id, -127), 127).rounded(.toNearestOrEven)) }
        let sum = q.reduce(Int32(0)) { $0 + Int32($1) }
        return (q, d, sum, d * Float(sum))
    }

    /// Tiers with their own activation quantizer (AVX-VNNI shares the AVX2 one, AMX the AVX-512 one).
    private static let tiers: [(isa: recur_isa, name: String)] = [
        (RECUR_ISA_SCALAR, "scalar"), (RECUR_ISA_AVX2, "avx2"), (RECUR_ISA_AVX512, "avx512"),
    ]

    private func quantize(_ x: [Float], m: Int, k: Int, isa: recur_isa = RECUR_ISA_SCALAR)
        -> (q: [Int8], d: [Float], sum: [Int32], s: [Float])
    {
        let scratch = AlignedBuffer(bytes: recur_q_act_size(Int64(m), Int64(k)))
        var view = recur_q_act_view(scratch.pointer, Int64(m), Int64(k))
        let status = x.withUnsafeBufferPointer { recur_q_quantize_act_isa(isa, $0.baseAddress, &view) }
        XCTAssertEqual(status, 0)
        let nb = k / 32
        return (Array(UnsafeBufferPointer(start: view.q, count: m * k)),
                Array(UnsafeBufferPointer(start: view.d, count: m * nb)),
                Array(UnsafeBufferPointer(start: view.sum, count: m * nb)),
                Array(UnsafeBufferPointer(start: view.s, count: m * nb)))
    }

    private func assertMatchesDefinition(_ x: [Float], m: Int, k: Int, file: StaticString = #filePath, line: UInt = #line) {
        for (isa, name) in Self.tiers {
            guard recur_q_isa_supported(isa) != 0 else { continue } // the SIMD tier tests report the skip
            assertMatchesDefinition(x, m: m, k: k, isa: isa, name: name, file: file, line: line)
        }
    }

    private func assertMatchesDefinition(_ x: [Float], m: Int, k: Int, isa: recur_isa, name: String,
                                         file: StaticString, line: UInt) {
        let got = quantize(x, m: m, k: k, isa: isa)
        for block in 0..<(m * k / 32) {
            let want = Self.definition(x[(block * 32)..<(block * 32 + 32)])
            XCTAssertEqual(Array(got.q[(block * 32)..<(block * 32 + 32)]), want.q, "\(name): q of block \(block)", file: file, line: line)
            XCTAssertEqual(got.d[block].bitPattern, want.d.bitPattern, "\(name): d of block \(block)", file: file, line: line)
            XCTAssertEqual(got.sum[block], want.sum, "\(name): sum of block \(block)", file: file, line: line)
            XCTAssertEqual(got.s[block].bitPattern, want.s.bitPattern, "\(name): s of block \(block)", file: file, line: line)
        }
    }

    func testRandomRowsMatchDefinition() {
        var rng = QuantRandom(seed: 11)
        // Rows of 1 to 49 blocks: whole groups of 16 blocks for the AVX-512 quantizer and ragged ones.
        for (m, k) in [(1, 32), (3, 96), (7, 512), (2, 1536), (2, 544), (3, 1568), (1, 480)] {
            let x = (0..<(m * k)).map { _ in rng.unit() * 3 }
            assertMatchesDefinition(x, m: m, k: k)
        }
    }

    func testZeroBlockHasZeroScaleAndQuants() {
        var x = [Float](repeating: 0, count: 64)
        for j in 32..<64 { x[j] = Float(j) - 40 }
        assertMatchesDefinition(x, m: 1, k: 64)
        let got = quantize(x, m: 1, k: 64)
        XCTAssertEqual(got.d[0], 0)
        XCTAssertTrue(got.q[0..<32].allSatisfy { $0 == 0 })
    }

    /// amax = 127 makes d = 1, so x * (1 / d) lands exactly on halves: they must round to even
    /// like cvtps2dq does in the SIMD paths.
    func testHalvesRoundToEven() {
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127
        let halves: [Float] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -126.5]
        for (i, v) in halves.enumerated() { x[i + 1] = v }
        assertMatchesDefinition(x, m: 1, k: 32)
        let got = quantize(x, m: 1, k: 32)
        XCTAssertEqual(Array(got.q[1...8]), [0, 2, 2, 0, -2, -2, 126, -126])
    }

    func testExtremesStayWithin127() {
        var rng = QuantRandom(seed: 5)
        var x = (0..<256).map { _ in rng.unit() }
        x[3] = -1e30
        x[40] = 1e-30
        x[77] = -Float.leastNonzeroMagnitude
        assertMatchesDefinition(x, m: 2, k: 128)
        XCTAssertTrue(quantize(x, m: 2, k: 128).q.allSatisfy { $0 >= -127 })
    }

    /// A block whose amax is subnormal: 1 / d overflows, so the block is stored as zero (d = 0)
    /// instead of turning its zeros into 0 * inf = NaN.
    func testTinyBlockBecomesZero() {
        var x = [Float](repeating: 0, count: 64)
        x[0] = 0x1p-133 // subnormal
        x[1] = -0x1p-133
        x[2] = 0x1p-134
        x[40] = 1e-35 // 1 / (1e-35 / 127) still fits a float: quantized normally
        x[41] = -3e-36
        assertMatchesDefinition(x, m: 1, k: 64)
        let got = quantize(x, m: 1, k: 64)
        XCTAssertEqual(got.d[0], 0)
        XCTAssertTrue(got.q[0..<32].allSatisfy { $0 == 0 })
        XCTAssertEqual(got.q[40], 127)
    }

    /// NaN and infinity are not meaningful activations, but every tier must treat them alike.
    func testNonFiniteInputsGiveSameBytesInEveryTier() throws {
        var rng = QuantRandom(seed: 8)
        var x = (0..<128).map { _ in rng.unit() }
        x[5] = .nan
        x[40] = .infinity
        x[41] = -.infinity
        x[100] = .nan
        x[101] = .infinity
        for j in 64..<96 { x[j] = .nan } // a block of NaN only
        let scalar = quantize(x, m: 1, k: 128, isa: RECUR_ISA_SCALAR)
        XCTAssertEqual(scalar.q[5], -127, "NaN quantizes to -127")
        var missing: [String] = []
        for (isa, name) in Self.tiers.dropFirst() {
            guard recur_q_isa_supported(isa) != 0 else {
                missing.append(name)
                continue
            }
            let simd = quantize(x, m: 1, k: 128, isa: isa)
            XCTAssertEqual(scalar.q, simd.q, name)
            XCTAssertEqual(bitPatterns(scalar.d), bitPatterns(simd.d), name)
            XCTAssertEqual(scalar.sum, simd.sum, name)
            XCTAssertEqual(bitPatterns(scalar.s), bitPatterns(simd.s), name)
        }
        if !missing.isEmpty {
            throw XCTSkip("this CPU cannot run the \(missing.joined(separator: " and ")) quantizer; the others matched")
        }
    }
}
