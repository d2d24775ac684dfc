import Foundation
import NSSR
import XCTest

/// The 22 primitives of docs/nssr.md: ids, names, arities, double semantics, and the iteration
/// primitives' bodies and caps.
final class PrimitiveTests: XCTestCase {
    let table = FunctionTable.primitives

    func id(_ p: Primitive) -> Int { p.rawValue }

    /// One row through the table (column-wise and scalar paths agree).
    func eval(_ p: Primitive, _ args: [Double], body: Primitive? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        let out = try table.evaluate(p.rawValue, body: body?.rawValue, rows: [args])
        XCTAssertEqual(out.count, 1, file: file, line: line)
        return out[0]
    }

    func testIdsNamesAndArities() {
        let expected: [(String, Int)] = [("OR", 2), ("AND", 2), ("NOT", 1), ("ADD", 2), ("SUB", 2), ("MUL", 2), ("INC", 1), ("DEC", 1), ("DIV", 2),
                                         ("LT", 2), ("LTE", 2), ("GT", 2), ("GTE", 2), ("EQ", 2), ("NEQ", 2), ("COND", 3), ("CONST", 1), ("NULL", 1),
                                         ("LOOP", 3), ("LOOP4", 4), ("WHILE", 3), ("ACCUM", 2)]
        XCTAssertEqual(Primitive.allCases.count, 22)
        for (i, p) in Primitive.allCases.enumerated() {
            XCTAssertEqual(p.rawValue, i + 1)
            XCTAssertEqual(p.name, expected[i].0)
            XCTAssertEqual(p.arity, expected[i].1, p.name)
            XCTAssertEqual(Primitive(name: p.name), p)
        }
        XCTAssertEqual(Primitive.allCases.filter(\.isIteration), [.loop, .loop4, .while, .accum])
        XCTAssertEqual(Primitive.loop.bodyArity, 2)
        XCTAssertEqual(Primitive.loop4.bodyArity, 3)
        XCTAssertEqual(Primitive.while.bodyArity, 2)
        XCTAssertEqual(Primitive.accum.bodyArity, 2)
    }

    func testLogic() throws {
        for (a, b) in [(0.0, 0.0), (0, 2.5), (-1, 0), (3, -4)] {
            XCTAssertEqual(try eval(.or, [a, b]), (a != 0 || b != 0) ? 1 : 0)
            XCTAssertEqual(try eval(.and, [a, b]), (a != 0 && b != 0) ? 1 : 0)
        }
        XCTAssertEqual(try eval(.not, [0]), 1)
        XCTAssertEqual(try eval(.not, [-0.0]), 1)
        XCTAssertEqual(try eval(.not, [0.25]), 0)
        XCTAssertEqual(try eval(.or, [.nan, 0]), 1, "NaN is not 0")
    }

    func testArithmetic() throws {
        XCTAssertEqual(try eval(.add, [2.5, -4]), -1.5)
        XCTAssertEqual(try eval(.sub, [2.5, -4]), 6.5)
        XCTAssertEqual(try eval(.mul, [2.5, -4]), -10)
        XCTAssertEqual(try eval(.inc, [2.5]), 3.5)
        XCTAssertEqual(try eval(.dec, [2.5]), 1.5)
        XCTAssertEqual(try eval(.div, [7, 2]), 3.5)
        XCTAssertEqual(try eval(.div, [7, 0]), 0, "DIV by 0 is 0")
        XCTAssertEqual(try eval(.div, [7, -0.0]), 0, "DIV by -0 is 0")
        XCTAssertEqual(try eval(.div, [0, 0]), 0)
        XCTAssertEqual(try eval(.add, [0.1, 0.2]), 0.1 + 0.2, "doubles, not floats")
    }

    func testComparisons() throws {
        for (a, b) in [(1.0, 2.0), (2, 2), (3, 2), (-0.0, 0)] {
            XCTAssertEqual(try eval(.lt, [a, b]), a < b ? 1 : 0)
            XCTAssertEqual(try eval(.lte, [a, b]), a <= b ? 1 : 0)
            XCTAssertEqual(try eval(.gt, [a, b]), a > b ? 1 : 0)
            XCTAssertEqual(try eval(.gte, [a, b]), a >= b ? 1 : 0)
            XCTAssertEqual(try eval(.eq, [a, b]), a == b ? 1 : 0)
            XCTAssertEqual(try eval(.neq, [a, b]), a != b ? 1 : 0)
        }
        XCTAssertEqual(try eval(.lt, [.nan, 1]), 0)
        XCTAssertEqual(try eval(.neq, [.nan, .nan]), 1)
    }

    func testCondConstNull() throws {
        XCTAssertEqual(try eval(.cond, [1, 5, 7]), 5)
        XCTAssertEqual(try eval(.cond, [-2, 5, 7]), 5)
        XCTAssertEqual(try eval(.cond, [0, 5, 7]), 7)
        XCTAssertEqual(try eval(.const, [42]), 1)
        XCTAssertEqual(try eval(.const, [0]), 1)
        XCTAssertEqual(try eval(.null, [42]), 0)
    }

    func testIterationCount() {
        XCTAssertEqual(Primitive.iterations(3), 3)
        XCTAssertEqual(Primitive.iterations(2.9), 2, "truncated")
        XCTAssertEqual(Primitive.iterations(-0.5), 0)
        XCTAssertEqual(Primitive.iterations(-7), 0)
        XCTAssertEqual(Primitive.iterations(5000), 1000, "capped")
        XCTAssertEqual(Primitive.iterations(.infinity), 0, "not finite: 0")
        XCTAssertEqual(Primitive.iterations(.nan), 0)
    }

    func testLoop() throws {
        // LOOP(n, init, x) with ADD: init + k x
        XCTAssertEqual(try eval(.loop, [4, 10, 3], body: .add), 22)
        XCTAssertEqual(try eval(.loop, [0, 10, 3], body: .add), 10)
        XCTAssertEqual(try eval(.loop, [-3, 10, 3], body: .add), 10)
        XCTAssertEqual(try eval(.loop, [3.7, 1, 2], body: .mul), 8, "k = trunc(3.7) = 3: 1 * 2^3")
        XCTAssertEqual(try eval(.loop, [5000, 0, 1], body: .add), 1000, "LOOP n=5000 stops at 1000")
        XCTAssertEqual(try eval(.loop, [.infinity, 7, 1], body: .add), 7)
        // LOOP4(n, init, x, y) with COND: acc = x if acc != 0 else y
        XCTAssertEqual(try eval(.loop4, [1, 1, 5, 6], body: .cond), 5)
        XCTAssertEqual(try eval(.loop4, [1, 0, 5, 6], body: .cond), 6)
        XCTAssertEqual(try eval(.loop4, [0, 9, 5, 6], body: .cond), 9)
        XCTAssertEqual(try eval(.loop4, [5000, 0, 5, 6], body: .cond), 5)
    }

    func testWhile() throws {
        // WHILE(init, limit, x) with ADD: counts up to the limit
        XCTAssertEqual(try eval(.while, [0, 10, 3], body: .add), 12)
        XCTAssertEqual(try eval(.while, [20, 10, 3], body: .add), 20, "condition false at once")
        // never terminates: acc stays 0 < 1
        let start = Date()
        XCTAssertEqual(try eval(.while, [0, 1, 0], body: .add), 0)
        // counts its iterations: stops after exactly 1000
        XCTAssertEqual(try eval(.while, [0, 1e9, 1], body: .add), 1000)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertTrue(try eval(.while, [.nan, 1, 1], body: .add).isNaN, "NaN < limit is false: returns init")
    }

    func testAccum() throws {
        // ACCUM(n, x) with ADD: sum of (i + x) for i < k
        XCTAssertEqual(try eval(.accum, [4, 10], body: .add), 0 + 1 + 2 + 3 + 40)
        XCTAssertEqual(try eval(.accum, [3, 2], body: .mul), (0 + 1 + 2) * 2)
        XCTAssertEqual(try eval(.accum, [0, 2], body: .add), 0)
        XCTAssertEqual(try eval(.accum, [5000, 0], body: .add), Double(999 * 1000 / 2), "capped at 1000 terms")
    }

    func testColumnWiseMatchesRows() throws {
        let rows: [[Double]] = [[1, 2], [0, -3], [4.5, 0], [-2, -2]]
        for p in Primitive.allCases where !p.isIteration && p.arity == 2 {
            let out = try table.evaluate(p.rawValue, rows: rows)
            for (i, r) in rows.enumerated() { XCTAssertEqual(out[i], p.apply(r[0], r[1]), "\(p.name) row \(i)") }
        }
    }

    func testMisuseIsRefused() {
        XCTAssertThrows(try table.evaluate(Primitive.loop.rawValue, rows: [[1, 2, 3]]), mentioning: ["LOOP", "body"])
        XCTAssertThrows(try table.evaluate(Primitive.loop.rawValue, body: Primitive.not.rawValue, rows: [[1, 2, 3]]), mentioning: ["arity 2"])
        XCTAssertThrows(try table.evaluate(Primitive.add.rawValue, rows: [[1]]), mentioning: ["ADD takes 2"])
        XCTAssertThrows(try table.evaluate(99, rows: [[1]]), mentioning: ["no function with id 99"])
    }
}
