import CKernels
import Foundation
import TestSupport
import XCTest

/// `recur_f32_bank_attention` and `recur_f16_bank_attention` (a recursive LM's memory read: m
/// queries against every slot of a fixed bank, keys and values head-major, F32 or F16) against the
/// double reference of causal attention with the bank as a slot-major cache and each query at the
/// last position (so it sees every slot), under every tier this CPU runs (others skipped), within
/// rtol 1e-5 / atol 1e-5 as the causal kernel (the GEMV of one query and the GEMM of several sum
/// in other orders than the reference). The F16 kernel is compared with the reference on the
/// F16-rounded bank, so the tolerance checks the kernel, not the rounding.
final class BankAttentionTests: XCTestCase {
    private let sentinel = Float(bitPattern: 0x7FC0_BEEF)

    private struct Bank {
        var m, slots, heads, headDim: Int
        var q: [Float], qStride: Int
        var keys: [Float], values: [Float] // slot-major, slots x (heads * headDim)
        var width: Int { heads * headDim }
        var outStride: Int { width + 3 }
        var scale: Float { 1 / Float(headDim).squareRoot() }
        var label: String { "\(half ? "F16" : "F32") m=\(m) slots=\(slots) heads=\(heads) head_dim=\(headDim)" }

        var half: Bool

        init(m: Int, slots: Int, heads: Int, headDim: Int, half: Bool = false, seed: UInt64) {
            self.m = m; self.slots = slots; self.heads = heads; self.headDim = headDim; self.half = half
            var rng = SplitMix64(seed: seed)
            qStride = heads * headDim + 5
            q = rng.floats(m * qStride, -2, 2)
            keys = rng.floats(slots * heads * headDim, -2, 2)
            values = rng.floats(slots * heads * headDim, -2, 2)
            if half {
                keys = Self.widen(Self.narrow(keys))
                values = Self.widen(Self.narrow(values))
            }
        }

        static func narrow(_ x: [Float]) -> [UInt16] {
            var y = [UInt16](repeating: 0, count: x.count)
            recur_f32_to_f16(x, &y, Int64(x.count))
            return y
        }

        static func widen(_ x: [UInt16]) -> [Float] {
            var y = [Float](repeating: 0, count: x.count)
            recur_f16_to_f32(x, &y, Int64(x.count))
            return y
        }

        /// Head h's slots x head_dim panel, contiguous, head after head.
        func headMajor(_ slotMajor: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: slotMajor.count)
            for h in 0..<heads {
                for s in 0..<slots {
                    for d in 0..<headDim { out[(h * slots + s) * headDim + d] = slotMajor[s * width + h * headDim + d] }
                }
            }
            return out
        }

        func reference() -> [Double] {
            (0..<m).flatMap { row in
                referenceCausalAttention(q: q, qOffset: row * qStride, qStride: qStride, k: keys, kOffset: 0, v: values, vOffset: 0,
                                         kvStride: width, n: 1, pos0: slots - 1, heads: heads, kvHeads: heads, headDim: headDim, scale: scale)
            }
        }
    }

    /// Runs the kernel with a sentinel-filled output and scratch (sized as the header says plus a
    /// guard), checks nothing outside the output rows or past the scratch was written, and
    /// returns the packed output.
    private func run(_ b: Bank, file: StaticString = #filePath, line: UInt = #line) -> [Float] {
        let k = b.headMajor(b.keys), v = b.headMajor(b.values)
        var out = [Float](repeating: sentinel, count: b.m * b.outStride)
        let need = Int(recur_bank_attention_scratch(Int64(b.m), Int64(b.slots), Int64(b.headDim), b.half ? 1 : 0)) * Int(recur_get_num_threads())
        var scratch = [Float](repeating: sentinel, count: need + 32)
        let rc = b.half
            ? recur_f16_bank_attention(b.q, Int64(b.qStride), Bank.narrow(k), Bank.narrow(v), Int64(b.slots), &out, Int64(b.outStride),
                                       Int64(b.m), Int64(b.heads), Int64(b.headDim), b.scale, &scratch)
            : recur_f32_bank_attention(b.q, Int64(b.qStride), k, v, Int64(b.slots), &out, Int64(b.outStride), Int64(b.m),
                                       Int64(b.heads), Int64(b.headDim), b.scale, &scratch)
        XCTAssertEqual(rc, 0, "\(b.label): return code", file: file, line: line)
        XCTAssertTrue(scratch[need...].allSatisfy { $0.bitPattern == sentinel.bitPattern }, "\(b.label): scratch overrun", file: file, line: line)
        var packed: [Float] = []
        for i in out.indices {
            if i % b.outStride < b.width {
                packed.append(out[i])
            } else {
                XCTAssertEqual(out[i].bitPattern, sentinel.bitPattern, "\(b.label): wrote the stride gap at \(i)", file: file, line: line)
            }
        }
        return packed
    }

    private static let shapes: [(m: Int, slots: Int, heads: Int, headDim: Int)] = [
        (1, 1, 1, 8), (1, 37, 4, 32), (1, 1000, 3, 64), (2, 256, 4, 32), (5, 129, 2, 16), (16, 512, 6, 64), (3, 2048, 1, 8),
        (1, 1537, 2, 16), (4, 1100, 3, 8), // F16: several widened blocks of 512, the last one partial
    ]

    private func check(_ isa: recur_isa) throws {
        let name = String(cString: recur_isa_name(isa))
        try withTier(isa) {
            for (i, s) in Self.shapes.enumerated() {
                for half in [false, true] {
                    let b = Bank(m: s.m, slots: s.slots, heads: s.heads, headDim: s.headDim, half: half, seed: 900 + UInt64(i))
                    assertClose(b.reference(), run(b), rtol: 1e-5, atol: 1e-5, "\(name) bank attention \(b.label)")
                }
            }
        }
    }

    func testBankAttentionScalar() throws { try check(RECUR_ISA_SCALAR) }
    func testBankAttentionAVX2() throws { try check(RECUR_ISA_AVX2) }
    func testBankAttentionAVX512() throws { try check(RECUR_ISA_AVX512) }

    /// Heads are split across threads; a head's work never is, so every thread count gives the
    /// same bits.
    func testBankAttentionThreadCountInvariant() {
        for (i, s) in Self.shapes.enumerated() {
            for half in [false, true] {
                let b = Bank(m: s.m, slots: s.slots, heads: s.heads, headDim: s.headDim, half: half, seed: 950 + UInt64(i))
                let one = withThreads(1) { run(b) }
                for threads: Int32 in [2, 3, 5] {
                    assertBitIdentical(one, withThreads(threads) { run(b) }, "bank attention \(b.label) at \(threads) threads")
                }
            }
        }
    }

    func testBankAttentionRejectsInvalidArguments() {
        let b = Bank(m: 2, slots: 8, heads: 2, headDim: 4, seed: 1)
        var out = [Float](repeating: sentinel, count: 2 * b.outStride)
        var scratch = [Float](repeating: 0, count: 64 * Int(recur_get_num_threads()))
        let k = b.headMajor(b.keys), v = b.headMajor(b.values)
        func call(slots: Int = 8, qStride: Int = b.qStride, outStride: Int = b.outStride, heads: Int = 2, headDim: Int = 4) -> Int32 {
            recur_f32_bank_attention(b.q, Int64(qStride), k, v, Int64(slots), &out, Int64(outStride), 2, Int64(heads), Int64(headDim), 0.5, &scratch)
        }
        XCTAssertEqual(call(slots: 0), -1, "no slots")
        XCTAssertEqual(call(heads: 0), -1, "no heads")
        XCTAssertEqual(call(headDim: 0), -1, "no head_dim")
        XCTAssertEqual(call(qStride: 7), -1, "q stride below heads x head_dim")
        XCTAssertEqual(call(outStride: 7), -1, "out stride below heads x head_dim")
        XCTAssertEqual(recur_f16_bank_attention(b.q, Int64(b.qStride), Bank.narrow(k), Bank.narrow(v), 0, &out, Int64(b.outStride), 2, 2, 4, 0.5,
                                                &scratch), -1, "F16: no slots")
        XCTAssertTrue(out.allSatisfy { $0.bitPattern == sentinel.bitPattern }, "a refused call writes nothing")
    }
}
