import Bench
import Foundation
import XCTest

/// The regression rule, on runs built here: median_B > max_A + (max_B - min_B) is a regression.
final class ComparisonTests: XCTestCase {
    func run(_ rows: [(threads: Int, median: Double, min: Double, max: Double)], drift: [String: Double]? = nil) -> BenchRun {
        var r = BenchRun(kind: "throughput", startedAt: Date(), machine: BenchMachine(cpu: "c", isa: "avx2", cores: 2), gitCommit: "x", command: "c")
        for row in rows {
            r.measurements.append(BenchMeasurement(engine: "recur", modelPath: "m", modelSHA256: "h", modelType: "Q8_0", threads: row.threads, batch: 1,
                                                   halt: "max", puzzles: 8, repetitions: 3,
                                                   figures: ["ms_per_step_median": row.median, "ms_per_step_min": row.min, "ms_per_step_max": row.max]))
        }
        if let drift {
            r.measurements.append(BenchMeasurement(engine: "recur", modelPath: "m", modelSHA256: "h", modelType: "Q4_0", threads: 1, batch: 16,
                                                   halt: "qhead", puzzles: 8, repetitions: 1, figures: drift))
        }
        return r
    }

    func testFlagsOnlyChangesBeyondTheSpread() throws {
        let a = run([(1, 100, 95, 105), (2, 50, 48, 52), (4, 30, 29, 31), (8, 20, 19, 21)])
        let b = run([
            (1, 112, 110, 114),  // 112 > 105 + 4: regression
            (2, 55, 50, 60),     // 55 <= 52 + 10: noise
            (4, 25, 24.5, 25.5), // 25 < 29 - 1: improvement
            (16, 500, 500, 500), // no match in A: not compared
        ])
        let rows = Comparison.compare(a, b)
        XCTAssertEqual(rows.map(\.verdict), [.regression, .same, .improvement])
        XCTAssertEqual(rows[0].a, 100)
        XCTAssertEqual(rows[0].b, 112)
        XCTAssertEqual(rows[0].relativeChange, 0.12, accuracy: 1e-12)
    }

    func testDriftRegression() throws {
        let a = run([], drift: ["exact_rate": 0.5, "kl_mean": 0.10, "valid_rate": 0.8])
        let b = run([], drift: ["exact_rate": 0.45, "kl_mean": 0.1005, "valid_rate": 0.85])
        let verdicts = Dictionary(uniqueKeysWithValues: Comparison.compare(a, b).map { ($0.figure, $0.verdict) })
        XCTAssertEqual(verdicts["exact_rate"], .regression)
        XCTAssertEqual(verdicts["kl_mean"], .same)
        XCTAssertEqual(verdicts["valid_rate"], .improvement)
    }
}
