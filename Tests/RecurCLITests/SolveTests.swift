import Foundation
import Runtime
import XCTest
import Tasks
import Bench

/// `recur solve` end to end on the shipped default model and sample puzzles.
final class SolveTests: XCTestCase {
    func testSolvesTheSamplesAsJSONLines() throws {
        let r = try CLI.run(["solve", "--input", "models/sudoku-samples.txt", "--format", "jsonl", "--check", "--batch", "3", "--threads", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let samples = try SudokuLine.parseFile(String(contentsOf: CLI.repoRoot.appendingPathComponent("models/sudoku-samples.txt"), encoding: .utf8), name: "samples")
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, samples.count)
        for (i, line) in lines.enumerated() {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(object["index"] as? Int, i + 1, "results come back in input order")
            let steps = try XCTUnwrap(object["steps"] as? Int)
            XCTAssertEqual((object["q_halt"] as? [Double])?.count, steps, "one q_halt logit per step")
            let prediction = try Sudoku(parsing: Substring(try XCTUnwrap(object["prediction"] as? String)))
            XCTAssertEqual(object["valid"] as? Bool, prediction.solves(samples[i].puzzle))
            XCTAssertEqual(object["exact"] as? Bool, prediction == samples[i].solution)
            // Q-head halting: the run stopped at the first positive q_halt, or at the cap.
            let q = try XCTUnwrap(object["q_halt"] as? [Double])
            XCTAssertTrue(q.dropLast().allSatisfy { $0 <= 0 }, "no earlier step had q_halt > 0")
            XCTAssertTrue(q.last! > 0 || steps == 16)
        }
        XCTAssertTrue(r.stderr.contains("puzzles: valid"), r.stderr)
    }

    func testTextOutputAndFixedSteps() throws {
        let r = try CLI.run(["solve", "--input", "-", "--halt", "max", "--max-steps", "2", "--threads", "1"],
                            stdin: try String(contentsOf: CLI.repoRoot.appendingPathComponent("models/sudoku-samples.txt"), encoding: .utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("puzzle 1: 2 ACT steps"), r.stdout)
        XCTAssertTrue(r.stdout.contains("------+-------+------"), r.stdout)
        XCTAssertTrue(r.stdout.contains("mean ACT steps 2.00"), r.stdout)
    }

    /// `--profile`: one row per operation with the call count the schedule implies, shares that
    /// add up, and a rate for the linears; the solve output itself is unchanged.
    func testProfileCountsEveryOperation() throws {
        let samples = try String(contentsOf: CLI.repoRoot.appendingPathComponent("models/sudoku-samples.txt"), encoding: .utf8)
        let args = ["solve", "--input", "-", "--limit", "3", "--batch", "2", "--halt", "max", "--max-steps", "2", "--threads", "2",
                    "--format", "jsonl"]
        let plain = try CLI.run(args, stdin: samples)
        let profiled = try CLI.run(args + ["--profile"], stdin: samples)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(profiled.status, 0, profiled.stderr)
        XCTAssertEqual(profiled.stdout, plain.stdout, "profiling must not change the answers")
        XCTAssertFalse(plain.stderr.contains("time per operation"), plain.stderr)

        // 3 puzzles at batch 2 and 2 steps each: 2 + 2 batched steps (the third puzzle runs alone).
        // Each step applies the 2-layer stack H_cycles x (L_cycles + 1) = 21 times.
        let steps = 4, blockCalls = steps * 21 * 2
        var rows: [String: (calls: Int, share: Double, rate: Double?)] = [:]
        for line in profiled.stderr.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let shareField = fields.first(where: { $0.hasSuffix("%") }), let shareIndex = fields.firstIndex(of: shareField),
                  shareIndex >= 2, let calls = Int(fields[shareIndex - 2]), let share = Double(shareField.dropLast())
            else { continue }
            let name = fields[..<(shareIndex - 2)].joined(separator: " ")
            rows[name] = (calls, share, shareIndex + 1 < fields.count ? Double(fields[shareIndex + 1]) : nil)
        }
        // The shipped model is Q8_0: its down projection takes the SwiGLU into its input quantization.
        XCTAssertNil(rows["swiglu"], "a quantized ffn_down has no separate swiglu pass")
        for linear in ["attn_qkv linear", "attn_output linear", "ffn gate/up linear", "swiglu + ffn_down linear"] {
            let row = try XCTUnwrap(rows[linear], "no row for \(linear) in:\n\(profiled.stderr)")
            XCTAssertEqual(row.calls, blockCalls, linear)
            XCTAssertGreaterThan(row.rate ?? 0, 0, "\(linear) has a GOP/s figure")
        }
        XCTAssertEqual(rows["residual add + rms norm"]?.calls, 2 * blockCalls)
        XCTAssertEqual(rows["lm head + q-head"]?.calls, steps)
        XCTAssertEqual(rows["input injection (adds)"]?.calls, steps * 3 * 7, "6 injections and 1 z_H update per H cycle")
        XCTAssertEqual(rows.values.map(\.share).reduce(0, +), 100, accuracy: 0.6, "shares add up to the total")
    }

    /// A RECUR_ISA this CPU cannot run (or no tier at all) is reported, and the best tier runs instead.
    /// `--attention bf16`: where the CPU has AVX-512 BF16, the samples solve with predictions close to
    /// the FP32 attention's (most cells the same); elsewhere a clear error and a non-zero exit.
    func testBF16AttentionSolvesOrIsRefusedClearly() throws {
        let args = ["solve", "--input", "models/sudoku-samples.txt", "--format", "jsonl", "--batch", "8", "--threads", "2"]
        let bf16 = try CLI.run(args + ["--attention", "bf16"])
        guard AttentionPrecision.bf16Available else {
            XCTAssertNotEqual(bf16.status, 0)
            XCTAssertTrue(bf16.stderr.contains("AVX-512 BF16"), bf16.stderr)
            throw XCTSkip("no AVX-512 BF16 here: only the refusal was checked")
        }
        XCTAssertEqual(bf16.status, 0, bf16.stderr)
        let f32 = try CLI.run(args)
        XCTAssertEqual(f32.status, 0, f32.stderr)
        func predictions(_ out: String) throws -> [String] {
            try out.split(separator: "\n").map { try XCTUnwrap((JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["prediction"] as? String) }
        }
        let a = try predictions(bf16.stdout), b = try predictions(f32.stdout)
        XCTAssertEqual(a.count, b.count)
        let same = zip(a.joined(), b.joined()).filter { $0 == $1 }.count
        XCTAssertGreaterThan(Double(same) / Double(max(b.joined().count, 1)), 0.95, "bf16 attention changed more than 5% of the cells")
    }

    func testUnrunnableTierIsReported() throws {
        let r = try Subprocess.run("/usr/bin/env", ["RECUR_ISA=sse9", CLI.binary.path, "inspect", "models/trm-sudoku-att-q8_0.gguf"],
                                   directory: CLI.repoRoot)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("RECUR_ISA=sse9 is not a tier this CPU runs"), r.stderr)
        let plain = try CLI.run(["inspect", "models/trm-sudoku-att-q8_0.gguf"])
        XCTAssertFalse(plain.stderr.contains("RECUR_ISA"), plain.stderr)
        XCTAssertEqual(r.stdout, plain.stdout)
    }
}
