import Foundation
import Runtime
import TestSupport
import XCTest

/// Recur writes a file and reads it back: metadata, shapes, types, offsets and values survive,
/// and the writer refuses what a GGUF file cannot hold without leaving files behind.
final class GGUFRoundTripTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = try Repo.temporaryDirectory("recur-gguf-roundtrip")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func testMetadataAndTensorsRoundTrip() throws {
        for alignment in [32, 64, 8] {
            var writer = GGUFWriter(alignment: alignment)
            for (key, value) in GGUFTestSupport.everyValueType { writer.add(key, value) }
            var rng = GGUFTestSupport.SplitMix64(seed: UInt64(alignment))
            var source: [String: [Float]] = [:]
            for tensor in GGUFTestSupport.sampleTensors {
                let values = GGUFTestSupport.randomFloats(tensor.shape.reduce(1, *), scale: 2, rng: &rng)
                try writer.addTensor(name: tensor.name, shape: tensor.shape, floats: values, type: tensor.type)
                source[tensor.name] = values
            }
            let raw: [UInt8] = (0..<40).map { UInt8($0) }
            try writer.addTensor(name: "raw.i8", shape: [5, 8], type: .i8, data: raw)
            let path = folder.appendingPathComponent("roundtrip-\(alignment).gguf").path
            try writer.write(to: path)

            let file = try GGUFFile(path: path)
            XCTAssertEqual(file.version, 3)
            XCTAssertEqual(file.alignment, alignment)
            XCTAssertEqual(file.dataOffset % alignment, 0)
            var expectedKeys = GGUFTestSupport.everyValueType.map(\.0)
            if alignment != 32 { expectedKeys.append("general.alignment") }
            XCTAssertEqual(file.metadata.map(\.key), expectedKeys)
            for (key, value) in GGUFTestSupport.everyValueType {
                let read = try XCTUnwrap(file.value(key), key)
                XCTAssertTrue(GGUFTestSupport.sameBits(read, value), "\(key): \(read) != \(value)")
            }
            XCTAssertEqual(file.value("general.alignment")?.int, alignment == 32 ? nil : alignment)

            XCTAssertEqual(file.tensors.map(\.name), GGUFTestSupport.sampleTensors.map(\.name) + ["raw.i8"])
            for tensor in GGUFTestSupport.sampleTensors {
                let info = try XCTUnwrap(file.tensor(tensor.name))
                XCTAssertEqual(info.shape, tensor.shape)
                XCTAssertEqual(info.ne, tensor.shape.reversed())
                XCTAssertEqual(info.type, tensor.type)
                XCTAssertEqual(info.offset % alignment, 0)
                XCTAssertEqual(info.byteCount, try tensor.type.rowBytes(tensor.shape.last!) * info.elementCount / tensor.shape.last!)
                let values = try file.floats(tensor.name)
                let original = try XCTUnwrap(source[tensor.name])
                // The file must hold exactly what the codec produces, and decode to what it decodes.
                let encoded = try GGMLBlocks.encode(original, as: tensor.type)
                XCTAssertEqual(Array(file.bytes(info)), encoded, tensor.name)
                XCTAssertEqual(values.map(\.bitPattern), try GGMLBlocks.decode(encoded, as: tensor.type).map(\.bitPattern))
                let tolerance: Float = [.f32: 0, .f16: 2e-3, .bf16: 1.6e-2, .q8_0: 8e-3, .q4_0: 0.15, .q4_1: 0.08][tensor.type]!
                let scale = original.map(\.magnitude).max()!
                for (got, want) in zip(values, original) {
                    XCTAssertLessThanOrEqual(abs(got - want), tolerance * scale, "\(tensor.name)")
                }
            }
            let rawInfo = try XCTUnwrap(file.tensor("raw.i8"))
            XCTAssertEqual(Array(file.bytes(rawInfo)), raw)
            XCTAssertThrowsError(try file.floats("raw.i8")) { error in
                XCTAssertTrue("\(error)".contains("raw.i8") && "\(error)".contains("I8"), "\(error)")
            }
            XCTAssertThrowsError(try file.floats("no.such")) { error in
                XCTAssertTrue("\(error)".contains("no.such"), "\(error)")
            }
        }
    }

    func testEmptyFileWithoutTensorsOrMetadata() throws {
        let path = folder.appendingPathComponent("empty.gguf").path
        try GGUFWriter().write(to: path)
        let file = try GGUFFile(path: path)
        XCTAssertTrue(file.metadata.isEmpty)
        XCTAssertTrue(file.tensors.isEmpty)
        XCTAssertNil(file.value("x"))
    }

    func testZeroSizedTensorAndForeignInfo() throws {
        var writer = GGUFWriter()
        try writer.addTensor(name: "empty", shape: [0, 32], floats: [], type: .q8_0)
        try writer.addTensor(name: "one", shape: [1], floats: [3], type: .f32)
        let path = folder.appendingPathComponent("zero.gguf").path
        try writer.write(to: path)
        let file = try GGUFFile(path: path)
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(try file.floats("one"), [3])
        // An info that does not describe this file yields no bytes instead of reading past the mapping.
        let foreign = GGUFTensorInfo(name: "x", shape: [1 << 30], type: .f32, offset: 0, byteCount: 4 << 30)
        XCTAssertEqual(file.bytes(foreign).count, 0)
    }

    func testTypeTableAndValueAccessors() throws {
        XCTAssertEqual(GGMLType.q8_0.name, "Q8_0")
        XCTAssertEqual(GGMLType(name: "q4_1"), .q4_1)
        XCTAssertEqual(GGMLType.q4_0.blockSize, 32)
        XCTAssertEqual(GGMLType.q4_0.blockBytes, 18)
        XCTAssertEqual(try GGMLType.q4_1.rowBytes(64), 40)
        XCTAssertEqual(try GGMLType.f16.rowBytes(3), 6)
        XCTAssertThrowsError(try GGMLType.q8_0.rowBytes(33)) { XCTAssertTrue("\($0)".contains("33")) }
        XCTAssertEqual(Set(GGMLType.allCases.map(\.name)).count, GGMLType.allCases.count)

        XCTAssertEqual(GGUFValue.uint8(7).int, 7)
        XCTAssertEqual(GGUFValue.int64(-3).int, -3)
        XCTAssertNil(GGUFValue.uint64(.max).int)
        XCTAssertNil(GGUFValue.float32(1).int)
        XCTAssertEqual(GGUFValue.float32(0.5).double, 0.5)
        XCTAssertEqual(GGUFValue.uint32(9).double, 9)
        XCTAssertEqual(GGUFValue.uint64(.max).double, Double(UInt64.max))
        XCTAssertEqual(GGUFValue.string("s").string, "s")
        XCTAssertNil(GGUFValue.string("s").int)
        XCTAssertEqual(GGUFValue.bool(true).bool, true)
        XCTAssertNil(GGUFValue.int8(1).bool)
        XCTAssertEqual(GGUFValue.array([.int8(1)]).array, [.int8(1)])
    }

    // MARK: Writer refusals

    /// Every refused write must name the problem and leave the folder exactly as it was.
    private func assertWriteFails(_ writer: GGUFWriter, mentioning text: String, file: StaticString = #filePath, line: UInt = #line) {
        let path = folder.appendingPathComponent("refused.gguf").path
        XCTAssertThrowsError(try writer.write(to: path), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(text), "\(error)", file: file, line: line)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [], file: file, line: line)
    }

    func testWriterRefusesBadMetadata() throws {
        var duplicate = GGUFWriter()
        duplicate.add("a.key", .uint8(1))
        duplicate.add("a.key", .uint8(2))
        assertWriteFails(duplicate, mentioning: "duplicate metadata key 'a.key'")

        var mixed = GGUFWriter()
        mixed.add("mixed", .array([.uint8(1), .int8(1)]))
        assertWriteFails(mixed, mentioning: "mixed")

        var alignment = GGUFWriter(alignment: 64)
        alignment.add("general.alignment", .uint32(32))
        assertWriteFails(alignment, mentioning: "general.alignment")

        assertWriteFails(GGUFWriter(alignment: 48), mentioning: "alignment 48")

        var deep: GGUFValue = .uint8(0)
        for _ in 0..<10 { deep = .array([deep]) }
        var nested = GGUFWriter()
        nested.add("deep", deep)
        assertWriteFails(nested, mentioning: "deep")
    }

    func testWriterRefusesBadTensors() throws {
        var writer = GGUFWriter()
        XCTAssertThrowsError(try writer.addTensor(name: "q", shape: [2, 33], floats: .init(repeating: 0, count: 66), type: .q8_0)) {
            XCTAssertTrue("\($0)".contains("'q'") && "\($0)".contains("33"), "\($0)")
        }
        XCTAssertThrowsError(try writer.addTensor(name: "n", shape: [4], floats: [1, 2, 3], type: .f32)) {
            XCTAssertTrue("\($0)".contains("'n'"), "\($0)")
        }
        XCTAssertThrowsError(try writer.addTensor(name: "d", shape: [32], type: .q4_0, data: [0])) {
            XCTAssertTrue("\($0)".contains("'d'") && "\($0)".contains("18"), "\($0)")
        }
        XCTAssertThrowsError(try writer.addTensor(name: "k", shape: [256], floats: .init(repeating: 0, count: 256), type: .q4_K)) {
            XCTAssertTrue("\($0)".contains("Q4_K"), "\($0)")
        }
        XCTAssertThrowsError(try writer.addTensor(name: "five", shape: [1, 1, 1, 1, 1], floats: [0], type: .f32)) {
            XCTAssertTrue("\($0)".contains("5 dimensions"), "\($0)")
        }
        XCTAssertThrowsError(try writer.addTensor(name: "neg", shape: [-1], floats: [], type: .f32))
        XCTAssertThrowsError(try writer.addTensor(name: String(repeating: "x", count: 64), shape: [1], floats: [0], type: .f32))
        try writer.addTensor(name: "ok", shape: [1], floats: [0], type: .f32)
        XCTAssertThrowsError(try writer.addTensor(name: "ok", shape: [1], floats: [0], type: .f32)) {
            XCTAssertTrue("\($0)".contains("duplicate tensor name 'ok'"), "\($0)")
        }
    }

    /// A failure after the data is written (here the final rename onto a folder) removes the
    /// temporary file and leaves whatever was at the target untouched.
    func testFailedRenameLeavesNoTemporaryFile() throws {
        let target = folder.appendingPathComponent("model.gguf")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try Data([1]).write(to: target.appendingPathComponent("keep"))
        var writer = GGUFWriter()
        try writer.addTensor(name: "w", shape: [64], floats: .init(repeating: 1, count: 64), type: .q8_0)
        XCTAssertThrowsError(try writer.write(to: target.path)) { error in
            XCTAssertTrue("\(error)".contains(target.path), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["model.gguf"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target.path), ["keep"])
    }

    func testWriteIntoMissingFolderFails() throws {
        let path = folder.appendingPathComponent("missing/model.gguf").path
        XCTAssertThrowsError(try GGUFWriter().write(to: path)) { error in
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testOverwriteReplacesExistingFileAtomically() throws {
        let path = folder.appendingPathComponent("model.gguf").path
        var first = GGUFWriter()
        first.add("v", .uint8(1))
        try first.write(to: path)
        var second = GGUFWriter()
        second.add("v", .uint8(2))
        try second.write(to: path)
        XCTAssertEqual(try GGUFFile(path: path).value("v"), .uint8(2))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["model.gguf"])
    }
}
