import Foundation
import TestSupport
import XCTest

/// `recur generate` and `recur chat` with no `--model` run the shipped recursive LM
/// (models/rlm-kjv-q8_0.gguf) with per-token halting, and `--json` reports every token's ACT steps.
final class RecursiveLMCLITests: XCTestCase {
    private func succeed(_ args: [String], stdin: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        try runSucceeding(args, stdin: stdin, seconds: 120, file: file, line: line)
    }

    private func json(_ args: [String]) throws -> [String: Any] {
        let r = try succeed(["generate"] + args + ["--json"])
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
    }

    func testGenerateDefaultsToTheShippedRecursiveLM() throws {
        let prompt = ["-p", "And God said, Let there be light", "-n", "24", "--temp", "0"]
        let defaulted = try json(prompt)
        let named = try json(["-m", "models/rlm-kjv-q8_0.gguf"] + prompt)
        XCTAssertEqual(defaulted["tokens"] as? [Int], named["tokens"] as? [Int], "no --model runs models/rlm-kjv-q8_0.gguf")

        let tokens = try XCTUnwrap(defaulted["tokens"] as? [Int])
        let steps = try XCTUnwrap(defaulted["act_steps"] as? [Int], "act_steps in --json")
        XCTAssertEqual(tokens.count, 24)
        XCTAssertEqual(steps.count, tokens.count, "one ACT step count per generated token")
        XCTAssertEqual(defaulted["max_steps"] as? Int, 4, "the model's halt_max_steps")
        XCTAssertTrue(steps.allSatisfy { (1...4).contains($0) }, "steps within the cap: \(steps)")

        let full = try json(prompt + ["--halt", "max"])
        XCTAssertEqual(full["act_steps"] as? [Int], Array(repeating: 4, count: 24), "--halt max runs every token to the cap")
        let capped = try json(prompt + ["--halt", "max", "--max-steps", "2"])
        XCTAssertEqual(capped["act_steps"] as? [Int], Array(repeating: 2, count: 24), "--max-steps lowers the cap")
        XCTAssertEqual(capped["max_steps"] as? Int, 2)

        let plain = try succeed(["generate"] + prompt)
        XCTAssertTrue(plain.stdout.hasPrefix("And God said, Let there be light"), plain.stdout)
        XCTAssertTrue(plain.stderr.contains("act steps:"), "the ACT summary on stderr: \(plain.stderr)")
    }

    func testChatDefaultsToTheShippedRecursiveLM() throws {
        let r = try succeed(["chat", "-n", "16", "--temp", "0"], stdin: "In the beginning\nAnd the LORD spake\n")
        XCTAssertFalse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "two turns answered: \(r.stderr)")
    }

    func testImpossibleStepCapIsRefused() throws {
        let r = try CLI.runGuarded(["generate", "-p", "In", "-n", "2", "--max-steps", "0"], seconds: 60)
        XCTAssertRefuses(r, mentioning: ["max steps must be between 1 and"], "--max-steps 0")
    }
}
