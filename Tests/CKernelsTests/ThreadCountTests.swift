import CKernels
import XCTest

/// The thread split never changes a result: every kernel gives the same bits at 1 and 2 threads
/// (sizes are above the parallel threshold so the second run really forks).
final class ThreadCountTests: XCTestCase {
    func testSetAndGet() {
        withThreads(3) { XCTAssertEqual(recur_get_num_threads(), 3) }
        withThreads(0) { XCTAssertEqual(recur_get_num_threads(), 1, "n < 1 means 1") }
    }

    /// The count belongs to the thread that sets it: two models served from two threads keep theirs.
    func testEachThreadKeepsItsOwnCount() {
        final class Seen: @unchecked Sendable { var counts: [Int32] = [0, 0] }
        let seen = Seen()
        let ready = DispatchGroup(), go = DispatchSemaphore(value: 0), done = DispatchGroup()
        for (i, n) in [Int32(1), Int32(3)].enumerated() {
            ready.enter()
            done.enter()
            Thread {
                recur_set_num_threads(n)
                ready.leave()
                go.wait()  // both have set theirs before either reads
                seen.counts[i] = recur_get_num_threads()
                done.leave()
            }.start()
        }
        ready.wait()
        go.signal()
        go.signal()
        done.wait()
        XCTAssertEqual(seen.counts, [1, 3])
    }

    func testOneAndTwoThreadsGiveIdenticalResults() throws {
        for isa in [RECUR_ISA_SCALAR, recur_isa_best()] {
            let one = try withTier(isa) { withThreads(1) { runAll() } }
            let two = try withTier(isa) { withThreads(2) { runAll() } }
            XCTAssertEqual(one.count, two.count)
            for (name, values) in one {
                assertBitIdentical(values, two[name] ?? [], "\(name) [\(String(cString: recur_isa_name(isa)))]")
            }
        }
    }

    /// Attention splits each head's queries into more work items when the heads alone would leave
    /// threads idle (batch 1, 8 heads of 97 queries: one item per head at 1-2 threads, two of 56 at 3,
    /// three of 40 at 5, seven of 16 at 16), and into blocks of at most 128 queries for long
    /// sequences. Every split must give the bits of one thread.
    func testAttentionQuerySplitsGiveIdenticalResults() throws {
        for isa in [RECUR_ISA_SCALAR, recur_isa_best()] {
            for (seq, heads, headDim) in [(97, 8, 64), (300, 2, 33)] {
                var rng = SeededRandom(seed: 5)
                let qkv = rng.floats(seq * 3 * heads * headDim, -2, 2)
                func attention(_ threads: Int32) throws -> [Float] {
                    try withTier(isa) {
                        withThreads(threads) {
                            var out = [Float](repeating: .nan, count: seq * heads * headDim)
                            var scratch = [Float](repeating: 0, count: Int(recur_f32_attention_scratch(Int64(seq))) * Int(threads))
                            recur_f32_attention(qkv, &out, 1, Int64(seq), Int64(heads), Int64(heads), Int64(headDim), 0.125, &scratch)
                            return out
                        }
                    }
                }
                let one = try attention(1)
                for threads: Int32 in [3, 5, 16] {
                    assertBitIdentical(one, try attention(threads),
                                       "attention s=\(seq) d=\(headDim) threads \(threads) [\(String(cString: recur_isa_name(isa)))]")
                }
            }
        }
    }

    private func runAll() -> [String: [Float]] {
        var rng = SeededRandom(seed: 21)
        var results: [String: [Float]] = [:]
        let rows = 97, dim = 1000
        let x = rng.floats(rows * dim, -3, 3), r = rng.floats(rows * dim, -3, 3)

        var y = [Float](repeating: 0, count: rows * dim)
        recur_f32_add(x, r, &y, Int64(y.count))
        results["add"] = y
        recur_f32_add_row(x, Array(r.prefix(dim)), &y, Int64(rows), Int64(dim))
        results["add_row"] = y
        var s = x
        recur_f32_scale(&s, 1.5, Int64(s.count))
        results["scale"] = s
        recur_f32_exp(x, &y, Int64(y.count))
        results["exp"] = y
        var n = x
        recur_f32_rms_norm(&n, Int64(rows), Int64(dim), 1e-5)
        results["rms_norm"] = n
        n = x
        recur_f32_add_rms_norm(&n, r, Int64(rows), Int64(dim), 1e-5)
        results["add_rms_norm"] = n
        var g = [Float](repeating: 0, count: rows * dim / 2)
        recur_f32_swiglu(x, &g, Int64(rows), Int64(dim / 2))
        results["swiglu"] = g
        var sm = x
        recur_f32_softmax(&sm, Int64(rows), Int64(dim))
        results["softmax"] = sm

        let seq = 97, heads = 8, headDim = 64, width = 3 * heads * headDim
        let qkv = rng.floats(seq * width * 2, -2, 2)
        var cos = [Float](repeating: 0, count: seq * headDim), sin = cos
        recur_f32_rope_tables(&cos, &sin, Int64(seq), Int64(headDim), 10000)
        var rotated = qkv
        recur_f32_rope(&rotated, 2, Int64(seq), Int64(2 * heads), Int64(headDim), Int64(width), cos, sin)
        results["rope"] = rotated
        var att = [Float](repeating: 0, count: 2 * seq * heads * headDim)
        var scratch = [Float](repeating: 0, count: Int(recur_f32_attention_scratch(Int64(seq))) * Int(recur_get_num_threads()))
        recur_f32_attention(qkv, &att, 2, Int64(seq), Int64(heads), Int64(heads), Int64(headDim), 0.125, &scratch)
        results["attention"] = att

        let m = 97, k = 512, out = 512
        let w = rng.floats(out * k), bias = rng.floats(out)
        var lin = [Float](repeating: 0, count: m * out)
        var packed = [Float](repeating: 0, count: Int(recur_f32_packed_size(Int64(k), Int64(out))))
        recur_f32_pack_transposed(w, Int64(out), Int64(k), &packed)
        recur_f32_packed_gemm(Array(x.prefix(m * k)), Int64(k), packed, Int64(k), Int64(out), nil, nil, 0, &lin, Int64(out), Int64(m), 0)
        results["linear"] = lin
        recur_f32_packed_gemm(Array(x.prefix(m * k)), Int64(k), packed, Int64(k), Int64(out), bias, nil, 0, &lin, Int64(out), Int64(m), 0)
        results["linear_bias"] = lin

        let ids = (0..<500).map { _ in Int32(rng.int(rows)) }
        var emb = [Float](repeating: 0, count: ids.count * dim)
        recur_f32_embedding(x, ids, &emb, Int64(ids.count), Int64(dim), 2)
        results["embedding"] = emb
        var am = [Int32](repeating: 0, count: rows)
        recur_f32_argmax(x, Int64(rows), Int64(dim), &am)
        results["argmax"] = am.map { Float($0) }
        var t = [Float](repeating: 0, count: x.count)
        recur_f32_transpose(x, &t, 1, Int64(rows), Int64(dim))
        results["transpose"] = t

        var h = [UInt16](repeating: 0, count: x.count)
        recur_f32_to_f16(x, &h, Int64(x.count))
        var back = [Float](repeating: 0, count: x.count)
        recur_f16_to_f32(h, &back, Int64(h.count))
        results["f16"] = back
        recur_bf16_to_f32(h, &back, Int64(h.count))
        results["bf16"] = back
        return results
    }
}
