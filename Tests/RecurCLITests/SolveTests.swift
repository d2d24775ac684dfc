import Foundation
import Runtime
import XCTest

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
}
