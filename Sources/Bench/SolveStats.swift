import Foundation
import Runtime
import Tasks

/// What users of a Sudoku model look at: how many answers are right, and how long it thought.
public struct SolveStats: Sendable, Codable {
    public var puzzles = 0
    public var valid = 0
    public var exact = 0
    public var tokenAccuracySum = 0.0
    public var steps = 0

    public init() {}

    /// Counts one answer; returns whether it is a valid solution of the puzzle.
    @discardableResult
    public mutating func add(prediction: [Int32], steps: Int, line: SudokuLine) -> Bool {
        let solved = Sudoku(prediction: prediction)
        let isValid = solved.solves(line.puzzle)
        puzzles += 1
        self.steps += steps
        if isValid { valid += 1 }
        if let s = line.solution {
            if s == solved { exact += 1 }
            tokenAccuracySum += Double(zip(s.cells, solved.cells).filter { $0 == $1 }.count) / Double(Sudoku.cellCount)
        }
        return isValid
    }

    public var validRate: Double { Double(valid) / Double(max(puzzles, 1)) }
    public var exactRate: Double { Double(exact) / Double(max(puzzles, 1)) }
    public var tokenAccuracy: Double { tokenAccuracySum / Double(max(puzzles, 1)) }
    public var meanSteps: Double { Double(steps) / Double(max(puzzles, 1)) }
}
