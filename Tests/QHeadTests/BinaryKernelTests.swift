import CKernels
import TestSupport
import XCTest

/// XNOR-popcount and spike kernels: every tier against the scalar reference and a plain +-1 sum.
final class BinaryKernelTests: XCTestCase {
    private func randomSigns(_ rows: Int, _ k: Int) -> (floats: [Float], bits: [UInt64]) {
        let floats = (0..<rows * k).map { _ in Float.random(in: -1...1) }
        var bits = [UInt64](repeating: 0, count: rows * Int(recur_bnn_words(Int64(k))))
        recur_bnn_pack_signs(floats, nil, &bits, Int64(rows), Int64(k))
        return (floats, bits)
    }

    func testPackSignsMatchesDefinition() {
        let before = recur_isa_active()
        defer { _ = recur_isa_set(before) }
        for isa in [RECUR_ISA_SCALAR, RECUR_ISA_AVX2] where recur_isa_supported(isa) == 1 {
        XCTAssertEqual(recur_isa_set(isa), 0)
        for k in [1, 5, 7, 8, 9, 63, 64, 65, 130, 512] {
            let rows = 3, words = Int(recur_bnn_words(Int64(k)))
            let x = (0..<rows * k).map { _ in Float.random(in: -1...1) }
            let center = (0..<k).map { _ in Float.random(in: -0.5...0.5) }
            var bits = [UInt64](repeating: .max, count: rows * words)
            recur_bnn_pack_signs(x, center, &bits, Int64(rows), Int64(k))
            for r in 0..<rows {
                for j in 0..<words * 64 {
                    let bit = (bits[r * words + j / 64] >> UInt64(j % 64)) & 1
                    let expected: UInt64 = j < k ? (x[r * k + j] - center[j] >= 0 ? 1 : 0) : 0
                    XCTAssertEqual(bit, expected, "\(String(cString: recur_isa_name(isa))) k \(k) row \(r) bit \(j)")
                }
            }
        }
        }
    }

    func testEveryTierMatchesScalarAndSignDot() throws {
        var skipped: [String] = []
        for isa in [RECUR_ISA_SCALAR, RECUR_ISA_AVX2, RECUR_ISA_AVX512] {
            guard recur_bnn_isa_supported(isa) == 1 else { skipped.append(String(cString: recur_isa_name(isa))); continue }
            for _ in 0..<20 {
                let rows = Int.random(in: 1...5), n = Int.random(in: 1...9)
                let k = [1, 7, 63, 64, 65, 127, 255, 256, 257, 511, 512, 513, 700, 1031].randomElement()!
                let x = randomSigns(rows, k), w = randomSigns(n, k)
                var ours = [Int32](repeating: 0, count: rows * n), scalar = ours
                XCTAssertEqual(recur_bnn_xnor_gemm_isa(isa, x.bits, w.bits, &ours, Int64(rows), Int64(n), Int64(k)), 0)
                XCTAssertEqual(recur_bnn_xnor_gemm_isa(RECUR_ISA_SCALAR, x.bits, w.bits, &scalar, Int64(rows), Int64(n), Int64(k)), 0)
                XCTAssertEqual(ours, scalar, "\(String(cString: recur_isa_name(isa))) rows \(rows) n \(n) k \(k)")
                for r in 0..<rows {
                    for o in 0..<n {
                        var dot: Int32 = 0
                        for j in 0..<k { dot += (x.floats[r * k + j] >= 0) == (w.floats[o * k + j] >= 0) ? 1 : -1 }
                        XCTAssertEqual(scalar[r * n + o], dot, "k \(k) [\(r), \(o)]")
                    }
                }
            }
        }
        var dispatched = [Int32](repeating: 0, count: 4), scalar = dispatched
        let x = randomSigns(2, 300), w = randomSigns(2, 300)
        recur_bnn_xnor_gemm(x.bits, w.bits, &dispatched, 2, 2, 300)
        _ = recur_bnn_xnor_gemm_isa(RECUR_ISA_SCALAR, x.bits, w.bits, &scalar, 2, 2, 300)
        XCTAssertEqual(dispatched, scalar)
        if !skipped.isEmpty {
            throw XCTSkip("binary kernel tiers not run: this CPU lacks \(skipped.joined(separator: ", ")) (AVX-512 needs VPOPCNTDQ); the others passed")
        }
    }

    func testSpikeColumnsAddOnlySpikedRows() {
        let inputs = 37, outputs = 11
        let wt = (0..<inputs * outputs).map { _ in Float.random(in: -1...1) }
        let spiked: [Int32] = [0, 5, 5, 36, 12]
        var v = (0..<outputs).map { _ in Float.random(in: -1...1) }
        var expected = v
        for i in spiked { for o in 0..<outputs { expected[o] += wt[Int(i) * outputs + o] } }
        recur_snn_add_columns(wt, Int64(outputs), spiked, Int64(spiked.count), &v)
        XCTAssertEqual(v, expected)
        for i in spiked { for o in 0..<outputs { expected[o] -= wt[Int(i) * outputs + o] } }
        recur_snn_sub_columns(wt, Int64(outputs), spiked, Int64(spiked.count), &v)
        for o in 0..<outputs { XCTAssertEqual(v[o], expected[o], accuracy: 1e-5) }
    }
}
