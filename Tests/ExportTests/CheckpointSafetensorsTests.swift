import Export
import Foundation
import XCTest

/// Safetensors files written at test time by tools/checkpoint/make_safetensors_fixtures.py (the
/// PyPI safetensors package when installed, and always a small hand-written writer).
final class CheckpointSafetensorsTests: XCTestCase {
    override class func tearDown() {
        CheckpointFixtures.removeFolder(from: "make_safetensors_fixtures.py")
        super.tearDown()
    }

    private func compare(_ stem: String) throws -> [String: Any] {
        let folder = try CheckpointFixtures.folder(from: "make_safetensors_fixtures.py")
        let (expected, document) = try ExpectedTensor.load(folder, stem: stem)
        let state = try StateDict.load(folder.appendingPathComponent(stem).path)
        XCTAssertEqual(Set(state.names), Set(expected.map(\.name)))
        XCTAssertEqual(state.names.count, expected.count)
        for tensor in expected {
            try tensor.check(state[tensor.name])
        }
        XCTAssertEqual(state.metadata, document["metadata"] as? [String: String])
        return document
    }

    func testFileFromWriterPackage() throws {
        let document = try compare("model.safetensors")
        let writer = document["writer"] as? String ?? "?"
        if writer == "handwritten" {
            // Still checked above, but say that the package's own output was not.
            print("note: the safetensors package is not installed; model.safetensors was hand-written")
        }
    }

    func testHandWrittenFile() throws {
        _ = try compare("handwritten.safetensors")
    }
}
