import Foundation
import Runtime
import TestSupport
import XCTest

/// `recur export` of a rule-latent (UZR) training run: checkpoint.pt + all_config.yaml to GGUF in
/// F32 (bit-exact weights), F16 and Q8_0, with the run's fit settings; a configuration that does
/// not fit the tensors names the tensor.
final class RulesExportTests: XCTestCase {
    func testExportEveryTypeFromACheckpoint() throws {
        try Reference.requireTorch()
        try Reference.requireGGUF()
        let dir = try CLI.temporaryDirectory()
        try Reference.python(["tools/reference/uzr_gguf.py", "make-checkpoint", "--out", dir.path])
        let checkpoint = dir.appendingPathComponent("checkpoint.pt").path
        var gradients: [String: [Float]] = [:]
        for type in ["f32", "f16", "q8_0"] {
            let out = dir.appendingPathComponent("uzr-\(type).gguf").path
            let r = try runSucceeding(["export", checkpoint, "--type", type, "-o", out], seconds: 60)
            XCTAssertTrue(r.stdout.contains("uzr, hidden 32, 46 tensors"), r.stdout)
            let model = try RuleModel(path: out)
            XCTAssertEqual(model.fitDefaults.steps, 7, "the run's fit settings travel in the file")
            XCTAssertEqual(model.fitDefaults.learningRate, 0.05)
            let s = try model.sequence(input: Array("abc".utf8), output: Array("CBA".utf8))
            gradients[type] = try model.lossAndGradient(tokens: s.tokens, targets: s.targets, z: [Float](repeating: 0.1, count: model.latent), l2: 1e-3).gradient
        }
        let diffs = try JSONSerialization.jsonObject(with: Data(Reference.python(
            ["tools/reference/uzr_gguf.py", "compare", "--gguf", dir.appendingPathComponent("uzr-f32.gguf").path, "--checkpoint", checkpoint]).utf8)) as? [String: Double]
        XCTAssertEqual(diffs?.count, 46)
        XCTAssertEqual(diffs?.values.max(), 0, "F32 export keeps every weight exactly")
        let f32 = try XCTUnwrap(gradients["f32"]), scale = f32.map(abs).max() ?? 1
        for type in ["f16", "q8_0"] {
            let err = zip(try XCTUnwrap(gradients[type]), f32).map { abs($0 - $1) }.max()! / scale
            XCTAssertLessThan(err, 0.05, "\(type): d loss / d z relative to F32's")
            print("uzr export \(type): gradient relative difference to F32 \(String(format: "%.1e", err))")
        }

        let yaml = dir.appendingPathComponent("all_config.yaml")
        let text = try String(contentsOf: yaml, encoding: .utf8)
        try text.replacingOccurrences(of: "  k: 8", with: "  k: 16").write(to: yaml, atomically: true, encoding: .utf8)
        let bad = try CLI.run(["export", checkpoint, "-o", dir.appendingPathComponent("bad.gguf").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("blk.0.film_gamma.weight"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad.gguf").path), "no half-written file")
    }
}
