/// 9x9 Sudoku in the token layout the TRM Sudoku models use: 0 pad, 1 blank, 2...10 the digits 1...9.
public struct Sudoku: Sendable, Equatable {
    /// 81 cells, row-major; 0 is blank.
    public var cells: [UInt8]

    public static let cellCount = 81

    public init(cells: [UInt8]) {
        precondition(cells.count == Sudoku.cellCount)
        self.cells = cells
    }

    /// Parses 81 characters: `1`-`9` for givens, `.` or `0` for blanks.
    public init(parsing text: Substring) throws {
        guard text.count == Sudoku.cellCount else {
            throw SudokuError.badLength(found: text.count)
        }
        var cells: [UInt8] = []
        cells.reserveCapacity(Sudoku.cellCount)
        for (i, ch) in text.enumerated() {
            switch ch {
            case ".", "0": cells.append(0)
            case "1"..."9": cells.append(UInt8(ch.asciiValue! - 48))
            default: throw SudokuError.badCharacter(ch, position: i + 1)
            }
        }
        self.cells = cells
    }

    /// Model tokens for this grid.
    public var tokens: [Int32] { cells.map { Int32($0) + 1 } }

    /// The grid a model predicted: token t is digit t-1; pad or blank predictions become 0 (unsolved).
    public init(prediction tokens: [Int32]) {
        precondition(tokens.count == Sudoku.cellCount)
        cells = tokens.map { $0 >= 2 && $0 <= 10 ? UInt8($0 - 1) : 0 }
    }

    public var string: String { String(cells.map { $0 == 0 ? "." : Character(String($0)) }) }

    /// The 27 units (rows, columns, boxes) as cell indices.
    static let units: [[Int]] = {
        var units: [[Int]] = []
        for r in 0..<9 { units.append((0..<9).map { r * 9 + $0 }) }
        for c in 0..<9 { units.append((0..<9).map { $0 * 9 + c }) }
        for b in 0..<9 {
            let r0 = (b / 3) * 3, c0 = (b % 3) * 3
            units.append((0..<9).map { (r0 + $0 / 3) * 9 + c0 + $0 % 3 })
        }
        return units
    }()

    /// Throws when two givens clash in a row, column or box: no solution can exist.
    public func checkGivens() throws {
        for (u, unit) in Sudoku.units.enumerated() {
            var seen = Set<UInt8>()
            for i in unit where cells[i] != 0 {
                if !seen.insert(cells[i]).inserted {
                    let kind = ["row", "column", "box"][u / 9]
                    throw SudokuError.impossible("digit \(cells[i]) appears twice in \(kind) \(u % 9 + 1)")
                }
            }
        }
    }

    /// True when every cell holds a digit and every unit holds 1...9 once.
    public var isComplete: Bool {
        guard !cells.contains(0) else { return false }
        return Sudoku.units.allSatisfy { unit in Set(unit.map { cells[$0] }).count == 9 }
    }

    /// A valid solution of `puzzle`: complete, by the rules, and keeping every given.
    public func solves(_ puzzle: Sudoku) -> Bool {
        isComplete && zip(puzzle.cells, cells).allSatisfy { $0 == 0 || $0 == $1 }
    }

    /// The grid drawn with box borders, for people.
    public var grid: String {
        var lines: [String] = []
        for r in 0..<9 {
            if r > 0 && r % 3 == 0 { lines.append("------+-------+------") }
            var row = ""
            for c in 0..<9 {
                if c > 0 && c % 3 == 0 { row += "| " }
                let v = cells[r * 9 + c]
                row += (v == 0 ? "." : String(v)) + (c == 8 ? "" : " ")
            }
            lines.append(row)
        }
        return lines.joined(separator: "\n")
    }
}

public enum SudokuError: Error, CustomStringConvertible, Equatable {
    case badLength(found: Int)
    case badCharacter(Character, position: Int)
    case impossible(String)

    public var description: String {
        switch self {
        case let .badLength(found): return "a Sudoku has 81 cells, found \(found) characters"
        case let .badCharacter(ch, position): return "character '\(ch)' at position \(position) is not 1-9, '.' or '0'"
        case let .impossible(why): return "the puzzle has no solution: \(why)"
        }
    }
}

/// One line of a puzzle file: `PUZZLE` or `PUZZLE SOLUTION` (the format of the shared eval data).
public struct SudokuLine: Sendable, Equatable {
    public var puzzle: Sudoku
    public var solution: Sudoku?

    /// Parses a whole file; errors name the 1-based line number. Blank lines and `#` comments are skipped.
    public static func parseFile(_ text: String, name: String) throws -> [SudokuLine] {
        var result: [SudokuLine] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            do {
                guard fields.count <= 2 else { throw SudokuError.badLength(found: line.count) }
                let puzzle = try Sudoku(parsing: fields[0])
                try puzzle.checkGivens()
                var solution: Sudoku?
                if fields.count == 2 {
                    let s = try Sudoku(parsing: fields[1])
                    guard s.solves(puzzle) else { throw SudokuError.impossible("the listed solution does not solve the puzzle") }
                    solution = s
                }
                result.append(SudokuLine(puzzle: puzzle, solution: solution))
            } catch let error as SudokuError {
                throw ModelError.badInput("\(name):\(n + 1): \(error)")
            }
        }
        return result
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}
