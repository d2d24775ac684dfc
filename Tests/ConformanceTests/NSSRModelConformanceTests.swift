import Foundation
import Runtime
import TestSupport
import XCTest

/// The NSSR model (docs/nssr.md) against the PyTorch reference (tools/reference/nssr_gguf.py
/// forward) on a tiny random file in F32, F16 and Q8_0: the features of every row read, and the
/// five heads of every supervision step within 1e-4 relative error.
final class NSSRModelConformanceTests: XCTestCase {
    private func relativeError(_ ours: [Float], _ theirs: [Double]) -> Double {
        let scale = max(theirs.map(abs).max() ?? 1, 1e-30)
        return (zip(ours, theirs).map { abs(Double($0) - $1) }.max() ?? .infinity) / scale
    }

    func testHeadsOfEverySupervisionStepMatchPyTorch() throws {
        try Reference.requireTorch()
        try Reference.requireGGUF()
        let dir = try Reference.temporaryDirectory("nssr")
        // Two inputs and six rows (one more than the model reads), and a task with fewer rows and
        // more inputs than a row holds.
        let tasks: [[[Double]]] = [
            [[3, -2, 5], [4, 0.5, 2.5], [-7, 9, 2], [12, 1, 13], [0, 0, 0], [100, -3.25, 96.75]],
            [[1.5, 2, 3, 4, 5], [-1, -2, -3, -4, -5], [7, 0, 0, 1, 8]],
        ]
        var worst = 0.0
        for type in [GGMLType.f32, .f16, .q8_0] {
            let path = dir.appendingPathComponent("tiny-\(type.name).gguf")
            try TinyNSSRModel().write(to: path, type: type)
            let model = try NSSRModel(path: path.path)
            for (t, rows) in tasks.enumerated() {
                let rowsFile = dir.appendingPathComponent("rows-\(t).json")
                try JSONSerialization.data(withJSONObject: rows).write(to: rowsFile)
                let out = try Reference.python(["tools/reference/nssr_gguf.py", "forward", "--gguf", path.path, "--rows", rowsFile.path])
                let ref = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
                XCTAssertEqual(ref["rows_read"] as? Int, min(rows.count, TinyNSSRModel.seqLen))
                // Compared as float32: Foundation's JSON parser may miss the double Python printed by an ulp.
                let features = try XCTUnwrap(ref["features"] as? [[Double]]).flatMap { $0 }.map { Float($0) }
                XCTAssertEqual(try model.features(rows: rows), features, "features, computed in double then rounded")
                let steps = try XCTUnwrap(ref["steps"] as? [[String: Any]])
                XCTAssertEqual(steps.count, TinyNSSRModel.steps)
                let run = try model.start(rows: rows)
                for (s, step) in steps.enumerated() {
                    let ours = run.step()
                    for (name, values) in [("primary", ours.primary), ("secondary", ours.secondary), ("tertiary", ours.tertiary),
                                           ("composition", ours.composition), ("halt", [ours.halt])] {
                        let theirs: [Double]
                        if let list = step[name] as? [Double] { theirs = list } else { theirs = [try XCTUnwrap(step[name] as? Double)] }
                        XCTAssertEqual(values.count, theirs.count, "\(type.name) task \(t) step \(s) \(name)")
                        let err = relativeError(values, theirs)
                        worst = max(worst, err)
                        XCTAssertLessThan(err, 1e-4, "\(type.name) task \(t) step \(s) \(name)")
                    }
                }
            }
        }
        print("nssr conformance: worst relative head error \(String(format: "%.1e", worst)) over F32, F16, Q8_0")
    }
}
