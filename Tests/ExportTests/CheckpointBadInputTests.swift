import Export
import Foundation
import XCTest

/// Damaged and hostile inputs from tools/checkpoint/make_bad_inputs.py: each must give a
/// CheckpointError that says what went wrong and where, and none may crash or hang.
final class CheckpointBadInputTests: XCTestCase {
    override class func tearDown() {
        CheckpointFixtures.removeFolder(from: "make_bad_inputs.py")
        super.tearDown()
    }

    private func bad(_ name: String) throws -> String {
        try CheckpointFixtures.folder(from: "make_bad_inputs.py").appendingPathComponent(name).path
    }

    private func facts() throws -> [String: Any] {
        let url = try CheckpointFixtures.folder(from: "make_bad_inputs.py").appendingPathComponent("facts.json")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    func testGoodFileLoads() throws {
        let state = try StateDict.load(try bad("good.pt"))
        XCTAssertEqual(state.names, ["w", "b"])
    }

    func testReduceToSystemIsRefused() throws {
        let global = try XCTUnwrap(try facts()["reduce_system_global"] as? String)
        let path = try bad("reduce_system.pt")
        assertCheckpointError([path, "data.pkl", "byte offset", "refusing to load global \(global)", "never run code"]) {
            try StateDict.load(path)
        }
    }

    func testOsSystemGlobalIsRefusedAtItsOffset() throws {
        let offset = try XCTUnwrap(try facts()["os_system_offset"] as? Int)
        let path = try bad("os_system.pt")
        assertCheckpointError(["refusing to load global os.system", "at byte offset \(offset):"]) { try StateDict.load(path) }
    }

    func testStackGlobalEvalIsRefused() throws {
        assertCheckpointError(["refusing to load global builtins.eval"]) { try StateDict.load(try bad("builtins_eval.pt")) }
    }

    func testDeepAndCyclicPicklesDoNotCrash() throws {
        assertCheckpointError(["not a state_dict", "list"]) { try StateDict.load(try bad("deep_list.pt")) }
        assertCheckpointError(["not a state_dict", "list"]) { try StateDict.load(try bad("cycle.pt")) }
    }

    func testWorkAmplificationIsBounded() throws {
        let start = Date()
        assertCheckpointError(["data.pkl", "copying"]) { try StateDict.load(try bad("amplify.pt")) }
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "the bound should stop the pickle early")
    }

    func testTruncatedArchives() throws {
        let names = try XCTUnwrap(try facts()["truncated"] as? [String])
        XCTAssertGreaterThanOrEqual(names.count, 5)
        for name in names {
            let path = try bad(name)
            assertCheckpointError([path, "end-of-central-directory", "truncated"]) { try StateDict.load(path) }
        }
    }

    func testCorruptCentralDirectory() throws {
        let offset = try XCTUnwrap(try facts()["cd_signature_offset"] as? Int)
        assertCheckpointError(["corrupt zip archive at byte offset \(offset)", "central directory entry 0"]) {
            try StateDict.load(try bad("cd_signature.pt"))
        }
        assertCheckpointError(["corrupt zip archive", "local header", "data.pkl"]) { try StateDict.load(try bad("cd_local_offset.pt")) }
        assertCheckpointError(["corrupt zip archive", "central directory (offset"]) { try StateDict.load(try bad("cd_offset.pt")) }
        assertCheckpointError(["CRC-32", "data.pkl"]) { try StateDict.load(try bad("pickle_crc.pt")) }
    }

    func testMissingStorageMember() throws {
        assertCheckpointError(["archive member 'good/data/0' is missing", "storage of tensor 'w'"]) {
            try StateDict.load(try bad("missing_storage.pt"))
        }
    }

    func testStridesPastStorage() throws {
        assertCheckpointError(["tensor 'past_end'", "reaches element 7", "holds only 6 elements"]) {
            try StateDict.load(try bad("strides_past_storage.pt"))
        }
        assertCheckpointError(["tensor 'short'", "holds 24 bytes", "8 elements"]) { try StateDict.load(try bad("storage_short.pt")) }
    }

    func testUnsupportedContent() throws {
        assertCheckpointError(["byteorder", "'big'", "little"]) { try StateDict.load(try bad("big_endian.pt")) }
        assertCheckpointError(["deflated.pt", "archive member", "deflate-compressed (method 8)"]) { try StateDict.load(try bad("deflated.pt")) }
        assertCheckpointError(["tensor 'z'", "ComplexFloatStorage", "not supported"]) { try StateDict.load(try bad("complex.pt")) }
        let scripted = try bad("scripted.pt")
        guard FileManager.default.fileExists(atPath: scripted) else {
            throw XCTSkip("this torch could not write a TorchScript archive")
        }
        assertCheckpointError(["TorchScript"]) { try StateDict.load(scripted) }
    }

    func testSafetensorsHeaders() throws {
        assertCheckpointError(["malformed safetensors", "tensor 'w'", "[0, 64]", "data region (16 bytes"]) {
            try StateDict.load(try bad("offsets_out_of_range.safetensors"))
        }
        assertCheckpointError(["tensor 'w'", "span 12 bytes", "4 x 4"]) { try StateDict.load(try bad("offsets_size_mismatch.safetensors")) }
        assertCheckpointError(["F8_E4M3", "not supported"]) { try StateDict.load(try bad("unsupported_dtype.safetensors")) }
    }

    func testNotCheckpoints() throws {
        assertCheckpointError(["notes.txt", "leading bytes", "neither a zip"]) { try StateDict.load(try bad("notes.txt")) }
        assertCheckpointError(["empty.pt", "empty"]) { try StateDict.load(try bad("empty.pt")) }
        let legacy = try bad("legacy.pt")
        if FileManager.default.fileExists(atPath: legacy) {
            assertCheckpointError(["legacy", "1.6"]) { try StateDict.load(legacy) }
        }
        assertCheckpointError(["plain.zip", "data.pkl", "readme.txt"]) { try StateDict.load(try bad("plain.zip")) }
        // A header length past the end makes the file unrecognizable rather than a huge allocation.
        assertCheckpointError(["header_too_long.safetensors"]) { try StateDict.load(try bad("header_too_long.safetensors")) }
        assertCheckpointError(["no-such-file.pt", "cannot read"]) { try StateDict.load("no-such-file.pt") }
        let folder = try CheckpointFixtures.folder(from: "make_bad_inputs.py")
        assertCheckpointError(["not a regular file"]) { try StateDict.load(folder.path) }
    }

    /// Every prefix of a valid archive, and a run of single-byte corruptions across it: an error or
    /// a load, never a crash. Cheap because the archive is small.
    func testEveryPrefixAndByteFlip() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: try bad("good.pt")))
        let folder = try CheckpointFixtures.temporaryFolder("fuzz", inMemory: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = folder.appendingPathComponent("case.pt")
        for cut in stride(from: 0, to: original.count, by: 7) {
            try original.prefix(cut).write(to: target)
            XCTAssertThrowsError(try StateDict.load(target.path)) { XCTAssertTrue($0 is CheckpointError) }
        }
        var loaded = 0
        for position in stride(from: 0, to: original.count, by: 3) {
            var copy = original
            copy[position] ^= 0x5A
            try copy.write(to: target)
            do {
                let state = try StateDict.load(target.path)
                for tensor in state.tensors { _ = try tensor.floats() }
                loaded += 1
            } catch is CheckpointError {
                continue
            }
        }
        XCTAssertLessThan(loaded, original.count / 3, "most flips must be detected")
    }
}
