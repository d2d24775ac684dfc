import Foundation
import Runtime
import TestSupport
import XCTest

/// `recur export` of an NSSR training run (docs/nssr.md): checkpoint.pt + all_config.yaml to GGUF
/// in F32 (bit-exact weights), F16 and Q8_0, with the function names the heads were trained for;
/// a configuration that does not fit the tensors names the tensor and writes nothing.
final class NSSRExportTests: XCTestCase {
    func testExportEveryTypeFromACheckpoint() throws {
        try Reference.requireTorch()
        try Reference.requireGGUF()
        let dir = try CLI.temporaryDirectory()
        try Reference.python(["tools/reference/nssr_gguf.py", "make-checkpoint", "--out", dir.path, "--functions", "24"])
        let checkpoint = dir.appendingPathComponent("checkpoint.pt").path
        let rows: [[Double]] = [[1, 2, 3], [4, 5, 20], [-1, 7, -7]]
        var primary: [String: [Float]] = [:]
        for type in ["f32", "f16", "q8_0"] {
            let out = dir.appendingPathComponent("nssr-\(type).gguf").path
            let r = try runSucceeding(["export", checkpoint, "--type", type, "-o", out], seconds: 60)
            XCTAssertTrue(r.stdout.contains("nssr, hidden 32, 49 tensors"), r.stdout)
            let model = try NSSRModel(path: out)
            XCTAssertEqual(model.functionNames, TinyNSSRModel.primitives + ["F23", "F24"])
            XCTAssertEqual(model.supervisionSteps, 3)
            primary[type] = try model.start(rows: rows).step().primary
        }
        let compared = try JSONSerialization.jsonObject(with: Data(Reference.python(
            ["tools/reference/nssr_gguf.py", "compare", "--gguf", dir.appendingPathComponent("nssr-f32.gguf").path, "--checkpoint", dir.path]).utf8)) as? [String: Any]
        let diffs = compared?["max_abs_diff"] as? [String: Double]
        XCTAssertEqual(diffs?.count, 49)
        XCTAssertEqual(diffs?.values.max(), 0, "F32 export keeps every weight exactly")
        let f32 = try XCTUnwrap(primary["f32"]), scale = f32.map(abs).max() ?? 1
        for type in ["f16", "q8_0"] {
            let err = zip(try XCTUnwrap(primary[type]), f32).map { abs($0 - $1) }.max()! / scale
            XCTAssertLessThan(err, 0.05, "\(type): primary logits relative to F32's")
        }

        let yaml = dir.appendingPathComponent("all_config.yaml")
        let text = try String(contentsOf: yaml, encoding: .utf8)
        try text.replacingOccurrences(of: "  - \"F24\"\n", with: "").write(to: yaml, atomically: true, encoding: .utf8)
        let bad = try CLI.run(["export", checkpoint, "-o", dir.appendingPathComponent("bad.gguf").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("head_primary.weight"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad.gguf").path), "no half-written file")
    }
}
