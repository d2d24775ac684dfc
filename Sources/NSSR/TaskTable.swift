import Foundation

/// A task: rows of input columns and one output (the CSV's last column), every value a finite
/// double. The CSV may start with a header line whose fields are all non-numeric; blank lines are
/// skipped; fields are separated by commas and may be surrounded by spaces.
public struct TaskTable: Sendable, Equatable {
    /// The header's field names, if the file had one.
    public let header: [String]?
    /// `rows[i]`: the inputs, then the output.
    public let rows: [[Double]]

    public var rowCount: Int { rows.count }
    /// The number of input columns.
    public var inputCount: Int { rows[0].count - 1 }
    public var inputs: [[Double]] { rows.map { Array($0.dropLast()) } }
    public var outputs: [Double] { rows.map { $0[$0.count - 1] } }

    public init(rows: [[Double]], header: [String]? = nil, source: String = "the task") throws {
        guard rows.count >= 2 else {
            throw NSSRError("\(source): \(rows.count) row\(rows.count == 1 ? "" : "s") of examples; a task needs at least 2")
        }
        guard rows[0].count >= 2 else {
            throw NSSRError("\(source): \(rows[0].count) column\(rows[0].count == 1 ? "" : "s"); a task needs at least 1 input column and the output (the last column)")
        }
        for (i, r) in rows.enumerated() {
            guard r.count == rows[0].count else {
                throw NSSRError("\(source): row \(i + 1) has \(r.count) values, row 1 has \(rows[0].count)")
            }
            if let j = r.firstIndex(where: { !$0.isFinite }) {
                throw NSSRError("\(source): row \(i + 1), column \(j + 1): \(r[j]) is not a finite number")
            }
        }
        self.header = header
        self.rows = rows
    }

    /// Reads a task CSV.
    public static func read(path: String) throws -> TaskTable {
        guard let data = FileManager.default.contents(atPath: path) else { throw NSSRError("\(path): cannot read the examples") }
        guard let text = String(data: data, encoding: .utf8) else { throw NSSRError("\(path): not UTF-8 text") }
        return try parse(text, source: path)
    }

    /// Parses CSV text; errors name `source` and the line (and column) at fault.
    public static func parse(_ text: String, source: String = "the examples") throws -> TaskTable {
        var header: [String]?
        var rows: [[Double]] = []
        var width: (count: Int, line: Int)?
        let body = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        // "\r\n" is one Character in Swift: split on it as on "\n".
        let lines = body.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        for (n, line) in lines.enumerated() {
            let lineNumber = n + 1
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if let width, fields.count != width.count {
                throw NSSRError("\(source):\(lineNumber): \(fields.count) field\(fields.count == 1 ? "" : "s"), but line \(width.line) has \(width.count); every row needs the same columns")
            }
            if width == nil {
                width = (fields.count, lineNumber)
                if fields.allSatisfy({ Double($0) == nil }) {
                    header = fields
                    continue
                }
            }
            var row: [Double] = []
            row.reserveCapacity(fields.count)
            for (j, field) in fields.enumerated() {
                guard let v = Double(field) else {
                    let shown = field.isEmpty ? "an empty field" : "'\(field.prefix(40))'"
                    throw NSSRError("\(source):\(lineNumber): column \(j + 1): \(shown) is not a number")
                }
                guard v.isFinite else {
                    throw NSSRError("\(source):\(lineNumber): column \(j + 1): '\(field)' is not a finite number (NaN and infinities are refused)")
                }
                row.append(v)
            }
            rows.append(row)
        }
        guard rows.count >= 2 else {
            throw NSSRError("\(source): \(rows.count) row\(rows.count == 1 ? "" : "s") of numbers; a task needs at least 2 (an optional header line, then rows of numbers)")
        }
        guard rows[0].count >= 2 else {
            throw NSSRError("\(source): \(rows[0].count) column; a task needs at least 1 input column and the output (the last column)")
        }
        return try TaskTable(rows: rows, header: header, source: source)
    }

    /// The name of input column `j` in expressions: a, b, ..., z, then aa, ab, ..., az, ba, ...
    /// (bijective base 26).
    public static func columnName(_ j: Int) -> String {
        var n = j + 1, name = ""
        while n > 0 {
            n -= 1
            name = String(UnicodeScalar(UInt8(97 + n % 26))) + name
            n /= 26
        }
        return name
    }
}
