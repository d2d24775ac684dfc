import CKernels
import Foundation
import Runtime
import TestSupport
import XCTest

/// Reading the block types Recur decodes but never writes (Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) and
/// BF16, bit for bit as `gguf.quants.dequantize` does, and refusing malformed K-quant tensors.
final class KQuantTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = try Reference.temporaryDirectory("kquant")
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// Types whose stored bytes the tests fill at random, with each block's fp16 fields (byte
    /// offsets) overwritten by finite halves so the reference never sees NaN or Inf scales.
    private static let randomTypes: [(type: GGMLType, halves: [Int])] = [
        (.q5_0, [0]), (.q5_1, [0, 2]), (.q4_K, [0, 2]), (.q5_K, [0, 2]), (.q6_K, [208]),
    ]

    // MARK: Against the reference

    /// gguf.GGUFWriter writes random blocks in ragged shapes (and every BF16 bit pattern);
    /// Recur's floats must equal gguf.quants.dequantize's bit for bit.
    func testRecurDecodesReferenceFile() throws {
        try Reference.requireGGUF()
        _ = try GGUFTestSupport.runReference("dequantize_reference.py", ["write", folder.path, "5"], expect: "OK")
        let file = try GGUFFile(path: folder.appendingPathComponent("reference.gguf").path)
        let entries = try manifest()
        XCTAssertEqual(file.tensors.map(\.name), entries.map(\.name))
        let covered = Set(entries.map(\.type))
        for (type, _) in Self.randomTypes { XCTAssertTrue(covered.contains(type.name), "no \(type.name) tensor") }
        try assertMatches(file, entries)
    }

    /// Recur's writer stores random K-quant and 5-bit blocks as raw bytes; gguf.GGUFReader reads
    /// the file back and gguf.quants dequantizes it to the bits Recur's own reader gives.
    func testReferenceDecodesRecurFile() throws {
        try Reference.requireGGUF()
        var rng = SplitMix64(seed: 0x4B51)
        var writer = GGUFWriter()
        for (type, halves) in Self.randomTypes {
            let k = type.blockSize == 256 ? [256, 512, 1536] : [32, 160, 1536]
            for (i, shape) in [[3, k[0]], [k[1]], [2, 2, k[2]]].enumerated() {
                let bytes = try Self.randomBlocks(shape: shape, type: type, halves: halves, rng: &rng)
                try writer.addTensor(name: "\(type.name.lowercased()).\(i)", shape: shape, type: type, data: bytes)
            }
        }
        let path = folder.appendingPathComponent("recur.gguf").path
        try writer.write(to: path)
        _ = try GGUFTestSupport.runReference("dequantize_reference.py", ["read", path, folder.path], expect: "OK")
        let file = try GGUFFile(path: path)
        let entries = try manifest()
        XCTAssertEqual(entries.count, Self.randomTypes.count * 3)
        try assertMatches(file, entries)
    }

    private struct Entry {
        let name: String
        let shape: [Int]
        let type: String
        let dequantized: URL
    }

    private func manifest() throws -> [Entry] {
        let data = try Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let tensors = try XCTUnwrap(root["tensors"] as? [[String: Any]])
        return try tensors.map {
            Entry(
                name: try XCTUnwrap($0["name"] as? String), shape: try XCTUnwrap($0["shape"] as? [Int]),
                type: try XCTUnwrap($0["type"] as? String),
                dequantized: folder.appendingPathComponent(try XCTUnwrap($0["dequantized"] as? String)))
        }
    }

    private func assertMatches(_ file: GGUFFile, _ entries: [Entry]) throws {
        for entry in entries {
            let info = try XCTUnwrap(file.tensor(entry.name), entry.name)
            XCTAssertEqual(info.shape, entry.shape, entry.name)
            XCTAssertEqual(info.type.name, entry.type, entry.name)
            let expected = try GGUFTestSupport.readFloats(entry.dequantized)
            let got = try file.floats(entry.name)
            XCTAssertEqual(got.count, info.elementCount, entry.name)
            XCTAssertEqual(got.count, expected.count, entry.name)
            if let i = got.indices.first(where: { i in i < expected.count && got[i].bitPattern != expected[i].bitPattern }) {
                XCTFail("\(entry.name) (\(entry.type)): element \(i) is \(got[i]) (0x\(String(got[i].bitPattern, radix: 16))), "
                    + "the reference has \(expected[i]) (0x\(String(expected[i].bitPattern, radix: 16)))")
            }
            // The row dequantizer the runtime calls must agree row by row with the whole-tensor path.
            if GGMLBlocks.decodable(info.type), !info.type.isPlain {
                let bytes = file.bytes(info)
                let rowBytes = try info.type.rowBytes(info.rowLength)
                var row = [Float](repeating: .nan, count: info.rowLength)
                for r in 0..<(info.elementCount / info.rowLength) {
                    let status = row.withUnsafeMutableBufferPointer {
                        recur_kq_dequantize_row(Int32(info.type.rawValue), bytes.baseAddress! + r * rowBytes, $0.baseAddress, Int64(info.rowLength))
                    }
                    XCTAssertEqual(status, 0, entry.name)
                    let slice = expected[(r * info.rowLength)..<((r + 1) * info.rowLength)]
                    XCTAssertTrue(row.map(\.bitPattern) == slice.map(\.bitPattern), "\(entry.name) row \(r)")
                }
            }
        }
    }

    /// Random bytes for a tensor, with finite random halves at each block's `halves` offsets.
    static func randomBlocks(shape: [Int], type: GGMLType, halves: [Int], rng: inout SplitMix64) throws -> [UInt8] {
        let count = shape.reduce(1, *)
        var bytes = (0..<(try type.rowBytes(count))).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for block in 0..<(count / type.blockSize) {
            for offset in halves {
                // Exponent 0...30: zeros, subnormals and normals of both signs, never Inf or NaN.
                let half = UInt16.random(in: 0...1, using: &rng) << 15 | UInt16.random(in: 0...30, using: &rng) << 10
                    | UInt16.random(in: 0...1023, using: &rng)
                bytes[block * type.blockBytes + offset] = UInt8(half & 0xFF)
                bytes[block * type.blockBytes + offset + 1] = UInt8(half >> 8)
            }
        }
        return bytes
    }

    // MARK: Without the reference

    /// The C table agrees with GGMLType's, and Q8_0, Q4_0, Q4_1 rows through the C entry point
    /// equal the Swift decoders (which the interop tests hold to the reference).
    func testRowDequantizerTableAndLegacyTypes() throws {
        for type in GGMLType.allCases {
            let handled = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K].contains(type)
            let id = Int32(type.rawValue)
            XCTAssertEqual(recur_kq_block_bytes(id), handled ? type.blockBytes : 0, type.name)
            XCTAssertEqual(recur_kq_block_elements(id), handled ? Int64(type.blockSize) : 0, type.name)
        }
        for id: Int32 in [-1, 99, 1 << 20] {
            XCTAssertEqual(recur_kq_block_bytes(id), 0)
            XCTAssertEqual(recur_kq_block_elements(id), 0)
        }
        var rng = SplitMix64(seed: 77)
        for (type, halves) in [(GGMLType.q8_0, [0]), (.q4_0, [0]), (.q4_1, [0, 2])] {
            let bytes = try Self.randomBlocks(shape: [96], type: type, halves: halves, rng: &rng)
            var out = [Float](repeating: .nan, count: 96)
            let status = bytes.withUnsafeBytes { src in
                out.withUnsafeMutableBufferPointer { recur_kq_dequantize_row(Int32(type.rawValue), src.baseAddress, $0.baseAddress, 96) }
            }
            XCTAssertEqual(status, 0, type.name)
            XCTAssertEqual(out.map(\.bitPattern), try GGMLBlocks.decode(bytes, as: type).map(\.bitPattern), type.name)
        }
    }

    /// Unknown types and lengths that are not whole blocks are refused without touching the output.
    func testRowDequantizerRefusals() {
        var out = [Float](repeating: 7, count: 512)
        let row = [UInt8](repeating: 0x55, count: 2 * 210)
        row.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (type, k) in [(GGMLType.q4_K, Int64(100)), (.q6_K, 255), (.q5_K, -256), (.q5_0, 33), (.q2_K, 256), (.f32, 4)] {
                    XCTAssertEqual(recur_kq_dequantize_row(Int32(type.rawValue), src.baseAddress, dst.baseAddress, k), -1, "\(type.name) k=\(k)")
                }
                XCTAssertEqual(recur_kq_dequantize_row(99, src.baseAddress, dst.baseAddress, 256), -1)
                XCTAssertEqual(recur_kq_dequantize_row(Int32(GGMLType.q4_K.rawValue), nil, nil, 0), 0)
            }
        }
        XCTAssertTrue(out.allSatisfy { $0 == 7 })
    }

    /// Hand-checked values: one block of each K-quant whose fields make every step visible.
    func testKnownBlocks() throws {
        // Q4_K: d = 1, dmin = 0.5; 6-bit scales and mins large enough that those of sub-blocks
        // 4..7 use the top bits of bytes 0..7 as well as the nibbles of bytes 8..11; all nibbles
        // are 3 (low, even sub-blocks) and 5 (high, odd sub-blocks).
        var q4 = [UInt8](repeating: 0, count: 144)
        q4[0] = 0x00; q4[1] = 0x3C  // 1.0
        q4[2] = 0x00; q4[3] = 0x38  // 0.5
        let sc: [UInt8] = [1, 10, 19, 28, 37, 46, 55, 63], mn: [UInt8] = [0, 9, 17, 26, 35, 44, 52, 61]
        for j in 0..<4 {
            q4[4 + j] = sc[j] | (sc[j + 4] >> 4) << 6
            q4[8 + j] = mn[j] | (mn[j + 4] >> 4) << 6
            q4[12 + j] = (sc[j + 4] & 0x0F) | (mn[j + 4] & 0x0F) << 4
        }
        for i in 16..<144 { q4[i] = 0x53 }
        let v4 = try GGMLBlocks.decode(q4, as: .q4_K)
        for j in 0..<8 {
            let q: Float = j % 2 == 0 ? 3 : 5
            XCTAssertEqual(v4[32 * j], Float(sc[j]) * q - 0.5 * Float(mn[j]), "Q4_K sub-block \(j)")
        }

        // Q6_K: d = 0.25, scale of sub-block s is s - 8; ql = 0x21 and qh = 0b11_10_01_00 make the
        // four 32-element runs of each 128 (low nibble, low nibble 32 on, then the high nibbles,
        // with qh bit pairs 0..3 on top) 1, 1 + 16, 2 + 32, 2 + 48 before subtracting 32.
        var q6 = [UInt8](repeating: 0, count: 210)
        for i in 0..<128 { q6[i] = 0x21 }
        for i in 128..<192 { q6[i] = 0b1110_0100 }
        for s in 0..<16 { q6[192 + s] = UInt8(bitPattern: Int8(s - 8)) }
        q6[208] = 0x00; q6[209] = 0x34  // 0.25
        let v6 = try GGMLBlocks.decode(q6, as: .q6_K)
        let runs: [Float] = [1 - 32, 17 - 32, 34 - 32, 50 - 32]
        for e in stride(from: 0, to: 256, by: 16) {
            let half = e / 128, run = (e % 128) / 32, sub = 8 * half + 2 * run + (e % 32) / 16
            XCTAssertEqual(v6[e], 0.25 * Float(sub - 8) * runs[run], "Q6_K element \(e)")
        }
    }

    // MARK: Refusals through the file reader

    /// A Q4_K tensor whose row is not whole 256-element blocks, or whose bytes do not match its
    /// shape, is refused with an error naming the tensor, by the writer, the reader and decode.
    func testMalformedQ4_KTensors() throws {
        var writer = GGUFWriter()
        XCTAssertThrowsError(try writer.addTensor(name: "cols100", shape: [2, 100], type: .q4_K, data: [UInt8](repeating: 0, count: 144))) {
            XCTAssertTrue("\($0)".contains("'cols100'") && "\($0)".contains("100") && "\($0)".contains("256"), "\($0)")
        }
        XCTAssertThrowsError(try writer.addTensor(name: "short", shape: [2, 256], type: .q4_K, data: [UInt8](repeating: 0, count: 287))) {
            XCTAssertTrue("\($0)".contains("'short'") && "\($0)".contains("288"), "\($0)")
        }
        XCTAssertThrowsError(try GGMLBlocks.decode([UInt8](repeating: 0, count: 143), as: .q4_K)) {
            XCTAssertTrue("\($0)".contains("Q4_K") && "\($0)".contains("144"), "\($0)")
        }

        // A valid file, then its header edited so the tensor claims 100 columns, or more rows
        // than the file holds bytes for.
        var rng = SplitMix64(seed: 100)
        var good = GGUFWriter()
        try good.addTensor(name: "k.weight", shape: [2, 256], type: .q4_K,
                           data: try Self.randomBlocks(shape: [2, 256], type: .q4_K, halves: [0, 2], rng: &rng))
        let path = folder.appendingPathComponent("good.gguf").path
        try good.write(to: path)
        XCTAssertEqual(try GGUFFile(path: path).floats("k.weight").count, 512)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let name = Array("k.weight".utf8)
        let at = try XCTUnwrap((0...(bytes.count - name.count)).first { Array(bytes[$0..<($0 + name.count)]) == name })
        let ne0 = at + name.count + 4, ne1 = ne0 + 8  // after the name: u32 dimension count, then u64 dims
        XCTAssertEqual(bytes[ne0..<(ne0 + 2)], [0x00, 0x01])  // 256, little-endian

        for (label, offset, value, fragments) in [
            ("cols", ne0, 100, ["100", "256", "Q4_K"]),
            ("rows", ne1, 3, ["k.weight"]),
        ] {
            var edited = bytes
            edited[offset] = UInt8(value); edited[offset + 1] = 0
            let target = folder.appendingPathComponent("\(label).gguf").path
            try GGUFTestSupport.overwrite(target, with: edited)
            XCTAssertThrowsError(try GGUFFile(path: target).floats("k.weight"), label) { error in
                XCTAssertTrue(error is GGUFError, "\(label): \(type(of: error))")
                for fragment in fragments + ["'k.weight'"] {
                    XCTAssertTrue("\(error)".contains(fragment), "\(label): '\(fragment)' missing from \(error)")
                }
            }
        }
    }

    /// Types Recur still cannot decode are named, with the list of those it can.
    func testUnsupportedTypeIsNamed() throws {
        var writer = GGUFWriter()
        try writer.addTensor(name: "q2", shape: [256], type: .q2_K, data: [UInt8](repeating: 0, count: GGMLType.q2_K.blockBytes))
        let path = folder.appendingPathComponent("q2.gguf").path
        try writer.write(to: path)
        XCTAssertThrowsError(try GGUFFile(path: path).floats("q2")) { error in
            XCTAssertTrue(error is GGUFError, "\(type(of: error))")
            for fragment in ["'q2'", "Q2_K", "Q4_K", "Q6_K", "Q5_1"] {
                XCTAssertTrue("\(error)".contains(fragment), "'\(fragment)' missing from \(error)")
            }
        }
        // Decoding more types does not widen what Recur writes.
        XCTAssertFalse(GGMLBlocks.supports(.q4_K))
        XCTAssertTrue(GGMLBlocks.decodable(.q4_K))
        XCTAssertThrowsError(try GGMLBlocks.encode([Float](repeating: 0, count: 256), as: .q5_K)) {
            XCTAssertTrue("\($0)".contains("Q5_K") && !"\($0)".contains("Q6_K"), "\($0)")
        }
    }
}
