import Foundation
import Runtime
import TestSupport
import XCTest

/// The rule-latent model's passes (docs/rule-latent.md) do only the work their result depends on;
/// on a tiny random model these checks hold without PyTorch:
/// - the fit's loss (outputs past the last target dropped, the last block and the output on the
///   target rows only, the first block's z-independent part computed once) equals the loss from
///   the logits of every position of the full sequences;
/// - batched greedy answers (each output position computed once, against kept keys and values)
///   equal decoding from the full sequence's logits one byte at a time;
/// - fits give the same bits at 1 and 2 threads, and reusing a fitter's buffers across fits of
///   other sizes changes nothing.
final class RulePassTests: XCTestCase {
    private var model: RuleModel!

    override func setUpWithError() throws {
        let dir = try Reference.temporaryDirectory("rule-pass")
        let path = dir.appendingPathComponent("tiny.gguf")
        try TinyRuleModel(seed: 11).write(to: path)
        model = try RuleModel(path: path.path)
    }

    private static let pairs = [("abc", "ABC"), ("hello", "HELLO!"), ("x", ""), ("ok go", "OK GO")]
    private static let z: [Float] = { var rng = SplitMix64(seed: 3); return rng.floats(TinyRuleModel.latent, -0.5, 0.5) }()

    func testFitLossEqualsTheLossOfEveryPosition() throws {
        var tokens: [Int32] = [], targets: [Int32] = []
        for (x, y) in Self.pairs {
            let s = try model.sequence(input: Array(x.utf8), output: Array(y.utf8))
            tokens += s.tokens
            targets += s.targets
        }
        let logits = try model.logits(tokens: tokens, z: Self.z)
        let length = model.length, vocab = model.vocab
        var ce = 0.0
        for p in 0..<Self.pairs.count {
            var sum = 0.0, count = 0
            for pos in 0..<length where targets[p * length + pos] >= 0 {
                let row = (0..<vocab).map { Double(logits[(p * length + pos) * vocab + $0]) }
                let top = row.max()!
                sum += log(row.map { exp($0 - top) }.reduce(0, +)) + top - row[Int(targets[p * length + pos])]
                count += 1
            }
            ce += sum / Double(count)
        }
        ce /= Double(Self.pairs.count)
        let fit = try model.lossAndGradient(tokens: tokens, targets: targets, z: Self.z, l2: 0)
        XCTAssertEqual(Double(fit.crossEntropy), ce, accuracy: 2e-6 * ce)
        XCTAssertEqual(fit.loss, fit.crossEntropy)
    }

    func testBatchedAnswersEqualFullSequenceDecoding() throws {
        let fitter = RuleFitter(model: model)
        let queries = ["dog", "a b", "", "12345678"].map { Array($0.utf8) }
        var expected: [[UInt8]] = []
        for q in queries {
            var out: [UInt8] = []
            while out.count < model.maxOutput {
                let s = try model.sequence(input: q, output: out)
                let logits = try model.logits(tokens: s.tokens, z: Self.z)
                let row = Array(logits[((model.prefix + out.count) * model.vocab)..<((model.prefix + out.count + 1) * model.vocab)])
                var best = 0
                for i in 1..<row.count where row[i] > row[best] { best = i }
                if best >= 256 { break }
                out.append(UInt8(best))
            }
            expected.append(out)
        }
        XCTAssertEqual(try fitter.answers(queries, z: Self.z), expected)
        XCTAssertEqual(try queries.map { try fitter.answer($0, z: Self.z) }, expected)
        XCTAssertEqual(try fitter.answers([], z: Self.z), [])
    }

    func testFitsAreTheSameAtAnyThreadCountAndAfterOtherFits() throws {
        var settings = RuleFitSettings()
        settings.steps = 6
        let pairs = Self.pairs.map { RulePair(input: Array($0.0.utf8), output: Array($0.1.utf8)) }
        let one = RuleFitter(model: model, settings: settings, threads: 1), two = RuleFitter(model: model, settings: settings, threads: 2)
        let first = try one.fit(pairs, start: Self.z)
        XCTAssertEqual(try two.fit(pairs, start: Self.z).z, first.z, "2 threads")
        _ = try one.fit(Array(pairs.prefix(2)))
        _ = try one.answers([Array("abc".utf8)], z: first.z)
        let again = try one.fit(pairs, start: Self.z)
        XCTAssertEqual(again.z, first.z, "after fits of other sizes")
        XCTAssertEqual(again.loss, first.loss)
    }
}
