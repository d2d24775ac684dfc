import Foundation
import NSSR
import TestSupport
import XCTest

/// A guide whose heads are fixed: every function a logit of 0 except the favoured ones.
struct FixedGuide: SearchGuide {
    var functionNames: [String]
    var supervisionSteps: Int
    var heads: GuideHeads
    /// How many times `start` was called (one task each).
    let starts = Counter()

    final class Counter {
        var value = 0
    }

    /// `primary` etc. map function names to logits; `composition` is (none, sequential, nested, parallel).
    init(functions: [String] = Primitive.allCases.map(\.name), steps: Int = 4, primary: [String: Float] = [:], secondary: [String: Float] = [:],
         tertiary: [String: Float] = [:], composition: [Float] = [0, 0, 0, 0]) {
        functionNames = functions
        supervisionSteps = steps
        func logits(_ favoured: [String: Float]) -> [Float] { functions.map { favoured[$0] ?? 0 } }
        heads = GuideHeads(primary: logits(primary), secondary: logits(secondary), tertiary: logits(tertiary), composition: composition, halt: 0)
    }

    func start(rows: [[Double]]) throws -> () -> GuideHeads {
        starts.value += 1
        let heads = heads
        return { heads }
    }
}

/// A guide with no preference at all.
func uniformGuide(steps: Int = 2) -> FixedGuide { FixedGuide(steps: steps) }

/// Test tasks in the manner of the noise-column experiment (docs/nssr.md): integers, 30 rows.
enum Tasks {
    static func rows(_ count: Int = 30, seed: UInt64, _ make: (inout SplitMix64) -> [Double]) -> [[Double]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in make(&rng) }
    }

    static func int(_ rng: inout SplitMix64, _ range: ClosedRange<Int>) -> Double { Double(Int.random(in: range, using: &rng)) }

    /// SQUARE(x) with two junk columns: (x, j, j) -> x^2.
    static func square(seed: UInt64 = 1) throws -> TaskTable {
        try TaskTable(rows: rows(seed: seed) { r in
            let x = int(&r, -20...20)
            return [x, int(&r, -50...50), int(&r, -50...50), x * x]
        })
    }

    /// FORCE(m, a) with interleaved junk: (m, j, a, j) -> m a.
    static func force(seed: UInt64 = 2) throws -> TaskTable {
        try TaskTable(rows: rows(seed: seed) { r in
            let m = int(&r, 1...20), a = int(&r, 1...20)
            return [m, int(&r, -50...50), a, int(&r, -50...50), m * a]
        })
    }

    /// KE = 0.5 m v^2 with a column correlated to m: (m, corr, v).
    static func kineticEnergy(seed: UInt64 = 3) throws -> TaskTable {
        try TaskTable(rows: rows(seed: seed) { r in
            let m = int(&r, 1...20), v = int(&r, 1...20)
            return [m, (1.1 * m).rounded() + int(&r, -1...1), v, 0.5 * m * v * v]
        })
    }

    /// PE = m 9.81 h with junk on both sides: (j, m, h, j).
    static func potentialEnergy(seed: UInt64 = 4) throws -> TaskTable {
        try TaskTable(rows: rows(seed: seed) { r in
            let m = int(&r, 1...20), h = int(&r, 1...20)
            return [int(&r, -50...50), m, h, int(&r, -50...50), m * 9.81 * h]
        })
    }

    /// TOTAL_E = KE + PE: (m, v, j, h).
    static func totalEnergy(seed: UInt64 = 5) throws -> TaskTable {
        try TaskTable(rows: rows(seed: seed) { r in
            let m = int(&r, 1...20), v = int(&r, 1...20), h = int(&r, 1...20)
            return [m, v, int(&r, -50...50), h, 0.5 * m * v * v + m * 9.81 * h]
        })
    }
}

/// A fresh registry in a scratch folder.
func scratchRegistry(_ name: String = "registry.sqlite") throws -> (Registry, URL) {
    let dir = try Repo.temporaryDirectory("recur-nssr")
    let url = dir.appendingPathComponent(name)
    return (try Registry.create(path: url.path), url)
}

/// Asserts `body` throws an error whose description contains every one of `mentions`.
func XCTAssertThrows<T>(_ body: @autoclosure () throws -> T, mentioning mentions: [String], _ what: String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("\(what): did not throw (expected \(mentions))", file: file, line: line)
    } catch {
        let text = "\(error)"
        for m in mentions where !text.contains(m) {
            XCTFail("\(what): error '\(text)' does not mention '\(m)'", file: file, line: line)
        }
    }
}
