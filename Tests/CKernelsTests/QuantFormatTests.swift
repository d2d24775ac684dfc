import CKernels
import Foundation
import TestSupport
import XCTest

/// The ggml block formats as Recur reads them: C decoding vs a plain Swift decoding vs the `gguf`
/// Python package (the reference implementation of the file format).
final class QuantFormatTests: XCTestCase {
    private func cDequantize(_ w: QuantWeights) -> [Float] {
        var out = [Float](repeating: .nan, count: w.n * w.k)
        for row in 0..<w.n {
            let status = w.bytes.withUnsafeBytes { bytes in
                out.withUnsafeMutableBufferPointer { o in
                    recur_q_dequantize_row(w.format.type, bytes.baseAddress! + row * w.rowBytes,
                                           o.baseAddress! + row * w.k, Int64(w.k))
                }
            }
            XCTAssertEqual(status, 0)
        }
        return out
    }

    func testSizes() {
        XCTAssertEqual(recur_q_block_bytes(RECUR_Q8_0), 34)
        XCTAssertEqual(recur_q_block_bytes(RECUR_Q4_0), 18)
        XCTAssertEqual(recur_q_block_bytes(RECUR_Q4_1), 20)
        XCTAssertEqual(recur_q_row_bytes(RECUR_Q4_1, 512), 320)
        XCTAssertEqual(recur_q_row_bytes(RECUR_Q8_0, 48), 0)
        XCTAssertEqual(recur_q_block_bytes(recur_qtype(rawValue: 1)), 0)
        // Packed: rows padded to 16; per 16 rows x 32 elements 512 + 64, 256 + 64, 256 + 128 bytes.
        XCTAssertEqual(recur_q_packed_size(RECUR_Q8_0, 17, 64), 2 * 2 * 576)
        XCTAssertEqual(recur_q_packed_size(RECUR_Q4_0, 16, 32), 320)
        XCTAssertEqual(recur_q_packed_size(RECUR_Q4_1, 1, 96), 3 * 384)
        XCTAssertEqual(recur_q_packed_size(RECUR_Q8_0, 4, 40), 0)
    }

    func testDequantizeMatchesPlainDecoding() {
        var rng = QuantRandom(seed: 3)
        for format in QuantFormat.allCases {
            var w = QuantWeights.random(format, n: 5, k: 96, rng: &rng)
            w.setExtremeQuants(rows: [1, 3])
            let got = cDequantize(w)
            for row in 0..<w.n {
                for j in 0..<w.k {
                    XCTAssertEqual(got[row * w.k + j].bitPattern, Float(w.value(row: row, j)).bitPattern,
                                   "\(format) row \(row) element \(j)")
                }
            }
        }
    }

    func testDequantizeMatchesGGUFPackage() throws {
        let dir = try Reference.temporaryDirectory("quant")
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = QuantRandom(seed: 4)
        for format in QuantFormat.allCases {
            var w = QuantWeights.random(format, n: 3, k: 128, rng: &rng)
            w.setExtremeQuants(rows: [0])
            let input = dir.appendingPathComponent("\(format).bin"), output = dir.appendingPathComponent("\(format).f32")
            try Data(w.bytes).write(to: input)
            try Reference.python(["tools/quant_dequantize_reference.py", format.description, input.path, output.path])
            let data = try Data(contentsOf: output)
            let reference: [Float] = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let got = cDequantize(w)
            XCTAssertEqual(reference.count, got.count, "\(format)")
            XCTAssertEqual(bitPatterns(reference), bitPatterns(got), "\(format) differs from gguf's dequantize")
        }
    }
}
