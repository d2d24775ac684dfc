import Foundation
import Runtime
import TestSupport
import XCTest

/// Bad input gives a typed error naming the file and the offset or tensor, never a crash,
/// a hang or a huge allocation.
final class GGUFMalformedTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = try Repo.temporaryDirectory("recur-gguf-malformed")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    // MARK: A small file with a known layout

    /// One metadata pair `k = [1, 2]` (UINT8 array) and one F32 tensor `t` of 32 elements.
    /// Byte offsets, from the GGUF layout:
    ///   0 magic, 4 version, 8 tensor count, 16 pair count,
    ///   24 key length, 32 "k", 33 value type (ARRAY), 37 element type, 41 element count, 49 elements,
    ///   51 tensor name length, 59 "t", 60 dimension count, 64 dimension 0, 72 type, 76 data offset,
    ///   84 end of header, 96 data section (aligned to 32), 224 end of file.
    private enum Layout {
        static let tensorCount = 8, pairCount = 16, keyLength = 24, key = 32, valueType = 33
        static let elementType = 37, elementCount = 41, elements = 49
        static let tensorInfo = 51, dimensionCount = 60, dimension0 = 64, tensorType = 72, dataOffset = 76
        static let fileSize = 224
    }

    private func smallFile() throws -> [UInt8] {
        var writer = GGUFWriter()
        writer.add("k", .array([.uint8(1), .uint8(2)]))
        try writer.addTensor(name: "t", shape: [32], floats: (0..<32).map(Float.init), type: .f32)
        let url = folder.appendingPathComponent("small.gguf")
        try writer.write(to: url.path)
        let bytes = [UInt8](try Data(contentsOf: url))
        // The layout above is what the tests patch; make sure it is still true.
        XCTAssertEqual(bytes.count, Layout.fileSize)
        XCTAssertEqual(read(bytes, at: Layout.dimensionCount, as: UInt32.self), 1)
        XCTAssertEqual(read(bytes, at: Layout.dimension0, as: UInt64.self), 32)
        XCTAssertEqual(read(bytes, at: Layout.elementCount, as: UInt64.self), 2)
        XCTAssertEqual(bytes[Layout.key], UInt8(ascii: "k"))
        XCTAssertEqual(bytes[Layout.tensorInfo + 8], UInt8(ascii: "t"))
        return bytes
    }

    private func read<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as: T.Type) -> T {
        bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    private func patched<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, _ value: T) -> [UInt8] {
        var copy = bytes
        withUnsafeBytes(of: value.littleEndian) { copy.replaceSubrange(offset..<(offset + MemoryLayout<T>.size), with: $0) }
        return copy
    }

    private func open(_ bytes: [UInt8], name: String = "case.gguf") throws -> GGUFFile {
        let url = folder.appendingPathComponent(name)
        try GGUFTestSupport.overwrite(url.path, with: bytes)
        return try GGUFFile(path: url.path)
    }

    /// Asserts that opening `bytes` fails with a GGUFError whose message names the file and
    /// contains every fragment.
    private func assertRejected(_ bytes: [UInt8], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try open(bytes), file: file, line: line) { error in
            XCTAssertTrue(error is GGUFError, "untyped error \(error)", file: file, line: line)
            let message = "\(error)"
            for fragment in fragments + ["case.gguf"] {
                XCTAssertTrue(message.contains(fragment), "'\(fragment)' missing from: \(message)", file: file, line: line)
            }
        }
    }

    // MARK: Header

    func testSmallFileIsValid() throws {
        let file = try open(try smallFile())
        XCTAssertEqual(file.dataOffset, 96)
        XCTAssertEqual(try file.floats("t"), (0..<32).map(Float.init))
    }

    func testBadMagic() throws {
        var bytes = try smallFile()
        bytes[0] = UInt8(ascii: "X")
        assertRejected(bytes, ["magic", "byte offset 0"])
    }

    func testUnsupportedVersions() throws {
        let bytes = try smallFile()
        assertRejected(patched(bytes, at: 4, UInt32(1)), ["version 1", "byte offset 4"])
        assertRejected(patched(bytes, at: 4, UInt32(4)), ["version 4", "byte offset 4"])
        assertRejected(patched(bytes, at: 4, UInt32(3).byteSwapped), ["byte offset 4", "big-endian"])
        // v2 has the same layout and is accepted.
        XCTAssertEqual(try open(patched(bytes, at: 4, UInt32(2))).version, 2)
    }

    func testTruncatedFile() throws {
        let bytes = try smallFile()
        assertRejected(Array(bytes.prefix(51)), ["truncated", "byte offset 51", "tensor name"])
        // A count the rest of the file cannot hold is caught before reading the items.
        assertRejected(Array(bytes.prefix(50)), ["element count of metadata 'k' is 2", "byte offset 41"])
        assertRejected(Array(bytes.prefix(2)), ["truncated", "byte offset 0"])
        assertRejected([], ["truncated", "byte offset 0"])
        assertRejected(Array(bytes.prefix(200)), ["'t'", "128 bytes"])
    }

    func testOversizedCounts() throws {
        let bytes = try smallFile()
        assertRejected(patched(bytes, at: Layout.tensorCount, UInt64(1) << 62), ["tensor count", "byte offset 8"])
        assertRejected(patched(bytes, at: Layout.pairCount, UInt64.max), ["metadata pair count", "byte offset 16"])
        assertRejected(patched(bytes, at: Layout.keyLength, UInt64(1) << 60), ["length of a metadata key", "byte offset 24"])
        assertRejected(patched(bytes, at: Layout.elementCount, UInt64(1) << 40), ["element count", "byte offset 41"])
        assertRejected(patched(bytes, at: Layout.dimensionCount, UInt32(5)), ["'t'", "dimension count 5", "byte offset 60"])
        assertRejected(patched(bytes, at: Layout.dimensionCount, UInt32.max), ["'t'", "dimension count 4294967295"])
        assertRejected(patched(bytes, at: Layout.dimension0, UInt64.max), ["'t'", "byte offset 64", "too large"])
        assertRejected(patched(bytes, at: Layout.dimension0, UInt64(1) << 62), ["'t'", "bytes"])
        assertRejected(patched(bytes, at: Layout.dimension0, UInt64(64)), ["'t'", "256 bytes"])
    }

    func testBadMetadataValues() throws {
        let bytes = try smallFile()
        assertRejected(patched(bytes, at: Layout.valueType, UInt32(13)), ["value type id 13", "byte offset 33"])
        assertRejected(patched(bytes, at: Layout.elementType, UInt32(7)).enumerated().map { $0.offset == Layout.elements + 1 ? 2 : $0.element },
                       ["BOOL with byte 2", "byte offset 50"])
        var badKey = bytes
        badKey[Layout.key] = 0xFF
        assertRejected(badKey, ["UTF-8", "byte offset 24"])
    }

    func testDuplicateKeysAndTensors() throws {
        var writer = GGUFWriter()
        writer.add("a", .uint8(1))
        writer.add("b", .uint8(2))
        try writer.addTensor(name: "x", shape: [1], floats: [1], type: .f32)
        try writer.addTensor(name: "y", shape: [1], floats: [2], type: .f32)
        let url = folder.appendingPathComponent("pairs.gguf")
        try writer.write(to: url.path)
        let bytes = [UInt8](try Data(contentsOf: url))
        // Second key "b" sits after header (24), "a" pair (8 + 1 + 4 + 1) and its own length (8).
        XCTAssertEqual(bytes[46], UInt8(ascii: "b"))
        var keys = bytes
        keys[46] = UInt8(ascii: "a")
        assertRejected(keys, ["duplicate metadata key 'a'", "byte offset 38"])
        // Tensor infos start at 24 + 2 * 14 = 52; each is 8 + 1 + 4 + 8 + 4 + 8 = 33 bytes, so the
        // second starts at 85 and its name "y" is at 93.
        XCTAssertEqual(bytes[93], UInt8(ascii: "y"))
        var tensors = bytes
        tensors[93] = UInt8(ascii: "x")
        assertRejected(tensors, ["'x'", "duplicate tensor name", "byte offset 85"])
    }

    // MARK: Tensor directory

    func testUnknownTensorType() throws {
        let bytes = try smallFile()
        for id: UInt32 in [4, 31, 99, .max] {
            assertRejected(patched(bytes, at: Layout.tensorType, id), ["'t'", "unknown ggml type id \(id)", "byte offset 72"])
        }
    }

    func testMisalignedAndOutOfRangeOffsets() throws {
        let bytes = try smallFile()
        assertRejected(patched(bytes, at: Layout.dataOffset, UInt64(4)), ["'t'", "data offset 4", "alignment 32"])
        assertRejected(patched(bytes, at: Layout.dataOffset, UInt64(32)), ["'t'", "relative offset 32", "128 bytes"])
        assertRejected(patched(bytes, at: Layout.dataOffset, UInt64(1) << 62), ["'t'", "relative offset"])
        assertRejected(patched(bytes, at: Layout.dataOffset, UInt64.max), ["'t'", "too large", "byte offset 76"])
    }

    func testBadAlignmentKey() throws {
        var writer = GGUFWriter(alignment: 64)
        try writer.addTensor(name: "t", shape: [4], floats: [1, 2, 3, 4], type: .f32)
        let url = folder.appendingPathComponent("aligned.gguf")
        try writer.write(to: url.path)
        let bytes = [UInt8](try Data(contentsOf: url))
        // "general.alignment" (17 bytes) pair starts at 24; its UINT32 value is at 24 + 8 + 17 + 4 = 53.
        XCTAssertEqual(read(bytes, at: 53, as: UInt32.self), 64)
        assertRejected(patched(bytes, at: 53, UInt32(48)), ["general.alignment", "power of two", "byte offset 24"])
        assertRejected(patched(bytes, at: 53, UInt32(0)), ["general.alignment"])
        assertRejected(patched(bytes, at: 49, UInt32(0)), ["general.alignment", "UINT8"])
    }

    func testDeeplyNestedArrayIsRefused() throws {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        append(UInt32(0x4655_4747)); append(UInt32(3)); append(UInt64(0)); append(UInt64(1))
        append(UInt64(1)); bytes.append(UInt8(ascii: "n")); append(UInt32(9))
        for _ in 0..<20 { append(UInt32(9)); append(UInt64(1)) }
        append(UInt32(0)); append(UInt64(1)); bytes.append(7)
        assertRejected(bytes, ["nests arrays", "byte offset"])
    }

    func testFileSystemErrors() throws {
        let missing = folder.appendingPathComponent("missing.gguf").path
        XCTAssertThrowsError(try GGUFFile(path: missing)) { XCTAssertTrue("\($0)".contains(missing), "\($0)") }
        XCTAssertThrowsError(try GGUFFile(path: folder.path)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        // A FIFO must be refused, not waited on.
        let fifo = folder.appendingPathComponent("fifo.gguf").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try GGUFFile(path: fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
    }

    // MARK: Fuzz

    /// Every truncation of a valid file either parses (only when the cut falls in the padding
    /// after the last tensor) or throws a GGUFError.
    func testTruncationAtEveryByte() throws {
        let (url, _) = try GGUFTestSupport.sampleFile(in: folder)
        let bytes = [UInt8](try Data(contentsOf: url))
        let whole = try GGUFFile(path: url.path)
        let dataEnd = whole.tensors.map { whole.dataOffset + $0.offset + $0.byteCount }.max()!
        let target = folder.appendingPathComponent("cut.gguf")
        for length in 0..<bytes.count {
            try GGUFTestSupport.overwrite(target.path, with: Array(bytes[0..<length]))
            do {
                let file = try GGUFFile(path: target.path)
                XCTAssertGreaterThanOrEqual(length, dataEnd, "a file cut at \(length) of \(bytes.count) bytes parsed")
                for tensor in file.tensors { _ = try file.floats(tensor.name) }
            } catch let error as GGUFError {
                XCTAssertTrue(error.description.contains(target.path), error.description)
            } catch {
                XCTFail("cut at \(length): untyped error \(error)")
            }
        }
    }

    /// Random byte corruption (deterministic seed) gives a successful parse or a GGUFError,
    /// never a crash, a hang or another error type.
    func testRandomCorruption() throws {
        let (url, _) = try GGUFTestSupport.sampleFile(in: folder)
        let bytes = [UInt8](try Data(contentsOf: url))
        let headerEnd = try GGUFFile(path: url.path).dataOffset
        let target = folder.appendingPathComponent("corrupt.gguf")
        var rng = GGUFTestSupport.SplitMix64(seed: 0xC0FFEE)
        var outcomes = (parsed: 0, rejected: 0)
        for round in 0..<5000 {
            var copy = bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                // Mostly the header, where structure lives; sometimes the data.
                let position = Int.random(in: 0..<100, using: &rng) < 85
                    ? Int.random(in: 0..<headerEnd, using: &rng) : Int.random(in: 0..<copy.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: copy[position] = UInt8.random(in: 0...255, using: &rng)
                case 1: copy[position] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                case 2: copy[position] = 0xFF
                default: copy[position] = 0
                }
            }
            try GGUFTestSupport.overwrite(target.path, with: copy)
            do {
                let file = try GGUFFile(path: target.path)
                for tensor in file.tensors {
                    XCTAssertEqual(file.bytes(tensor).count, tensor.byteCount)
                    _ = try? file.floats(tensor.name)
                }
                outcomes.parsed += 1
            } catch is GGUFError {
                outcomes.rejected += 1
            } catch {
                XCTFail("round \(round): untyped error \(error)")
            }
        }
        // Both outcomes must occur, or the corruption is not exercising anything.
        XCTAssertGreaterThan(outcomes.parsed, 100)
        XCTAssertGreaterThan(outcomes.rejected, 100)
    }
}
