import Foundation
import Runtime
import TestSupport
import XCTest

/// `recur generate` and `recur chat` end to end on the real SmolLM2-135M-Instruct (Q4_1): the JSON
/// report, streaming, determinism of greedy and seeded sampling, threads, prompt files, stop
/// strings, and a two-turn chat that reuses its KV cache.
final class GenerateTests: XCTestCase {
    static let prompt = "The capital of France is"
    static let greedy = ["-n", "16", "--temp", "0"]

    /// The greedy JSON run most tests compare against, run once per process.
    private static var greedyReport: Report?
    private static let lock = NSLock()

    private var model: URL!

    override func setUpWithError() throws {
        model = try Reference.requireSmolLM()
    }

    /// One `recur generate --json` object.
    struct Report {
        var promptTokens: [Int32]
        var tokens: [Int32]
        var text: String
        var finishReason: String
        var object: [String: Any]
    }

    private func succeed(_ args: [String], stdin: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        try runSucceeding(args, stdin: stdin, file: file, line: line)
    }

    private func generateJSON(_ extra: [String], prompt: String? = GenerateTests.prompt, file: StaticString = #filePath, line: UInt = #line) throws -> Report {
        var args = ["generate", "-m", model.path] + extra + ["--json"]
        if let prompt { args += ["-p", prompt] }
        let r = try succeed(args, file: file, line: line)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 2, "one JSON line and its newline: \(r.stdout)", file: file, line: line)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout, file: file, line: line)
        func ids(_ key: String) throws -> [Int32] {
            try XCTUnwrap(object[key] as? [Int], "\(key) is an array of ids: \(r.stdout)", file: file, line: line).map { Int32($0) }
        }
        return Report(promptTokens: try ids("prompt_tokens"), tokens: try ids("tokens"),
                      text: try XCTUnwrap(object["text"] as? String, file: file, line: line),
                      finishReason: try XCTUnwrap(object["finish_reason"] as? String, file: file, line: line), object: object)
    }

    private func greedyReport() throws -> Report {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if let report = Self.greedyReport { return report }
        let report = try generateJSON(Self.greedy)
        Self.greedyReport = report
        return report
    }

    /// The JSON object has every field: the prompt's ids as the tokenizer gives them, at most 16
    /// sampled ids (fewer only when an end-of-generation id ended the reply), their text, and
    /// positive speeds and peak memory.
    func testJSONReport() throws {
        let report = try greedyReport()
        for key in ["prompt_tokens", "tokens", "text", "finish_reason", "prompt_tokens_per_second", "tokens_per_second", "peak_resident_mib"] {
            XCTAssertNotNil(report.object[key], "missing \(key): \(report.object)")
        }
        let tokenizer = try Tokenizer(file: GGUFFile(path: model.path))
        XCTAssertEqual(report.promptTokens, tokenizer.encode(Self.prompt, addSpecial: true, parseSpecial: false))
        XCTAssertFalse(report.tokens.isEmpty)
        XCTAssertLessThanOrEqual(report.tokens.count, 16)
        if report.tokens.count < 16 {
            XCTAssertTrue(tokenizer.isEndOfGeneration(report.tokens.last!), "a short reply ends in an end-of-generation id: \(report.tokens)")
            XCTAssertEqual(report.finishReason, "stop")
        } else {
            XCTAssertEqual(report.finishReason, tokenizer.isEndOfGeneration(report.tokens.last!) ? "stop" : "length")
        }
        let shown = report.tokens.filter { !tokenizer.isEndOfGeneration($0) }
        XCTAssertEqual(report.text, tokenizer.decode(shown), "the text is the sampled tokens' text")
        XCTAssertFalse(report.text.isEmpty)
        for key in ["prompt_tokens_per_second", "tokens_per_second", "peak_resident_mib"] {
            let value = try XCTUnwrap(report.object[key] as? Double, "\(key) is a number")
            XCTAssertTrue(value.isFinite && value > 0, "\(key) = \(value)")
        }
    }

    /// Greedy decoding is deterministic: the same command gives the same tokens.
    func testGreedyRepeats() throws {
        let first = try greedyReport()
        let again = try generateJSON(Self.greedy)
        XCTAssertEqual(again.tokens, first.tokens)
        XCTAssertEqual(again.text, first.text)
    }

    /// Sampling with a seed repeats: the same seed gives the same tokens. (A different seed may or
    /// may not change them; it only has to run.)
    func testSeededSamplingRepeats() throws {
        let sampled = ["-n", "16", "--temp", "0.8"]
        let a = try generateJSON(sampled + ["--seed", "7"])
        let b = try generateJSON(sampled + ["--seed", "7"])
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.text, b.text)
        let other = try generateJSON(sampled + ["--seed", "8"])
        XCTAssertFalse(other.tokens.isEmpty)
    }

    /// Without --json the prompt and then the generated text stream to stdout, exactly the JSON's
    /// text, and the speeds and memory go to stderr.
    func testStreamingPrintsPromptThenText() throws {
        let report = try greedyReport()
        let r = try succeed(["generate", "-m", model.path, "-p", Self.prompt] + Self.greedy)
        XCTAssertTrue(r.stdout.hasPrefix(Self.prompt), r.stdout)
        XCTAssertEqual(r.stdout, Self.prompt + report.text + "\n")
        let lines = r.stderr.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("prompt:") && $0.contains("tokens/s") }, r.stderr)
        XCTAssertTrue(lines.contains { $0.hasPrefix("generation:") && $0.contains("tokens/s") }, r.stderr)
        XCTAssertTrue(lines.contains { $0.hasPrefix("memory:") && $0.contains("MiB") }, r.stderr)
    }

    /// The thread count changes how work is split, not the greedy tokens.
    func testThreadCountsAgree() throws {
        let one = try generateJSON(Self.greedy + ["--threads", "1"])
        let two = try generateJSON(Self.greedy + ["--threads", "2"])
        XCTAssertEqual(one.tokens, two.tokens)
    }

    /// `--file` reads the prompt from a file: the same prompt ids and tokens as `-p`.
    func testPromptFromFile() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("prompt.txt")
        try Data(Self.prompt.utf8).write(to: file)
        let fromFile = try generateJSON(Self.greedy + ["--file", file.path], prompt: nil)
        let report = try greedyReport()
        XCTAssertEqual(fromFile.promptTokens, report.promptTokens)
        XCTAssertEqual(fromFile.tokens, report.tokens)
    }

    /// `--stop` ends generation before the stop string: the text is the greedy text cut where the
    /// string first appears, in the JSON and in the stream alike.
    func testStopStringCutsText() throws {
        let full = try greedyReport().text
        // A few characters from the middle of the greedy text, so the cut is inside it.
        let chars = Array(full)
        try XCTSkipIf(chars.count < 6, "the greedy text is too short to cut: \(full.debugDescription)")
        let stop = String(chars[3..<6])
        let expected = String(full[..<full.range(of: stop)!.lowerBound])

        let cut = try generateJSON(Self.greedy + ["--stop", stop])
        XCTAssertEqual(cut.text, expected, "stop \(stop.debugDescription)")
        XCTAssertEqual(cut.finishReason, "stop")
        let streamed = try succeed(["generate", "-m", model.path, "-p", Self.prompt, "--stop", stop] + Self.greedy)
        XCTAssertEqual(streamed.stdout, Self.prompt + expected + "\n")
    }

    /// Negative values reach the sampler as values, not as unknown options: `--repeat-last-n -1`
    /// (the whole context, as documented) and a negative presence penalty run.
    func testNegativeOptionValuesParse() throws {
        let r = try generateJSON(["-n", "4", "--temp", "0", "--repeat-last-n", "-1", "--repeat-penalty", "1.1", "--presence-penalty", "-0.5"])
        XCTAssertFalse(r.tokens.isEmpty)
    }

    /// `recur chat` with two user lines on stdin (not a terminal): two replies, the first the same
    /// as `generate --chat` gives for that message; `--verbose` shows the second turn reusing the
    /// first turn's tokens from the KV cache, and changes nothing on stdout.
    func testChatTwoTurnsReuseTheCache() throws {
        let first = "What is the capital of France?", second = "And of Germany?"
        let args = ["chat", "-m", model.path, "-n", "24", "--temp", "0"]
        let plain = try succeed(args, stdin: "\(first)\n\(second)\n")
        let single = try generateJSON(["-n", "24", "--temp", "0", "--chat"], prompt: first)
        XCTAssertTrue(plain.stdout.hasPrefix(single.text + "\n"), "first reply \(single.text.debugDescription) in:\n\(plain.stdout)")
        let rest = plain.stdout.dropFirst(single.text.count + 1)
        XCTAssertTrue(rest.hasSuffix("\n"), plain.stdout)
        XCTAssertFalse(rest.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "a second reply: \(plain.stdout)")
        XCTAssertFalse(plain.stdout.contains("> "), "no prompt marker when stdin is not a terminal")

        let verbose = try succeed(args + ["--verbose"], stdin: "\(first)\n\(second)\n")
        XCTAssertEqual(verbose.stdout, plain.stdout)
        let turns = verbose.stderr.split(separator: "\n").filter { $0.contains("prompt tokens (") }
        XCTAssertEqual(turns.count, 2, verbose.stderr)
        func reused(_ line: Substring) -> Int? {
            guard let open = line.range(of: "("), let close = line.range(of: " reused)") else { return nil }
            return Int(line[open.upperBound..<close.lowerBound])
        }
        XCTAssertEqual(turns.first.flatMap(reused), 0, "the first turn starts from an empty cache: \(verbose.stderr)")
        let reusedSecond = try XCTUnwrap(turns.last.flatMap(reused), verbose.stderr)
        XCTAssertGreaterThan(reusedSecond, 0, "the second turn reuses the first turn's tokens: \(verbose.stderr)")
    }

    /// `recur inspect` on a language model names its description, tokenizer and chat template as
    /// the runtime reads them.
    func testInspectShowsLanguageModelFacts() throws {
        let out = try succeed(["inspect", model.path]).stdout
        XCTAssertTrue(out.contains("language model: llama, 30 pre-norm blocks, hidden 576, 9 heads / 3 kv heads of 64"), out)
        XCTAssertTrue(out.contains("RoPE base 100000.0, 64 dims, pairs"), out)
        XCTAssertTrue(out.contains("tokenizer: gpt2 (pre-tokenizer smollm), 49152 tokens"), out)
        XCTAssertTrue(out.contains("chat template:") && out.contains("renders"), out)
    }

    /// `generate --chat` streams the reply alone (the user's message is not echoed into it).
    func testChatStreamingPrintsOnlyTheReply() throws {
        let json = try generateJSON(["-n", "12", "--temp", "0", "--chat"], prompt: "Say hello.")
        let streamed = try succeed(["generate", "-m", model.path, "-n", "12", "--temp", "0", "--chat", "-p", "Say hello."])
        XCTAssertEqual(streamed.stdout, json.text + "\n")
    }
}
