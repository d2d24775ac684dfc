import Foundation
import Runtime
import TestSupport
import XCTest

/// A model that produces NaN or infinity stops with an error naming the input and the step (or
/// token); nothing is printed as an answer and no output line is lost silently.
final class NonFiniteTests: XCTestCase {
    private let shipped = Repo.root.appendingPathComponent("models/trm-sudoku-att-q8_0.gguf")
    private let samples = Repo.root.appendingPathComponent("models/sudoku-samples.txt").path

    func testNaNOrInfinityInTheQHeadStopsSolveNamingPuzzleAndStep() throws {
        let dir = try CLI.temporaryDirectory()
        for (label, value) in [("nan", Float.nan), ("inf", Float.infinity)] {
            let bad = dir.appendingPathComponent("qhead-\(label).gguf")
            try GGUFCopy.write(shipped, to: bad, changing: "qhead.weight") { $0[0] = value }
            for format in ["jsonl", "text"] {
                let run = try CLI.runGuarded(["solve", "--model", bad.path, "--input", samples, "--format", format, "--limit", "2"])
                XCTAssertRefuses(run, mentioning: ["non-finite", "input 1", "ACT step 1"], "\(label) q-head, --format \(format)")
                XCTAssertFalse(run.result.stdout.contains("valid solution"), "no grid printed as an answer: \(run.result.stdout)")
                XCTAssertFalse(run.result.stdout.contains("\"prediction\""), "no JSON line printed as an answer")
            }
        }
    }

    func testNaNInAnEmbeddingRowStopsGenerationNamingTheToken() throws {
        let dir = try CLI.temporaryDirectory()
        let tiny = try TinyLlama()
        let url = dir.appendingPathComponent("tiny.gguf")
        try tiny.write(to: url)
        // Row of byte 'a' (0x61) of the embedding, which is also the tied LM head: logit 97 is NaN.
        let bad = dir.appendingPathComponent("tiny-nan.gguf")
        try GGUFCopy.write(url, to: bad, changing: "token_embd.weight") { $0[0x61 * TinyLlama.hidden] = .nan }
        let run = try CLI.runGuarded(["generate", "--model", bad.path, "-p", "a", "-n", "4", "--temp", "0", "--json"])
        XCTAssertRefuses(run, mentioning: ["non-finite", "reply token 1"], "NaN logits")
        XCTAssertTrue(run.result.stderr.contains("token id 97"), run.result.stderr)
        XCTAssertFalse(run.result.stdout.contains("\"tokens\""), "no JSON record of garbage tokens")
    }

    func testJSONLinesWriteNonFiniteNumbersAsNamedStrings() throws {
        let line = try JSONOutput.line(["a": Double.nan, "b": [1.5, Double.infinity, -Double.infinity], "c": ["d": Float.nan]])
        XCTAssertEqual(line, #"{"a":"NaN","b":[1.5,"Infinity","-Infinity"],"c":{"d":"NaN"}}"#)
        struct Figures: Encodable { var ratio: Double; var drift: [Float] }
        let data = try JSONOutput.encoder().encode(Figures(ratio: .infinity, drift: [0.25, .nan]))
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"{"drift":[0.25,"NaN"],"ratio":"Infinity"}"#)
    }
}
