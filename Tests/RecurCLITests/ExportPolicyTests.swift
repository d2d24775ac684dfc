import Foundation
import Runtime
import TestSupport
import XCTest

/// `recur export --tensor-type PATTERN=TYPE`: user rules override the default type policy per
/// tensor, are recorded in the file, and mistakes are refused before anything is written.
final class ExportPolicyTests: XCTestCase {
    private func requireCheckpoint() throws -> URL { try Reference.requireShared("checkpoints/trm-sudoku-att/step_10788") }

    func testRulesOverrideTheDefaultPolicy() throws {
        let checkpoint = try requireCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("mixed.gguf")
        let r = try CLI.run(["export", checkpoint.path, "-o", out.path, "--type", "q4_0",
                             "--tensor-type", "L.blk.*.ffn_down.weight=q8_0",
                             "--tensor-type", "L.blk.1.*=f16",
                             "--tensor-type", "token_embd.weight=F16"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let file = try GGUFFile(path: out.path)
        func type(_ name: String) -> GGMLType? { file.tensor(name)?.type }
        // First match wins: block 1's ffn_down matches the first rule before the block-1 rule.
        XCTAssertEqual(type("L.blk.0.ffn_down.weight"), .q8_0)
        XCTAssertEqual(type("L.blk.1.ffn_down.weight"), .q8_0)
        XCTAssertEqual(type("L.blk.1.attn_qkv.weight"), .f16)
        XCTAssertEqual(type("L.blk.0.attn_qkv.weight"), .q4_0, "unmatched linears keep --type")
        XCTAssertEqual(type("token_embd.weight"), .f16)
        XCTAssertEqual(type("output.weight"), .f16, "the default policy still applies elsewhere")
        XCTAssertEqual(type("h_init"), .f32)
        let policy = file.metadata.first { $0.key == "recur.quantization.policy" }?.value.string ?? ""
        XCTAssertTrue(policy.contains("rules=L.blk.*.ffn_down.weight=Q8_0,L.blk.1.*=F16,token_embd.weight=F16"), policy)

        // The mixed file runs: gate and up of block 1 are F16 (dequantized at load), the rest mixed.
        let solve = try CLI.run(["solve", "--model", out.path, "--input", "models/sudoku-samples.txt", "--limit", "1",
                                 "--halt", "max", "--max-steps", "1", "--threads", "2"])
        XCTAssertEqual(solve.status, 0, solve.stderr)
        XCTAssertTrue(solve.stdout.contains("1 puzzles"), solve.stdout)
    }

    func testBadRulesAreRefusedAndWriteNothing() throws {
        let checkpoint = try requireCheckpoint()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("never.gguf")
        let cases: [(String, String)] = [
            ("L.blk.*.ffn_dwn.weight=q8_0", "matches no tensor"),
            ("L.blk.*.ffn_down.weight=q5_k", "unknown type"),
            ("qhead.bias=q8_0", "not whole Q8_0 blocks"),
            ("=q8_0", "expected PATTERN=TYPE"),
        ]
        for (rule, message) in cases {
            let r = try CLI.run(["export", checkpoint.path, "-o", out.path, "--type", "q8_0", "--tensor-type", rule])
            XCTAssertNotEqual(r.status, 0, rule)
            XCTAssertTrue(r.stderr.contains(message), "\(rule): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "\(rule): an output file was left")
        }
    }
}
