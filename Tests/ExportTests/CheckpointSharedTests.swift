import Export
import Foundation
import TestSupport
import XCTest

/// The official TRM Sudoku checkpoint in <repo>/../shared, against torch.load and yaml.safe_load.
final class CheckpointSharedTests: XCTestCase {
    private static let sampled = [
        "_orig_mod.model.inner.H_init",
        "_orig_mod.model.inner.L_init",
        "_orig_mod.model.inner.q_head.bias",
        "_orig_mod.model.inner.embed_tokens.embedding_weight",
        "_orig_mod.model.inner.L_level.layers.1.self_attn.o_proj.weight",
    ]

    func testCheckpointMatchesTorchLoad() throws {
        let checkpoint = try Reference.requireShared("checkpoints/trm-sudoku-att/step_10788")
        let folder = try CheckpointFixtures.temporaryFolder("shared-checkpoint")
        defer { try? FileManager.default.removeItem(at: folder) }
        try CheckpointFixtures.runPython("dump_checkpoint.py", [checkpoint.path, folder.path] + Self.sampled)
        let expected = try ExpectedTensor.load(folder, stem: "checkpoint").tensors

        let state = try StateDict.load(checkpoint.path)
        XCTAssertEqual(state.names, expected.map(\.name))
        for tensor in expected {
            try tensor.check(state[tensor.name])
        }
        XCTAssertEqual(expected.filter { $0.values != nil }.count, Self.sampled.count, "the sampled tensors were dumped")
        XCTAssertEqual(state["_orig_mod.model.inner.H_init"]?.dtype, .bfloat16)
        XCTAssertEqual(state["_orig_mod.model.inner.L_init"]?.dtype, .bfloat16)
    }

    func testConfigMatchesSafeLoad() throws {
        let config = try Reference.requireShared("checkpoints/trm-sudoku-att/all_config.yaml")
        let reference = try CheckpointFixtures.runPython("dump_yaml.py", [config.path])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let loaded = try TrainingConfig.load(config.path)
        XCTAssertEqual(canonicalYAML(.map(loaded.root)), reference)

        // The arch block and the values the exporter reads, each against yaml.safe_load.
        let arch = try CheckpointFixtures.runPython("dump_yaml.py", [config.path, "arch"])
        XCTAssertEqual(canonicalYAML(.map(loaded.arch)), arch.trimmingCharacters(in: .whitespacesAndNewlines))
        let hidden = try CheckpointFixtures.runPython("dump_yaml.py", [config.path, "arch", "hidden_size"])
        XCTAssertEqual(loaded.arch["hidden_size"].map(canonicalYAML), hidden.trimmingCharacters(in: .whitespacesAndNewlines))
        // The hyper-parameters the exporter needs are present and typed as ints.
        for key in ["hidden_size", "H_cycles", "L_cycles", "L_layers", "num_heads", "expansion", "puzzle_emb_len"] {
            XCTAssertNotNil(loaded.arch[key]?.int, "arch.\(key) is an int")
        }
    }
}

/// The typed canonical form tools/checkpoint/dump_yaml.py prints for yaml.safe_load's result.
func canonicalYAML(_ value: ConfigValue) -> String {
    func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
    switch value {
    case .null: return "n"
    case let .bool(b): return "b:\(b ? "true" : "false")"
    case let .int(i): return "i:\(i)"
    case let .double(d): return "d:" + String(format: "%016llx", d.bitPattern)
    case let .string(s): return "s:" + hex(s.utf8)
    case let .list(items): return "[" + items.map(canonicalYAML).joined(separator: ",") + "]"
    case let .map(entries):
        let items = entries.map { (hex($0.key.utf8), canonicalYAML($0.value)) }.sorted { $0.0 < $1.0 }
        return "{" + items.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }
}
