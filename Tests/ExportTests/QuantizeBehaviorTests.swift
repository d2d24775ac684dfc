import Export
import Foundation
import Runtime
import TestSupport
import XCTest

/// The quantizer facade without the Python reference: refusals, sizes and error bounds.
final class QuantizeBehaviorTests: XCTestCase {
    func testSizesAndRefusals() throws {
        XCTAssertEqual(Quantizer.supportedTypes, [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1])
        XCTAssertEqual(try Quantizer.byteCount(elements: 64, as: .q8_0), 68)
        XCTAssertEqual(try Quantizer.byteCount(elements: 64, as: .q4_0), 36)
        XCTAssertEqual(try Quantizer.byteCount(elements: 64, as: .q4_1), 40)
        XCTAssertEqual(try Quantizer.byteCount(elements: 3, as: .bf16), 6)
        XCTAssertThrowsError(try Quantizer.quantize([Float](repeating: 1, count: 40), as: .q4_0)) {
            XCTAssertTrue("\($0)".contains("40") && "\($0)".contains("Q4_0"), "\($0)")
        }
        XCTAssertThrowsError(try Quantizer.quantize([Float](repeating: 1, count: 256), as: .q6_K)) {
            XCTAssertTrue("\($0)".contains("Q6_K"), "\($0)")
        }
        XCTAssertThrowsError(try Quantizer.dequantize([UInt8](repeating: 0, count: 35), from: .q8_0)) {
            XCTAssertTrue("\($0)".contains("Q8_0"), "\($0)")
        }
        let values = [Float](repeating: 1, count: 32)
        var small = [UInt8](repeating: 0, count: 10)
        try values.withUnsafeBufferPointer { src in
            try small.withUnsafeMutableBytes { dst in
                XCTAssertThrowsError(try Quantizer.quantize(src, as: .q8_0, into: dst)) {
                    XCTAssertTrue("\($0)".contains("34"), "\($0)")
                }
            }
        }
    }

    /// Round-trip error stays within what each format's step size allows.
    func testRoundTripErrorBounds() throws {
        var rng = SplitMix64(seed: 3)
        let values = (0..<(32 * 512)).map { _ in rng.normal() }
        let cases: [(GGMLType, Float)] = [(.f32, 0), (.f16, 1.0 / 1024), (.bf16, 1.0 / 128), (.q8_0, 1.0 / 127), (.q4_0, 1.0 / 8), (.q4_1, 1.0 / 15)]
        for (type, relative) in cases {
            let decoded = try Quantizer.dequantize(try Quantizer.quantize(values, as: type), from: type)
            for block in 0..<(values.count / 32) {
                let range = (block * 32)..<(block * 32 + 32)
                let scale = values[range].map(\.magnitude).max()!
                for i in range {
                    let error = abs(decoded[i] - values[i])
                    let bound: Float = type.isPlain ? relative * values[i].magnitude : relative * scale * 1.01 + 1e-6
                    XCTAssertLessThanOrEqual(error, bound, "\(type.name) element \(i)")
                }
            }
        }
    }

    /// Quantizing a few million weights should take well under a second in a release build; this
    /// prints the rate (benchmarks print numbers, they do not assert on time).
    func testThroughputReport() throws {
        var rng = SplitMix64(seed: 8)
        let values = (0..<(1 << 20)).map { _ in Float.random(in: -1...1, using: &rng) }
        for type in [GGMLType.f16, .bf16, .q8_0, .q4_0, .q4_1] {
            let start = Date()
            let bytes = try Quantizer.quantize(values, as: type)
            let seconds = Date().timeIntervalSince(start)
            XCTAssertEqual(bytes.count, try Quantizer.byteCount(elements: values.count, as: type))
            print("quantize \(type.name): \(Int(Double(values.count) / seconds / 1e6)) M elements/s")
        }
    }
}
