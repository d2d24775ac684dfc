import Foundation
import Runtime
import TestSupport
import XCTest

/// The rule-latent model (docs/rule-latent.md) against the PyTorch reference
/// (tools/reference/uzr_gguf.py) on a tiny random model: the loss, its gradient with respect to z
/// (reverse mode through every block) within 1e-4 relative error of autograd, the fitted z after
/// Adam + L1 prox, and the greedy answers.
final class RuleModelConformanceTests: XCTestCase {
    private static let pairs: [(String, String)] = [("abc", "ABC"), ("hello", "HELLO"), ("x1y", "X1Y"), ("ok go", "OK GO")]
    private static let queries = ["dog", "a b", "zz9"]

    private func reference(_ model: String, z: [Float], steps: Int, dir: URL) throws -> [String: Any] {
        let pairs = dir.appendingPathComponent("pairs.json"), zFile = dir.appendingPathComponent("z.json"), q = dir.appendingPathComponent("q.json")
        try JSONSerialization.data(withJSONObject: Self.pairs.map { [$0.0, $0.1] }).write(to: pairs)
        try JSONSerialization.data(withJSONObject: z.map(Double.init)).write(to: zFile)
        try JSONSerialization.data(withJSONObject: Self.queries).write(to: q)
        let out = try Reference.python(["tools/reference/uzr_gguf.py", "check", "--gguf", model, "--pairs", pairs.path, "--z", zFile.path,
                                        "--queries", q.path, "--steps", "\(steps)"])
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
    }

    private func relativeError(_ ours: [Float], _ theirs: [Double]) -> Double {
        let scale = max(theirs.map(abs).max() ?? 1, 1e-30)
        return (zip(ours, theirs).map { abs(Double($0) - $1) }.max() ?? .infinity) / scale
    }

    func testForwardGradientFitAndAnswersMatchPyTorch() throws {
        try Reference.requireTorch()
        try Reference.requireGGUF()
        let dir = try Reference.temporaryDirectory("uzr")
        for activation in ["gelu", "relu"] {
            let path = dir.appendingPathComponent("tiny-\(activation).gguf")
            try TinyRuleModel(activation: activation).write(to: path)
            let model = try RuleModel(path: path.path)
            var rng = SplitMix64(seed: 9)
            let z = rng.floats(TinyRuleModel.latent, -0.5, 0.5)
            let ref = try reference(path.path, z: z, steps: 10, dir: dir)

            var tokens: [Int32] = [], targets: [Int32] = []
            for (x, y) in Self.pairs {
                let s = try model.sequence(input: Array(x.utf8), output: Array(y.utf8))
                tokens += s.tokens
                targets += s.targets
            }
            let ours = try model.lossAndGradient(tokens: tokens, targets: targets, z: z, l2: 1e-3)
            XCTAssertEqual(Double(ours.loss), try XCTUnwrap(ref["loss"] as? Double), accuracy: 1e-5 * abs(ref["loss"] as! Double), "\(activation): loss")
            let grad = try XCTUnwrap(ref["grad"] as? [Double])
            let gradError = relativeError(ours.gradient, grad)
            XCTAssertLessThanOrEqual(gradError, 1e-4, "\(activation): d loss / d z relative error")
            XCTAssertGreaterThan(grad.map(abs).max() ?? 0, 1e-3, "z matters to the loss")

            var settings = RuleFitSettings()
            settings.steps = 10
            let fitter = RuleFitter(model: model, settings: settings)
            let fit = try fitter.fit(Self.pairs.map { RulePair(input: Array($0.0.utf8), output: Array($0.1.utf8)) }, start: z)
            let fitError = relativeError(fit.z, try XCTUnwrap(ref["fit_z"] as? [Double]))
            XCTAssertLessThanOrEqual(fitError, 1e-3, "\(activation): fitted z")
            XCTAssertEqual(Double(fit.crossEntropy), try XCTUnwrap(ref["fit_ce"] as? Double), accuracy: 1e-3, "\(activation): ce after the fit")
            // Random weights answer with arbitrary bytes: compared as bytes (the reference writes them as Latin-1).
            let answers = try Self.queries.map { try fitter.answer(Array($0.utf8), z: fit.z) }
            let expected = try XCTUnwrap(ref["answers"] as? [String])
            XCTAssertEqual(answers, expected.map { $0.unicodeScalars.map { UInt8($0.value) } }, "\(activation): greedy answers")
            print("uzr tiny \(activation): gradient relative error \(String(format: "%.1e", gradError)), fitted z \(String(format: "%.1e", fitError))")
        }
    }
}

/// The shipped rule-latent model (models/uzr-rules-f32.gguf): z fitted on four examples and the
/// answers equal the PyTorch reference's, and the fit learns the rule (exact on both queries).
final class ShippedRuleModelTests: XCTestCase {
    func testShippedModelFitsLikeTheReference() throws {
        try Reference.requireTorch()
        try Reference.requireGGUF()
        let path = Reference.repoRoot.appendingPathComponent("models/uzr-rules-f32.gguf").path
        let model = try RuleModel(path: path)
        let pairs = [("hello world", "HELLO WORLD"), ("abc def", "ABC DEF"), ("quick fox", "QUICK FOX"), ("lazy dog", "LAZY DOG")]
        let queries = ["make it loud", "recur rules"]
        let dir = try Reference.temporaryDirectory("uzr-shipped")
        let pairsFile = dir.appendingPathComponent("pairs.json"), zFile = dir.appendingPathComponent("z.json"), qFile = dir.appendingPathComponent("q.json")
        try JSONSerialization.data(withJSONObject: pairs.map { [$0.0, $0.1] }).write(to: pairsFile)
        try JSONSerialization.data(withJSONObject: [Double](repeating: 0, count: model.latent)).write(to: zFile)
        try JSONSerialization.data(withJSONObject: queries).write(to: qFile)
        let s = model.fitDefaults
        let out = try Reference.python(["tools/reference/uzr_gguf.py", "check", "--gguf", path, "--pairs", pairsFile.path, "--z", zFile.path,
                                        "--queries", qFile.path, "--steps", "\(s.steps)", "--lr", "\(s.learningRate)", "--l1", "\(s.l1)", "--l2", "\(s.l2)"])
        let ref = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let fitter = RuleFitter(model: model)
        let fit = try fitter.fit(pairs.map { RulePair(input: Array($0.0.utf8), output: Array($0.1.utf8)) })
        let refZ = try XCTUnwrap(ref["fit_z"] as? [Double])
        let err = zip(fit.z, refZ).map { abs(Double($0) - $1) }.max()! / max(refZ.map(abs).max()!, 1e-30)
        XCTAssertLessThanOrEqual(err, 1e-3, "fitted z against the reference")
        let answers = try queries.map { String(decoding: try fitter.answer(Array($0.utf8), z: fit.z), as: UTF8.self) }
        XCTAssertEqual(answers, try XCTUnwrap(ref["answers"] as? [String]), "answers as the reference gives them")
        XCTAssertEqual(answers, queries.map { $0.uppercased() }, "the rule (upper case) learned from four examples")
        print("shipped uzr: fitted z relative error \(String(format: "%.1e", err)), confidence \(fit.confidence)")
    }
}
