import Export
import Foundation
import XCTest

/// torch.save archives written at test time by tools/checkpoint/make_torch_fixtures.py, compared
/// with what torch.load reports for the same files.
final class CheckpointTorchZipTests: XCTestCase {
    override class func tearDown() {
        CheckpointFixtures.removeFolder(from: "make_torch_fixtures.py")
        super.tearDown()
    }

    private func compare(_ stem: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let folder = try CheckpointFixtures.folder(from: "make_torch_fixtures.py")
        let expected = try ExpectedTensor.load(folder, stem: stem).tensors
        let state = try StateDict.load(folder.appendingPathComponent(stem).path)
        XCTAssertEqual(state.names, expected.map(\.name), "tensor names and order", file: file, line: line)
        for tensor in expected {
            try tensor.check(state[tensor.name], file: file, line: line)
        }
    }

    func testPlainKeysAllLayoutsAndDtypes() throws {
        try compare("plain.pt")
        let folder = try CheckpointFixtures.folder(from: "make_torch_fixtures.py")
        let state = try StateDict.load(folder.appendingPathComponent("plain.pt").path)
        // The fixture is meant to cover these layouts; make sure it still does.
        XCTAssertEqual(state["model.inner.scalar"]?.shape, [])
        XCTAssertEqual(state["model.inner.transposed"]?.isContiguous, false)
        XCTAssertGreaterThan(state["model.inner.view_offset"]?.storageOffset ?? 0, 0)
        XCTAssertEqual(Set(state.tensors.map(\.dtype)), Set(TensorDType.allCases))
    }

    func testCompiledPrefixedKeys() throws {
        try compare("compiled.pt")
    }

    func testPickleProtocol4() throws {
        try compare("protocol4.pt")
    }

    func testModuleStateDictWithMetadata() throws {
        try compare("module.pt")
    }

    func testParameters() throws {
        try compare("parameters.pt")
    }

    /// A training checkpoint whose tensors sit under "model", beside ints, floats, bytes, sets.
    func testNestedModelDict() throws {
        try compare("nested.pt")
    }

    func testTensorsAreViewsUntilRead() throws {
        let folder = try CheckpointFixtures.folder(from: "make_torch_fixtures.py")
        let state = try StateDict.load(folder.appendingPathComponent("plain.pt").path)
        let base = try XCTUnwrap(state["model.inner.shared_base"])
        let view = try XCTUnwrap(state["model.inner.view_offset"])
        // Both index one storage: the view's elements are the base's from its offset on.
        let baseValues = try base.floats()
        let viewValues = try view.floats()
        XCTAssertEqual(Array(baseValues[view.storageOffset ..< view.storageOffset + viewValues.count]), viewValues)
    }
}
