import Export
import Foundation
import TestSupport
import XCTest

/// Runs the Python fixture makers in tools/checkpoint once per test process and reads what they
/// say torch reports, so every expected value comes from PyTorch itself.
enum CheckpointFixtures {
    private static let lock = NSLock()
    private static var generated: [String: URL] = [:]

    /// A fresh folder under the system temporary directory; the caller removes it.
    /// `inMemory` prefers /dev/shm where it exists, for tests that rewrite a file hundreds of times.
    static func temporaryFolder(_ label: String, inMemory: Bool = false) throws -> URL {
        var base = FileManager.default.temporaryDirectory
        if inMemory, FileManager.default.isWritableFile(atPath: "/dev/shm") {
            base = URL(fileURLWithPath: "/dev/shm")
        }
        let url = base.appendingPathComponent("recur-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs `tools/checkpoint/<script>` with `arguments` and returns what it printed; a missing
    /// Python package (the scripts' exit status 77) skips, or fails when references are required.
    @discardableResult
    static func runPython(_ script: String, _ arguments: [String]) throws -> String {
        try Reference.python(["tools/checkpoint/\(script)"] + arguments)
    }

    /// The output folder of a fixture script that takes the folder as its only argument, made once.
    static func folder(from script: String) throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if let done = generated[script] { return done }
        let folder = try temporaryFolder(script.replacingOccurrences(of: ".py", with: ""))
        try runPython(script, [folder.path])
        generated[script] = folder
        return folder
    }

    /// Called from each test class's tearDown: every fixture script serves one class.
    static func removeFolder(from script: String) {
        lock.lock()
        defer { lock.unlock() }
        if let folder = generated.removeValue(forKey: script) {
            try? FileManager.default.removeItem(at: folder)
        }
    }
}

/// One tensor as torch reported it.
struct ExpectedTensor {
    let name: String
    let dtype: String
    let shape: [Int]
    let strides: [Int]
    let offset: Int
    let values: [Float]?
    let raw: Data?

    static func load(_ folder: URL, stem: String) throws -> (tensors: [ExpectedTensor], document: [String: Any]) {
        let url = folder.appendingPathComponent("\(stem).expected.json")
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let records = try XCTUnwrap(document["tensors"] as? [[String: Any]])
        let tensors = try records.map { record -> ExpectedTensor in
            var values: [Float]?
            var raw: Data?
            if let file = record["values"] as? String {
                let data = try Data(contentsOf: folder.appendingPathComponent(file))
                values = data.withUnsafeBytes { bytes in
                    (0 ..< data.count / 4).map {
                        Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
                    }
                }
            }
            if let file = record["raw"] as? String {
                raw = try Data(contentsOf: folder.appendingPathComponent(file))
            }
            return ExpectedTensor(
                name: try XCTUnwrap(record["name"] as? String),
                dtype: try XCTUnwrap(record["dtype"] as? String),
                shape: try XCTUnwrap(record["shape"] as? [Int]),
                strides: try XCTUnwrap(record["strides"] as? [Int]),
                offset: try XCTUnwrap(record["offset"] as? Int),
                values: values, raw: raw)
        }
        return (tensors, document)
    }

    /// Compares layout always and values when torch's were dumped; floats bit for bit.
    func check(_ tensor: CheckpointTensor?, layout: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        let tensor = try XCTUnwrap(tensor, "tensor '\(name)' is missing", file: file, line: line)
        XCTAssertEqual(tensor.dtype.rawValue, dtype, "dtype of \(name)", file: file, line: line)
        XCTAssertEqual(tensor.shape, shape, "shape of \(name)", file: file, line: line)
        if layout {
            XCTAssertEqual(tensor.strides, strides, "strides of \(name)", file: file, line: line)
            XCTAssertEqual(tensor.storageOffset, offset, "storage offset of \(name)", file: file, line: line)
        }
        if let values {
            let actual = try tensor.floats()
            XCTAssertEqual(actual.count, values.count, "element count of \(name)", file: file, line: line)
            let mismatches = zip(actual, values).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
            if let first = mismatches.first {
                XCTFail("\(name): \(mismatches.count) values differ from torch, first at \(first.offset): \(first.element.0) vs \(first.element.1)", file: file, line: line)
            }
        }
        if let raw {
            XCTAssertEqual(try tensor.contiguousBytes(), raw, "contiguous bytes of \(name)", file: file, line: line)
        }
    }
}

/// Asserts that `body` throws a CheckpointError whose description contains every fragment.
func assertCheckpointError<T>(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                              _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected a CheckpointError mentioning \(fragments)", file: file, line: line)
    } catch let error as CheckpointError {
        let message = error.description
        for fragment in fragments where !message.contains(fragment) {
            XCTFail("error message lacks '\(fragment)': \(message)", file: file, line: line)
        }
    } catch {
        XCTFail("expected a CheckpointError, got \(type(of: error)): \(error)", file: file, line: line)
    }
}
