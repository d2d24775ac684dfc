import CKernels
import Foundation
import TestSupport
import XCTest

/// recur_f32_rope_tables against PyTorch's float32 RotaryEmbedding (tools/ckernels_rope_reference.py).
///
/// inv_freq and the angles are float32 operations and must match PyTorch exactly; the tables are
/// the correctly rounded cos/sin of those angles. PyTorch's own float32 cos/sin (SLEEF, 1-ulp
/// accuracy) is not always correctly rounded, so the tables may differ from PyTorch's by one ulp in
/// a few percent of the entries, and never by more.
final class RoPETableTests: XCTestCase {
    func testTablesMatchPyTorch() throws {
        let cases: [(seq: Int, dim: Int, theta: Int)] = [(97, 64, 10000), (916, 64, 10000), (2048, 128, 10000),
                                                         (300, 32, 500_000), (100, 6, 10)]
        let reference = try pytorchTables(cases)
        for (seq, dim, theta) in cases {
            let torch = reference["\(seq)_\(dim)_\(theta)"]!
            var cos = [Float](repeating: 0, count: seq * dim), sin = cos
            recur_f32_rope_tables(&cos, &sin, Int64(seq), Int64(dim), Float(theta))
            let half = dim / 2
            var notCorrectlyRounded = 0, beyondOneUlp = 0, offByOne = 0
            for p in 0..<seq {
                for i in 0..<dim {
                    let angle = Double(torch.freqs[p * half + i % half])
                    let k = p * dim + i
                    if cos[k] != Float(Foundation.cos(angle)) || sin[k] != Float(Foundation.sin(angle)) {
                        notCorrectlyRounded += 1
                    }
                    let d = max(ulpDistance(cos[k], torch.cos[k]), ulpDistance(sin[k], torch.sin[k]))
                    if d > 1 { beyondOneUlp += 1 }
                    if d > 0 { offByOne += 1 }
                }
            }
            let label = "seq \(seq) dim \(dim) theta \(theta)"
            XCTAssertEqual(notCorrectlyRounded, 0, "\(label): entries that are not the rounded cos/sin of PyTorch's angle")
            XCTAssertEqual(beyondOneUlp, 0, "\(label): entries more than 1 ulp from PyTorch")
            XCTAssertLessThan(Double(offByOne), 0.2 * Double(seq * dim), "\(label): most entries equal PyTorch's")
        }
    }

    private struct Tables { var freqs, cos, sin: [Float] }

    private func pytorchTables(_ cases: [(seq: Int, dim: Int, theta: Int)]) throws -> [String: Tables] {
        let dir = try Reference.temporaryDirectory("rope")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Reference.python(["tools/ckernels_rope_reference.py", dir.path] + cases.map { "\($0.seq):\($0.dim):\($0.theta)" })
        func read(_ name: String) throws -> [Float] {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            return data.withUnsafeBytes { raw in
                (0..<data.count / 4).map {
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
                }
            }
        }
        var tables: [String: Tables] = [:]
        for (seq, dim, theta) in cases {
            let key = "\(seq)_\(dim)_\(theta)"
            let t = Tables(freqs: try read("\(key).freqs.f32"), cos: try read("\(key).cos.f32"), sin: try read("\(key).sin.f32"))
            XCTAssertEqual(t.cos.count, seq * dim)
            XCTAssertEqual(t.freqs.count, seq * dim / 2)
            tables[key] = t
        }
        return tables
    }
}
