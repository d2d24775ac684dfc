@testable import Bench
import Foundation
@testable import Runtime
import TestSupport
import XCTest
import Tasks

final class DriftTests: XCTestCase {
    /// The sign test's p-value against Python's exact binomial sums (integer arithmetic).
    func testSignTestMatchesExactBinomialSums() throws {
        let pairs = [(0, 0), (5, 0), (0, 5), (7, 3), (3, 7), (60, 49), (49, 60), (120, 80), (1000, 950), (11, 11)]
        let script = """
            import math, sys
            for pair in sys.argv[1:]:
                a, b = map(int, pair.split(","))
                n, k = a + b, min(a, b)
                p = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)
                print(repr(p))
            """
        let out = try Reference.python(["-c", script] + pairs.map { "\($0.0),\($0.1)" })
        let expected = out.split(separator: "\n").compactMap { Double($0) }
        XCTAssertEqual(expected.count, pairs.count)
        for ((a, b), want) in zip(pairs, expected) {
            let got = Drift.signTestP(a, b)
            XCTAssertEqual(got, want, accuracy: max(1e-12, 1e-9 * want), "sign test (\(a), \(b))")
        }
        XCTAssertLessThan(Drift.signTestP(40, 10), 0.001, "a lopsided split is significant")
    }

    /// `compare` counts the puzzles that only one of the two models solves validly, each way.
    func testCompareCountsValidityFlips() throws {
        let text = try String(contentsOf: BenchTestSupport.repoRoot.appendingPathComponent("models/sudoku-samples.txt"), encoding: .utf8)
        let lines = Array(try SudokuLine.parseFile(text, name: "sudoku-samples.txt").filter { $0.solution != nil }.prefix(4))
        XCTAssertEqual(lines.count, 4)
        let vocab = 11
        func output(_ i: Int, valid: Bool) -> ModelOutput {
            let line = lines[i]
            // A valid answer is the solution; an invalid one is the puzzle itself, blanks and all.
            let prediction = valid ? line.solution!.tokens : line.puzzle.tokens
            XCTAssertEqual(Sudoku(prediction: prediction).solves(line.puzzle), valid)
            let logits = [Float](repeating: 0, count: Sudoku.cellCount * vocab)
            return ModelOutput(index: i, prediction: prediction, steps: 1, qHalt: [0], qContinue: [0],
                               stepPredictions: [prediction], stepLogits: [logits])
        }
        let reference = [output(0, valid: true), output(1, valid: true), output(2, valid: false), output(3, valid: false)]
        let candidate = [output(0, valid: false), output(1, valid: true), output(2, valid: true), output(3, valid: true)]
        let report = Drift.compare(reference: reference, candidate: candidate, lines: lines, vocab: vocab)
        XCTAssertEqual(report.validGained, 2)
        XCTAssertEqual(report.validLost, 1)
        XCTAssertEqual(report.candidate.valid - report.reference.valid, report.validGained - report.validLost)
        XCTAssertEqual(report.validChangeP, Drift.signTestP(2, 1))
        XCTAssertEqual(report.figures["valid_gained"], 2)
        XCTAssertEqual(report.figures["valid_lost"], 1)
    }
}
