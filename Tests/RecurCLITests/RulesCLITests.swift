import Foundation
import TestSupport
import XCTest

/// `recur rules` and `recur rules session` on a tiny random rule-latent model: answers on stdout,
/// sparsity and confidence on stderr, a session resuming from its memory, and bad input refused.
final class RulesCLITests: XCTestCase {
    private var dir: URL!
    private var model: String!

    override func setUpWithError() throws {
        dir = try CLI.temporaryDirectory()
        model = dir.appendingPathComponent("tiny-uzr.gguf").path
        try TinyRuleModel().write(to: URL(fileURLWithPath: model))
    }

    private func file(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testFitAndAnswer() throws {
        let examples = try file("ex.tsv", "abc\tABC\nhi\tHI\n\n")
        let r = try runSucceeding(["rules", "--model", model, "--examples", examples, "--query", "dog", "--query", "x", "--steps", "4"], seconds: 60)
        XCTAssertEqual(r.stdout.split(separator: "\n", omittingEmptySubsequences: false).count, 3, "one line per query: \(r.stdout)")
        XCTAssertTrue(r.stderr.contains("sparsity") && r.stderr.contains("confidence") && r.stderr.contains("after 4 steps on 2 examples"), r.stderr)
        let json = try runSucceeding(["rules", "fit", "--model", model, "--examples", examples, "--query", "dog", "--steps", "4", "--json"], seconds: 60)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((object["z"] as? [Double])?.count, TinyRuleModel.latent)
        XCTAssertEqual((object["answers"] as? [String])?.count, 1)
        // --l1 replaces the file's weight: a threshold larger than any step leaves z all zeros.
        let zeroed = try runSucceeding(["rules", "fit", "--model", model, "--examples", examples, "--query", "dog", "--steps", "4", "--l1", "1e6", "--json"], seconds: 60)
        let zeroedObject = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(zeroed.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((zeroedObject["z"] as? [Double])?.allSatisfy { $0 == 0 }, true, zeroed.stdout)
    }

    func testSessionResumesFromItsMemory() throws {
        let turns = try file("turns.jsonl", """
        {"examples": [["ab", "AB"], ["cd", "CD"]], "queries": ["ef"], "expected": ["EF"]}
        {"examples": [["x1", "1x"]], "queries": ["y2", "z3"]}
        {"queries": ["ab"]}

        """)
        let memory = dir.appendingPathComponent("memory.sqlite").path
        let first = try runSucceeding(["rules", "session", "--model", model, "--memory", memory, "--turns", turns, "--steps", "3", "--json"], seconds: 60)
        let lines = first.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, first.stdout)
        XCTAssertTrue(first.stderr.contains("3 turns") && first.stderr.contains("exact match"), first.stderr)
        let again = try runSucceeding(["rules", "session", "--model", model, "--memory", memory, "--steps", "3", "--json"], stdin: "{\"queries\": [\"ab\"]}\n", seconds: 60)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["turn"] as? Int, 4, "the session's turn count resumes from the memory")
    }

    func testBadInputIsRefused() throws {
        let good = try file("good.tsv", "a\tb\n")
        let bench = dir.appendingPathComponent("bench.sqlite").path
        _ = try runSucceeding(["bench", "history", "--history", bench], seconds: 60)
        let foreignBefore = try Data(contentsOf: URL(fileURLWithPath: bench))
        var invalid = Data("ab\t".utf8)
        invalid.append(contentsOf: [0xFF, 0xFE, 0x0A])
        let notUTF8 = dir.appendingPathComponent("bad.tsv")
        try invalid.write(to: notUTF8)
        let cases: [([String], String)] = [
            (["rules", "--model", model, "--examples", try file("empty.tsv", "\n\n"), "--query", "x"], "no examples"),
            (["rules", "--model", model, "--examples", try file("notab.tsv", "abc ABC\n"), "--query", "x"], "found no tab"),
            (["rules", "--model", model, "--examples", notUTF8.path, "--query", "x"], "not UTF-8"),
            (["rules", "--model", model, "--examples", try file("long.tsv", "abcdefghij\tx\n"), "--query", "x"], "at most 8"),
            (["rules", "--model", model, "--examples", good, "--query", "123456789"], "at most 8"),
            (["rules", "--model", model, "--examples", good + ".missing", "--query", "x"], "cannot read"),
            (["rules", "--model", model, "--examples", good, "--query", "x", "--l1=-1"], "--l1 must not be negative"),
            (["rules", "session", "--model", model, "--memory", bench], "another program"),
            (["rules", "session", "--model", model, "--turns", try file("t.jsonl", "[1, 2]\n")], "turn 1: not a JSON object"),
            (["rules", "session", "--model", model, "--turns", try file("t2.jsonl", "{\"examples\": [[\"a\"]]}\n")], "turn 1: an example must be [input, output]"),
        ]
        for (args, says) in cases {
            let r = try CLI.run(args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains(says), "\(args): \(r.stderr)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: bench)), foreignBefore, "the bench history was left untouched")
    }
}

/// `recur rules` with no --model runs the shipped model (models/uzr-rules-f32.gguf).
final class ShippedRulesCLITests: XCTestCase {
    func testRulesDefaultsToTheShippedModel() throws {
        let dir = try CLI.temporaryDirectory()
        let examples = dir.appendingPathComponent("upper.tsv")
        try "hello world\tHELLO WORLD\nabc def\tABC DEF\nquick fox\tQUICK FOX\nlazy dog\tLAZY DOG\n".write(to: examples, atomically: true, encoding: .utf8)
        let r = try runSucceeding(["rules", "--examples", examples.path, "--query", "make it loud"], seconds: 120)
        XCTAssertEqual(r.stdout, "MAKE IT LOUD\n", r.stderr)
        XCTAssertTrue(r.stderr.contains("confidence"), r.stderr)
    }
}
