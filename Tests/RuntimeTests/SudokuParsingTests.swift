import Foundation
import Runtime
import TestSupport
import XCTest
import Tasks

/// Puzzle files as users write them: LF or CRLF line ends, comments, a solution column, and the
/// errors that name the line and what is wrong with it.
final class SudokuParsingTests: XCTestCase {
    private var samples: String {
        get throws { try String(contentsOf: Repo.root.appendingPathComponent("models/sudoku-samples.txt"), encoding: .utf8) }
    }

    func testCRLFFilesReadLikeLFFiles() throws {
        let lf = try samples
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        XCTAssertNotEqual(lf, crlf)
        let a = try SudokuLine.parseFile(lf, name: "lf"), b = try SudokuLine.parseFile(crlf, name: "crlf")
        XCTAssertGreaterThan(a.count, 1)
        XCTAssertEqual(a, b)
    }

    func testLimitStopsReadingAfterThatManyPuzzles() throws {
        let puzzle = String(repeating: ".", count: 81)
        let text = "# two good lines, then a bad one\n\(puzzle)\n\n\(puzzle)\nnot a puzzle\n"
        XCTAssertEqual(try SudokuLine.parseFile(text, name: "f", limit: 2).count, 2)
        XCTAssertThrowsError(try SudokuLine.parseFile(text, name: "f", limit: 3)) { error in
            XCTAssertTrue("\(error)".contains("f:5:"), "\(error)")
        }
        XCTAssertEqual(try SudokuLine.parseFile(text, name: "f", limit: 0).count, 0)
    }

    /// Every cell character, and the errors that count Characters, not bytes: a multi-byte letter or
    /// a digit with a combining accent is one wrong character at its position.
    func testCellsAndCharacterErrors() throws {
        let digits = "0.123456789"
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let text = String((0..<81).map { _ in digits.randomElement(using: &rng)! })
            let cells = try Sudoku(parsing: Substring(text)).cells
            XCTAssertEqual(cells, text.map { $0 == "." ? 0 : UInt8($0.asciiValue! - 48) })
        }
        let dots = String(repeating: ".", count: 80)
        for (text, expected) in [
            (dots + "é", SudokuError.badCharacter("é", position: 81)),
            ("5\u{301}" + dots, SudokuError.badCharacter("5\u{301}", position: 1)),
            (dots, SudokuError.badLength(found: 80)),
            (dots + "..", SudokuError.badLength(found: 82)),
            (dots + "x", SudokuError.badCharacter("x", position: 81)),
        ] {
            XCTAssertThrowsError(try Sudoku(parsing: Substring(text))) { XCTAssertEqual($0 as? SudokuError, expected, text) }
        }
    }

    func testClashingGivensAndWrongSolutionsAreRefused() throws {
        let line = try XCTUnwrap(try SudokuLine.parseFile(samples, name: "samples").first { $0.solution != nil })
        let solution = try XCTUnwrap(line.solution)
        XCTAssertTrue(solution.isComplete)
        XCTAssertTrue(solution.solves(line.puzzle))
        XCTAssertNoThrow(try solution.checkGivens())

        // Swapping two cells of a row keeps the row whole but breaks their columns.
        var swapped = solution
        swapped.cells.swapAt(0, 1)
        XCTAssertFalse(swapped.isComplete)
        XCTAssertThrowsError(try swapped.checkGivens()) { XCTAssertTrue("\($0)".contains("twice in column"), "\($0)") }

        for (a, b, unit) in [(0, 8, "row 1"), (0, 72, "column 1"), (0, 20, "box 1")] {
            var cells = [UInt8](repeating: 0, count: 81)
            cells[a] = 4
            cells[b] = 4
            XCTAssertThrowsError(try Sudoku(cells: cells).checkGivens()) {
                XCTAssertEqual($0 as? SudokuError, .impossible("digit 4 appears twice in \(unit)"))
            }
        }
        let text = "\(line.puzzle.string) \(swapped.string)\n"
        XCTAssertThrowsError(try SudokuLine.parseFile(text, name: "s")) {
            XCTAssertTrue("\($0)".contains("s:1:") && "\($0)".contains("does not solve"), "\($0)")
        }
    }
}
