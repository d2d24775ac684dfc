import Export
import Foundation
import Runtime
import TestSupport
import XCTest

/// Recur's quantizers must produce the very bytes `gguf.quants.quantize` produces, and decode
/// them to the very floats `gguf.quants.dequantize` returns, edge cases included.
final class QuantizeIdentityTests: XCTestCase {
    private var folder: URL!
    private static let columns = 256

    override func setUpWithError() throws {
        try Reference.requireGGUF()
        folder = try Reference.temporaryDirectory("quantize")
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    func testRandomAndEdgeCaseBlocksMatchReference() throws {
        var rng = SplitMix64(seed: 20_240_601)
        var blocks = Self.edgeCaseBlocks(&rng)
        // Ragged: neither the rows (a multiple of 16 in NumPy's grouping) nor the edge cases line up.
        for _ in 0..<(53 * 8) {
            let scale = Float(pow(10, Double.random(in: -3...2, using: &rng)))
            blocks.append((0..<32).map { _ in rng.normal() * scale })
        }
        while blocks.count % (Self.columns / 32) != 0 { blocks.append((0..<32).map { _ in rng.normal() }) }
        try assertMatchesReference(blocks.flatMap { $0 }, types: [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1])
    }

    /// Infinities and NaNs: no exporter should feed them in, but if one does the bytes still match.
    func testNonFiniteBlocksMatchReference() throws {
        var rng = SplitMix64(seed: 99)
        var blocks: [[Float]] = []
        for special in [Float.infinity, -Float.infinity, Float.nan] {
            for position in [0, 5, 31] {
                var block = (0..<32).map { _ in rng.normal() }
                block[position] = special
                blocks.append(block)
            }
        }
        blocks.append([Float](repeating: .nan, count: 32))
        blocks.append([Float](repeating: .infinity, count: 32))
        blocks.append((0..<32).map { $0 % 2 == 0 ? Float.infinity : -Float.infinity })
        while blocks.count % 8 != 0 { blocks.append([Float](repeating: 0, count: 32)) }
        try assertMatchesReference(blocks.flatMap { $0 }, types: [.f16, .bf16, .q8_0, .q4_0, .q4_1])
    }

    /// F16 and BF16 rounding over every sign/exponent/high-mantissa combination, with low bits
    /// at and around each rounding boundary (ties to even, carries into the exponent, subnormals).
    func testHalfAndBFloatRoundingSweepMatchesReference() throws {
        let lows: [UInt32] = [0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x2000, 0x3000, 0x5FFF, 0x7FFF, 0x8000, 0x8001, 0xE000, 0xF000, 0xFFFF]
        var values: [Float] = []
        values.reserveCapacity(65536 * lows.count)
        for high in UInt32(0)...0xFFFF {
            for low in lows { values.append(Float(bitPattern: high << 16 | low)) }
        }
        try assertMatchesReference(values, types: [.f16, .bf16])
    }

    /// Decoding arbitrary bytes (every half bit pattern; blocks with random scales, including
    /// subnormal, infinite and NaN scales) matches gguf.quants.dequantize bit for bit.
    func testDequantizeArbitraryBytesMatchesReference() throws {
        var everyHalf: [UInt8] = []
        for h in 0...0xFFFF { everyHalf += [UInt8(h & 0xFF), UInt8(h >> 8)] }
        var rng = SplitMix64(seed: 5)
        var cases: [(GGMLType, [UInt8])] = [(.f16, everyHalf), (.bf16, everyHalf)]
        for type in [GGMLType.q8_0, .q4_0, .q4_1] {
            cases.append((type, (0..<(type.blockBytes * 4096)).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        }
        for (type, bytes) in cases {
            let input = folder.appendingPathComponent("\(type.name).raw")
            let output = folder.appendingPathComponent("\(type.name).ref.f32")
            try QuantizeReference.write(bytes, to: input)
            try QuantizeReference.quantReference(["dequantize", input.path, type.name, output.path])
            let expected = try QuantizeReference.readFloats(output)
            let got = try Quantizer.dequantize(bytes, from: type)
            XCTAssertEqual(got.count, expected.count, type.name)
            if let i = firstMismatch(got.map(\.bitPattern), expected.map(\.bitPattern)) {
                XCTFail("\(type.name): element \(i) decodes to \(got[i]) (0x\(String(got[i].bitPattern, radix: 16))), "
                    + "reference \(expected[i]) (0x\(String(expected[i].bitPattern, radix: 16)))")
            }
        }
    }

    // MARK: Helpers

    private func firstMismatch<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
        (0..<min(a.count, b.count)).first { a[$0] != b[$0] }
    }

    private func assertMatchesReference(_ values: [Float], types: [GGMLType], file: StaticString = #filePath, line: UInt = #line) throws {
        let input = folder.appendingPathComponent("input.f32")
        try QuantizeReference.write(values, to: input)
        try QuantizeReference.quantReference(["quantize", input.path, "\(Self.columns)", folder.path] + types.map(\.name))
        for type in types {
            let expected = try QuantizeReference.readBytes(folder.appendingPathComponent("\(type.name).bin"))
            let got = try Quantizer.quantize(values, as: type)
            XCTAssertEqual(got.count, expected.count, type.name, file: file, line: line)
            if let i = firstMismatch(got, expected) {
                let block = i / type.blockBytes
                let start = block * type.blockSize
                let inputs = values[start..<(start + type.blockSize)].map { "\($0)" }.joined(separator: ", ")
                let ours = got[(block * type.blockBytes)..<((block + 1) * type.blockBytes)]
                let theirs = expected[(block * type.blockBytes)..<((block + 1) * type.blockBytes)]
                XCTFail("\(type.name): byte \(i) (block \(block)) differs: Recur \(Array(ours)) vs gguf \(Array(theirs)); input [\(inputs)]",
                        file: file, line: line)
            }
            let expectedFloats = try QuantizeReference.readFloats(folder.appendingPathComponent("\(type.name).deq.f32"))
            let decoded = try Quantizer.dequantize(expected, from: type)
            if let i = firstMismatch(decoded.map(\.bitPattern), expectedFloats.map(\.bitPattern)) {
                XCTFail("\(type.name): dequantized element \(i) is \(decoded[i]), reference \(expectedFloats[i])", file: file, line: line)
            }
        }
    }

    /// Blocks chosen to hit each branch of the reference arithmetic.
    static func edgeCaseBlocks(_ rng: inout SplitMix64) -> [[Float]] {
        var blocks: [[Float]] = []
        func random(_ scale: Float = 1) -> [Float] { (0..<32).map { _ in rng.normal() * scale } }

        // Zeros, signed zeros in several patterns (which zero wins min/max decides Q4_1's sign bit).
        blocks.append([Float](repeating: 0, count: 32))
        blocks.append([Float](repeating: -0.0, count: 32))
        for _ in 0..<6 { blocks.append((0..<32).map { _ in Bool.random(using: &rng) ? 0.0 : -0.0 }) }
        for _ in 0..<4 {
            blocks.append((0..<32).map { _ in [Float(0), -0.0, 0.25].randomElement(using: &rng)! })
            blocks.append((0..<32).map { _ in [Float(0), -0.0, -0.25].randomElement(using: &rng)! })
        }
        // One big outlier, positive or negative, at the start, middle and end.
        for position in [0, 17, 31] {
            for outlier: Float in [1e4, -1e4] {
                var block = random()
                block[position] = outlier
                blocks.append(block)
            }
        }
        // Ties at .5 after scaling. Q8_0: amax 127 (or 254) gives d = 1 (or 2) exactly.
        blocks.append([127] + (0..<31).map { Float($0 - 15) + 0.5 })
        blocks.append([-127] + (0..<31).map { -(Float($0) * 4 + 0.5) })
        blocks.append([254] + (0..<31).map { Float(2 * $0 - 31) })
        // Q4_0: a largest value of -8 gives d = 1 and x + 8.5 lands on integers and halves.
        blocks.append([-8] + (0..<31).map { Float($0) * 0.5 - 7.5 })
        blocks.append([8] + (0..<31).map { -Float($0) * 0.5 + 7.5 })
        // Q4_1: min 0 and max 15 give d = 1.
        blocks.append([0, 15] + (0..<30).map { Float($0 % 15) + 0.5 })
        blocks.append([-7.5, 7.5] + (0..<30).map { Float($0 % 15) - 7 })
        // Negative maxima, and equal magnitudes of both signs in both orders (argmax takes the first).
        var negative = random()
        negative[9] = -6
        blocks.append(negative.map { $0.magnitude > 5.9 ? $0 : $0 * 0.5 })
        blocks.append([3, -3] + (0..<30).map { _ in Float.random(in: -2...2, using: &rng) })
        blocks.append([-3, 3] + (0..<30).map { _ in Float.random(in: -2...2, using: &rng) })
        blocks.append((0..<32).map { _ in -Float.random(in: 0.1...5, using: &rng) })
        // Denormal-small: subnormals, subnormals with zeros, tiny normals whose scale overflows 1/d.
        for _ in 0..<3 {
            blocks.append((0..<32).map { _ in
                let v = Float(bitPattern: UInt32.random(in: 1...0x7F_FFFF, using: &rng))
                return Bool.random(using: &rng) ? v : -v
            })
        }
        blocks.append((0..<32).map { $0 % 3 == 0 ? 0 : Float(bitPattern: UInt32($0 * 1000)) })
        blocks.append([Float.leastNonzeroMagnitude] + [Float](repeating: 0, count: 31))
        blocks.append([-Float.leastNonzeroMagnitude] + [Float](repeating: 0, count: 31))
        for magnitude: Float in [1e-38, 1e-37, 4e-37, 1e-36, 1e-30] {
            blocks.append((0..<32).map { _ in rng.normal() * magnitude })
            blocks.append((0..<32).map { $0 % 4 == 0 ? 0 : rng.normal() * magnitude })
        }
        // Large: half-precision scale overflow, float32 range overflow in max - min.
        blocks.append(random(1e5))
        blocks.append(random(65504))
        blocks.append([3e38, -3e38] + random(1e37).dropLast(2))
        blocks.append([Float.greatestFiniteMagnitude] + random(1).dropLast())
        blocks.append([-Float.greatestFiniteMagnitude, Float.greatestFiniteMagnitude] + random(1).dropLast(2))
        // Constant blocks (Q4_1 range 0).
        blocks.append([Float](repeating: 0.7, count: 32))
        blocks.append([Float](repeating: -3, count: 32))
        return blocks
    }
}
