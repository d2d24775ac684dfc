import CKernels
import Foundation
import XCTest

/// recur_attention_bf16 against a double-precision reference that rounds Q, K, V and the softmax
/// numerators to bfloat16 as the kernel does (every sum exact), on random shapes; the same bits at
/// every thread count; and how far bfloat16 moves it from the FP32 kernel.
final class AttentionBF16Tests: XCTestCase {
    /// Round to nearest even, as vcvtneps2bf16 (finite inputs).
    static func bf16(_ x: Float) -> Double {
        let bits = x.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
        return Double(Float(bitPattern: rounded))
    }

    private func run(_ qkv: [Float], batch: Int, seq: Int, heads: Int, kvHeads: Int, headDim: Int, bf16: Bool) -> [Float] {
        var out = [Float](repeating: .nan, count: batch * seq * heads * headDim)
        var scratch = [Float](repeating: 0, count: Int(recur_f32_attention_scratch(Int64(seq))) * Int(recur_get_num_threads()))
        let scale = 1 / Float(headDim).squareRoot()
        if bf16 {
            XCTAssertEqual(recur_attention_bf16(qkv, &out, Int64(batch), Int64(seq), Int64(heads), Int64(kvHeads), Int64(headDim), scale, nil, nil, &scratch), 0)
        } else {
            recur_f32_attention(qkv, &out, Int64(batch), Int64(seq), Int64(heads), Int64(kvHeads), Int64(headDim), scale, &scratch)
        }
        return out
    }

    private func reference(_ qkv: [Float], batch: Int, seq: Int, heads: Int, kvHeads: Int, headDim: Int) -> [Double] {
        let width = (heads + 2 * kvHeads) * headDim, group = heads / kvHeads
        let scale = Double(1 / Float(headDim).squareRoot())
        var out = [Double](repeating: 0, count: batch * seq * heads * headDim)
        for b in 0..<batch {
            for h in 0..<heads {
                let kh = h / group
                for i in 0..<seq {
                    let q = (0..<headDim).map { Self.bf16(qkv[(b * seq + i) * width + h * headDim + $0]) }
                    let scores = (0..<seq).map { j -> Double in
                        let k = (b * seq + j) * width + (heads + kh) * headDim
                        return (0..<headDim).reduce(0) { $0 + q[$1] * Self.bf16(qkv[k + $1]) } * scale
                    }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }
                    let sum = e.reduce(0, +)
                    for d in 0..<headDim {
                        var acc = 0.0
                        for j in 0..<seq { acc += Self.bf16(Float(e[j])) * Self.bf16(qkv[(b * seq + j) * width + (heads + kvHeads + kh) * headDim + d]) }
                        out[((b * seq + i) * heads + h) * headDim + d] = acc / sum
                    }
                }
            }
        }
        return out
    }

    func testMatchesBF16ReferenceOnRandomShapes() throws {
        guard recur_attention_bf16_supported() != 0 else {
            throw XCTSkip("no AVX-512 BF16 here (or the avx512 tier is not in use): the BF16 attention cannot run")
        }
        var rng = SeededRandom(seed: 41)
        // (batch, seq, heads, kv heads, head dim): ragged key counts, an odd one, head dims that are
        // not multiples of 16, grouped kv heads, the TRM's own shape.
        for (batch, seq, heads, kvHeads, headDim) in [(1, 1, 2, 2, 8), (2, 5, 4, 2, 8), (1, 33, 2, 1, 16), (1, 40, 2, 2, 6),
                                                      (2, 97, 8, 8, 64), (1, 17, 2, 2, 34), (1, 130, 2, 2, 64)] {
            let qkv = rng.floats(batch * seq * (heads + 2 * kvHeads) * headDim, -2, 2)
            let got = run(qkv, batch: batch, seq: seq, heads: heads, kvHeads: kvHeads, headDim: headDim, bf16: true)
            let want = reference(qkv, batch: batch, seq: seq, heads: heads, kvHeads: kvHeads, headDim: headDim)
            // The kernel's float32 exp may round a numerator to the neighbouring bfloat16 (2^-8).
            assertClose(want, got, rtol: 4e-3, atol: 4e-3, "bf16 attention b=\(batch) s=\(seq) h=\(heads) kv=\(kvHeads) d=\(headDim)")
            let fp32 = run(qkv, batch: batch, seq: seq, heads: heads, kvHeads: kvHeads, headDim: headDim, bf16: false)
            let moved = zip(got, fp32).map { abs(Double($0) - Double($1)) }.max() ?? 0
            XCTAssertLessThan(moved, 0.05, "bf16 moved the output by \(moved) from FP32 at s=\(seq) d=\(headDim)")
        }
    }

    /// RoPE applied while packing gives the bits of recur_f32_rope first and then the kernel.
    func testRopeWhilePackingMatchesRopeFirst() throws {
        guard recur_attention_bf16_supported() != 0 else { throw XCTSkip("no AVX-512 BF16 here") }
        var rng = SeededRandom(seed: 44)
        let (batch, seq, heads, kvHeads, headDim) = (2, 97, 4, 2, 64)
        let width = (heads + 2 * kvHeads) * headDim
        let qkv = rng.floats(batch * seq * width, -2, 2)
        var cos = [Float](repeating: 0, count: seq * headDim), sin = cos
        recur_f32_rope_tables(&cos, &sin, Int64(seq), Int64(headDim), 10000)
        var scratch = [Float](repeating: 0, count: Int(recur_f32_attention_scratch(Int64(seq))) * Int(recur_get_num_threads()))
        var fused = [Float](repeating: .nan, count: batch * seq * heads * headDim), separate = fused
        var rotated = qkv
        recur_f32_rope(&rotated, Int64(batch), Int64(seq), Int64(heads), Int64(headDim), Int64(width), cos, sin)
        rotated.withUnsafeMutableBufferPointer { p in
            recur_f32_rope(p.baseAddress! + heads * headDim, Int64(batch), Int64(seq), Int64(kvHeads), Int64(headDim), Int64(width), cos, sin)
        }
        let scale = 1 / Float(headDim).squareRoot()
        XCTAssertEqual(recur_attention_bf16(qkv, &fused, Int64(batch), Int64(seq), Int64(heads), Int64(kvHeads), Int64(headDim), scale, cos, sin, &scratch), 0)
        XCTAssertEqual(recur_attention_bf16(rotated, &separate, Int64(batch), Int64(seq), Int64(heads), Int64(kvHeads), Int64(headDim), scale, nil, nil, &scratch), 0)
        XCTAssertEqual(fused.map(\.bitPattern), separate.map(\.bitPattern))
        XCTAssertEqual(recur_attention_bf16(qkv, &fused, Int64(batch), Int64(seq), Int64(heads), Int64(kvHeads), Int64(headDim), scale, cos, nil, &scratch), -1,
                       "one table without the other must be refused")
    }

    /// Pairs along the head dimension need an even one: an odd one is refused, nothing written.
    func testOddHeadDimIsRefused() throws {
        guard recur_attention_bf16_supported() != 0 else { throw XCTSkip("no AVX-512 BF16 here") }
        var rng = SeededRandom(seed: 42)
        let qkv = rng.floats(9 * 4 * 7, -1, 1)
        var out = [Float](repeating: 7, count: 9 * 2 * 7)
        var scratch = [Float](repeating: 0, count: Int(recur_f32_attention_scratch(9)) * Int(recur_get_num_threads()))
        XCTAssertEqual(recur_attention_bf16(qkv, &out, 1, 9, 2, 1, 7, 0.4, nil, nil, &scratch), -1)
        XCTAssertEqual(out, [Float](repeating: 7, count: 9 * 2 * 7))
    }

    func testSameBitsAtEveryThreadCount() throws {
        guard recur_attention_bf16_supported() != 0 else { throw XCTSkip("no AVX-512 BF16 here") }
        var rng = SeededRandom(seed: 43)
        let qkv = rng.floats(4 * 97 * 3 * 4 * 64, -2, 2)
        defer { recur_set_num_threads(2) }
        var results: [[Float]] = []
        for threads: Int32 in [1, 2, 3] {
            recur_set_num_threads(threads)
            results.append(run(qkv, batch: 4, seq: 97, heads: 4, kvHeads: 4, headDim: 64, bf16: true))
        }
        XCTAssertEqual(results[0].map(\.bitPattern), results[1].map(\.bitPattern))
        XCTAssertEqual(results[0].map(\.bitPattern), results[2].map(\.bitPattern))
    }

    /// Refused on a CPU without AVX-512 BF16, and with the avx2 tier forced on one that has it.
    func testRefusedWhereItCannotRun() {
        let active = recur_isa_active()
        defer { recur_isa_set(active) }
        if recur_attention_bf16_supported() != 0 { XCTAssertEqual(recur_isa_set(RECUR_ISA_AVX2), 0) }
        XCTAssertEqual(recur_attention_bf16_supported(), 0)
        var out = [Float](repeating: 7, count: 16)
        var scratch = [Float](repeating: 0, count: Int(recur_f32_attention_scratch(2)) * Int(recur_get_num_threads()))
        let qkv = [Float](repeating: 1, count: 2 * 3 * 8)
        XCTAssertEqual(recur_attention_bf16(qkv, &out, 1, 2, 1, 1, 8, 1, nil, nil, &scratch), -1)
        XCTAssertEqual(out, [Float](repeating: 7, count: 16), "a refused call must write nothing")
    }
}
