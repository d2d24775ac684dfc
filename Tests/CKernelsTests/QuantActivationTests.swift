import CKernels
import XCTest

/// The activation quantization every tier shares, checked against its plain definition.
final class QuantActivationTests: XCTestCase {
    /// Per block of 32: d = amax / 127, q = rint(x / d) half to even (as x * (1 / d)), |q| <= 127.
    static func definition(_ block: ArraySlice<Float>) -> (q: [Int8], d: Float, sum: Int32, s: Float) {
        let amax = block.reduce(Float(0)) { max($0, abs($1)) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        let q = block.map { Int8(min(max(($0 * id).rounded(.toNearestOrEven), -127), 127)) }
        let sum = q.reduce(Int32(0)) { $0 + Int32($1) }
        return (q, d, sum, d * Float(sum))
    }

    private func quantize(_ x: [Float], m: Int, k: Int) -> (q: [Int8], d: [Float], sum: [Int32], s: [Float]) {
        let scratch = AlignedBuffer(bytes: recur_q_act_size(Int64(m), Int64(k)))
        var view = recur_q_act_view(scratch.pointer, Int64(m), Int64(k))
        x.withUnsafeBufferPointer { recur_q_quantize_act($0.baseAddress, &view) }
        let nb = k / 32
        return (Array(UnsafeBufferPointer(start: view.q, count: m * k)),
                Array(UnsafeBufferPointer(start: view.d, count: m * nb)),
                Array(UnsafeBufferPointer(start: view.sum, count: m * nb)),
                Array(UnsafeBufferPointer(start: view.s, count: m * nb)))
    }

    private func assertMatchesDefinition(_ x: [Float], m: Int, k: Int, file: StaticString = #filePath, line: UInt = #line) {
        let got = quantize(x, m: m, k: k)
        for block in 0..<(m * k / 32) {
            let want = Self.definition(x[(block * 32)..<(block * 32 + 32)])
            XCTAssertEqual(Array(got.q[(block * 32)..<(block * 32 + 32)]), want.q, "q of block \(block)", file: file, line: line)
            XCTAssertEqual(got.d[block].bitPattern, want.d.bitPattern, "d of block \(block)", file: file, line: line)
            XCTAssertEqual(got.sum[block], want.sum, "sum of block \(block)", file: file, line: line)
            XCTAssertEqual(got.s[block].bitPattern, want.s.bitPattern, "s of block \(block)", file: file, line: line)
        }
    }

    func testRandomRowsMatchDefinition() {
        var rng = QuantRandom(seed: 11)
        for (m, k) in [(1, 32), (3, 96), (7, 512), (2, 1536)] {
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
}
