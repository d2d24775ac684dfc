import Runtime

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
        // The cells are 81 bytes; anything else is an error, which the Character walk below names
        // the way a reader counts (a multi-byte letter is one character).
        var bytes = [UInt8](repeating: 0, count: Sudoku.cellCount)
        var count = 0
        for byte in text.utf8 {
            guard count < Sudoku.cellCount, byte == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                count = -1
                break
            }
            bytes[count] = byte == UInt8(ascii: ".") ? 0 : byte - UInt8(ascii: "0")
            count += 1
        }
        if count == Sudoku.cellCount {
            cells = bytes
            return
        }
        guard text.count == Sudoku.cellCount else {
            throw SudokuError.badLength(found: text.count)
        }
        // A digit with a combining mark sorts between "1" and "9" but is no digit: test ASCII.
        for (i, ch) in text.enumerated() where !(ch.isASCII && (ch == "." || ch.isWholeNumber)) {
            throw SudokuError.badCharacter(ch, position: i + 1)
        }
        // 81 ASCII cells are 81 bytes, which the fast path took; kept so no input can trap.
        throw SudokuError.badLength(found: text.utf8.count)
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
            var seen: UInt16 = 0 // bit d: digit d seen
            for i in unit where cells[i] != 0 {
                let bit = UInt16(1) << cells[i]
                if seen & bit != 0 {
                    let kind = ["row", "column", "box"][u / 9]
                    throw SudokuError.impossible("digit \(cells[i]) appears twice in \(kind) \(u % 9 + 1)")
                }
                seen |= bit
            }
        }
    }

    /// True when every cell holds a digit and every unit holds 1...9 once.
    public var isComplete: Bool {
        guard !cells.contains(0) else { return false }
        let allDigits: UInt16 = 0b11_1111_1110
        return Sudoku.units.allSatisfy { unit in unit.reduce(UInt16(0)) { $0 | UInt16(1) << cells[$1] } == allDigits }
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

    /// Parses a file; errors name the 1-based line number. Blank lines and `#` comments are skipped.
    /// With `limit`, reading stops after that many puzzles (lines past them are not looked at).
    public static func parseFile(_ text: String, name: String, limit: Int? = nil) throws -> [SudokuLine] {
        var result: [SudokuLine] = []
        // Lines end at LF bytes, so CRLF files work too: the CR goes with the trimmed blanks.
        // (Splitting on the Character "\n" would not: Swift reads CR LF as one Character.)
        let bytes = text.utf8
        var start = bytes.startIndex, n = 0
        while start < bytes.endIndex {
            if let limit, result.count >= limit { break }
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            let raw = Substring(bytes[start..<end])
            start = end < bytes.endIndex ? bytes.index(after: end) : end
            n += 1
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
                throw ModelError.badInput("\(name):\(n): \(error)")
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
