import Foundation
import NSSR
import XCTest

/// Task CSVs: an optional header, rows of numbers, the output last; bad input refused naming the
/// line (and column).
final class TaskTableTests: XCTestCase {
    func testHeaderRowsAndBlankLines() throws {
        let t = try TaskTable.parse("x, junk ,y\r\n1,2,1\n\n -3 , 4.5, 9 \n2e1,0,400\n", source: "sq.csv")
        XCTAssertEqual(t.header, ["x", "junk", "y"])
        XCTAssertEqual(t.rows, [[1, 2, 1], [-3, 4.5, 9], [20, 0, 400]])
        XCTAssertEqual(t.inputCount, 2)
        XCTAssertEqual(t.rowCount, 3)
        XCTAssertEqual(t.outputs, [1, 9, 400])
        XCTAssertEqual(t.inputs, [[1, 2], [-3, 4.5], [20, 0]])
        let plain = try TaskTable.parse("1,2\n3,4")
        XCTAssertNil(plain.header)
        XCTAssertEqual(plain.rows, [[1, 2], [3, 4]])
        XCTAssertEqual(try TaskTable.parse("\u{FEFF}a,b\n1,2\n3,4\n").header, ["a", "b"], "a byte-order mark is skipped")
    }

    func testBadInput() {
        let cases: [(String, [String])] = [
            ("1,2,3\n4,5\n", ["t.csv:2", "2 fields", "line 1 has 3"]),
            ("x,y\n1,2\n3,4,5\n", ["t.csv:3", "3 fields", "line 1 has 2"]),
            ("1,2\n3,abc\n", ["t.csv:2", "column 2", "'abc' is not a number"]),
            ("x,1\n2,3\n4,5\n", ["t.csv:1", "column 1", "'x'"]),
            ("1,2\n3,\n", ["t.csv:2", "column 2", "empty field"]),
            ("1,2\nnan,3\n", ["t.csv:2", "column 1", "not a finite number"]),
            ("1,inf\n2,3\n", ["t.csv:1", "column 2", "not a finite number"]),
            ("1,2\n3,-infinity\n", ["t.csv:2", "column 2", "not a finite number"]),
            ("1,1e999\n2,3\n", ["t.csv:1", "column 2", "not a finite number"]),
            ("x,y\n1,2\n", ["t.csv", "1 row", "at least 2"]),
            ("", ["t.csv", "0 rows", "at least 2"]),
            ("x,y\n", ["t.csv", "0 rows"]),
            ("1\n2\n3\n", ["t.csv", "1 column", "at least 1 input column"]),
        ]
        for (text, mentions) in cases {
            XCTAssertThrows(try TaskTable.parse(text, source: "t.csv"), mentioning: mentions, text.debugDescription)
        }
        XCTAssertThrows(try TaskTable.read(path: "/nonexistent/t.csv"), mentioning: ["cannot read"])
        XCTAssertThrows(try TaskTable(rows: [[1, 2], [3, .nan]]), mentioning: ["row 2, column 2"])
        XCTAssertThrows(try TaskTable(rows: [[1, 2], [3]]), mentioning: ["row 2 has 1 values"])
    }

    func testColumnNames() {
        XCTAssertEqual((0..<3).map(TaskTable.columnName), ["a", "b", "c"])
        XCTAssertEqual(TaskTable.columnName(25), "z")
        XCTAssertEqual(TaskTable.columnName(26), "aa")
        XCTAssertEqual(TaskTable.columnName(27), "ab")
        XCTAssertEqual(TaskTable.columnName(51), "az")
        XCTAssertEqual(TaskTable.columnName(52), "ba")
        XCTAssertEqual(TaskTable.columnName(26 + 26 * 26), "aaa")
    }
}
