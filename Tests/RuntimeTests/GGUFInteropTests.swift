import Foundation
import Runtime
import TestSupport
import XCTest

/// Interoperability with the reference implementation, the `gguf` Python package, both ways.
final class GGUFInteropTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        try Reference.requireGGUF()
        folder = try Reference.temporaryDirectory("gguf-interop")
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// Recur writes; gguf.GGUFReader reads, and gguf.quants re-quantizes and dequantizes.
    func testReferenceReaderOpensRecurFile() throws {
        for alignment in [32, 128] {
            var writer = GGUFWriter(alignment: alignment)
            var metadata: [[String: Any]] = []
            for (key, value) in GGUFTestSupport.everyValueType {
                writer.add(key, value)
                metadata.append(["key": key, "value": GGUFTestSupport.manifestEntry(value)])
            }
            if alignment != 32 {
                metadata.append(["key": "general.alignment", "value": GGUFTestSupport.manifestEntry(.uint32(UInt32(alignment)))])
            }
            var rng = GGUFTestSupport.SplitMix64(seed: 1234 + UInt64(alignment))
            var sources: [String: [Float]] = [:]
            for tensor in GGUFTestSupport.sampleTensors {
                var values = GGUFTestSupport.randomFloats(tensor.shape.reduce(1, *), scale: 1.5, rng: &rng)
                if values.count > 40 { values[3] = 25; values[37] = -40 }  // outliers inside blocks
                try writer.addTensor(name: tensor.name, shape: tensor.shape, floats: values, type: tensor.type)
                sources[tensor.name] = values
            }
            let path = folder.appendingPathComponent("recur-\(alignment).gguf").path
            try writer.write(to: path)

            // What Recur itself decodes from its file; the reference must decode the same bits.
            let file = try GGUFFile(path: path)
            var tensors: [[String: Any]] = []
            for tensor in GGUFTestSupport.sampleTensors {
                let stem = "\(tensor.name)-\(alignment)"
                try GGUFTestSupport.writeFloats(sources[tensor.name]!, to: folder.appendingPathComponent("\(stem).f32"))
                try GGUFTestSupport.writeFloats(try file.floats(tensor.name), to: folder.appendingPathComponent("\(stem).deq.f32"))
                tensors.append([
                    "name": tensor.name, "shape": tensor.shape, "type": tensor.type.name,
                    "source": "\(stem).f32", "dequantized": "\(stem).deq.f32",
                ])
            }
            let manifest = folder.appendingPathComponent("manifest-\(alignment).json")
            try GGUFTestSupport.writeJSON(["alignment": alignment, "metadata": metadata, "tensors": tensors], to: manifest)
            _ = try GGUFTestSupport.runReference("check_recur_file.py", [manifest.path, path], expect: "PASS")

            // Negative control: the checker must notice a wrong value type, value, shape and type.
            var tampered = metadata
            tampered[1]["value"] = GGUFTestSupport.manifestEntry(.uint16(255))
            tampered[2]["value"] = GGUFTestSupport.manifestEntry(.int8(-127))
            var wrongTensors = tensors
            wrongTensors[1]["shape"] = [5, 3]
            wrongTensors[2]["type"] = "F16"
            let bad = folder.appendingPathComponent("tampered-\(alignment).json")
            try GGUFTestSupport.writeJSON(["alignment": alignment, "metadata": tampered, "tensors": wrongTensors], to: bad)
            let result = try Reference.runPython(["tools/gguf/check_recur_file.py", bad.path, path])
            XCTAssertNotEqual(result.status, 0)
            for fragment in ["test.u8: types", "test.i8: stored bytes", "f16.matrix: shape", "bf16.cube: type", "VERDICT: FAIL"] {
                XCTAssertTrue(result.output.contains(fragment), "'\(fragment)' missing from:\n\(result.output)")
            }
        }
    }

    /// gguf.GGUFWriter writes; Recur reads metadata, shapes, types, bytes and values.
    func testRecurReadsReferenceFile() throws {
        _ = try GGUFTestSupport.runReference("write_reference_file.py", [folder.path, "11"], expect: "WROTE")
        let manifestData = try Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        let manifest = try XCTUnwrap(try JSONSerialization.jsonObject(with: manifestData) as? [String: Any])
        let file = try GGUFFile(path: folder.appendingPathComponent("reference.gguf").path)

        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.alignment, manifest["alignment"] as? Int)
        let metadata = try XCTUnwrap(manifest["metadata"] as? [[String: Any]])
        XCTAssertEqual(file.metadata.map(\.key), metadata.map { $0["key"] as? String ?? "" })
        for entry in metadata {
            let key = try XCTUnwrap(entry["key"] as? String)
            let expected = try GGUFTestSupport.value(fromManifest: try XCTUnwrap(entry["value"] as? [String: Any]))
            let got = try XCTUnwrap(file.value(key), key)
            XCTAssertTrue(GGUFTestSupport.sameBits(got, expected), "\(key): read \(got), reference wrote \(expected)")
        }

        let tensors = try XCTUnwrap(manifest["tensors"] as? [[String: Any]])
        XCTAssertEqual(file.tensors.map(\.name), tensors.map { $0["name"] as? String ?? "" })
        for entry in tensors {
            let name = try XCTUnwrap(entry["name"] as? String)
            let info = try XCTUnwrap(file.tensor(name), name)
            XCTAssertEqual(info.shape, entry["shape"] as? [Int], name)
            XCTAssertEqual(info.type.name, entry["type"] as? String, name)
            XCTAssertEqual(info.offset % file.alignment, 0, name)
            let raw = try Data(contentsOf: folder.appendingPathComponent(try XCTUnwrap(entry["raw"] as? String)))
            XCTAssertEqual(Data(file.bytes(info)), raw, "\(name): stored bytes")
            if let dequantized = entry["dequantized"] as? String {
                let expected = try GGUFTestSupport.readFloats(folder.appendingPathComponent(dequantized))
                let got = try file.floats(name)
                XCTAssertEqual(got.count, expected.count, name)
                XCTAssertTrue(got.map(\.bitPattern) == expected.map(\.bitPattern), "\(name): dequantized values differ")
            } else {
                XCTAssertThrowsError(try file.floats(name)) { XCTAssertTrue("\($0)".contains(name), "\($0)") }
            }
        }
    }

    /// Block sizes and byte sizes of every ggml type match the reference's table.
    func testTypeTableMatchesReference() throws {
        let output = try GGUFTestSupport.runReference("quant_reference.py", ["sizes"], expect: "OK")
        let json = try XCTUnwrap(output.split(separator: "\n").first(where: { $0.hasPrefix("{") }))
        let table = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [Int]])
        XCTAssertEqual(table.count, GGMLType.allCases.count, "the reference knows \(table.keys.sorted())")
        for (name, row) in table {
            let type = try XCTUnwrap(GGMLType(name: name), "Recur lacks ggml type \(name)")
            XCTAssertEqual(Int(type.rawValue), row[0], name)
            XCTAssertEqual(type.name, name)
            XCTAssertEqual(type.blockSize, row[1], name)
            XCTAssertEqual(type.blockBytes, row[2], name)
        }
    }
}
