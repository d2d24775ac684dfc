import Foundation
import Runtime
import TestSupport
import XCTest

/// Bad input to `recur generate`, `recur chat` and `recur solve` on language models: each is
/// refused with a non-zero exit of the program's own (no trap, no crash, no hang) and a message
/// naming what is wrong and where. The models are a tiny random llama (`TinyLlama`) and copies of
/// it with one key or tensor changed, written once for the class; the control test shows the
/// unchanged model generates, so each copy fails for its change alone.
final class GenerateBadInputTests: XCTestCase {
    private static var directory: URL!
    private static var models: [String: URL] = [:]
    private static var setupError: Error?

    /// Writes the valid tiny model and each broken copy.
    override class func setUp() {
        super.setUp()
        do {
            let dir = try CLI.temporaryDirectory()
            directory = dir
            func write(_ name: String, _ change: (inout TinyLlama) throws -> Void = { _ in }) throws {
                var model = try TinyLlama()
                try change(&model)
                let url = dir.appendingPathComponent("\(name).gguf")
                try model.write(to: url)
                models[name] = url
            }
            try write("valid")
            try write("gpt-j") { $0.set("general.architecture", .string("gpt-j")) }
            try write("bert-tokenizer") { $0.set("tokenizer.ggml.model", .string("bert")) }
            try write("no-tokenizer") { model in
                for key in model.metadata.map(\.key) where key.hasPrefix("tokenizer.") { model.set(key, nil) }
            }
            // blk.1.ffn_down.weight [64, 256] as Q4_K (one 144-byte block per row of 256; all-zero
            // blocks are valid), last in the file so that a larger declared size runs past its end.
            let kQuantBytes = [UInt8](repeating: 0, count: TinyLlama.hidden * 144)
            for name in ["q4k", "q4k-as-q6k", "q4k-bad-row"] {
                try write(name) { $0.replaceTensor("blk.1.ffn_down.weight", type: .q4_K, data: kQuantBytes, last: true) }
            }
            // Declared Q6_K (210 bytes a block): 13440 bytes where the file holds 9216.
            try GGUFPatch.setTensorType(models["q4k-as-q6k"]!, name: "blk.1.ffn_down.weight", dimensions: 2, to: .q6_K)
            // Rows of 128: not whole 256-element Q4_K blocks.
            try GGUFPatch.setTensorDimensions(models["q4k-bad-row"]!, name: "blk.1.ffn_down.weight", to: [128, 128])
        } catch {
            setupError = error
        }
    }

    override class func tearDown() {
        if let directory { try? FileManager.default.removeItem(at: directory) }
        super.tearDown()
    }

    override func setUpWithError() throws {
        if let error = Self.setupError { throw error }
    }

    private func model(_ name: String) -> String { Self.models[name]!.path }

    /// The unchanged tiny model and its Q4_K variant generate: the fixtures are sound, so the
    /// failures below come from the one thing each copy changes.
    func testTinyModelGenerates() throws {
        for name in ["valid", "q4k"] {
            let run = try CLI.runGuarded(["generate", "-m", model(name), "-p", "hello", "-n", "4", "--temp", "0", "--json"])
            XCTAssertFalse(run.timedOut, name)
            XCTAssertEqual(run.result.status, 0, "\(name): \(run.result.stderr)")
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.result.stdout.utf8)) as? [String: Any], run.result.stdout)
            let tokens = try XCTUnwrap(object["tokens"] as? [Int], run.result.stdout)
            XCTAssertTrue((1...4).contains(tokens.count), "\(name): \(tokens)")
            XCTAssertTrue(tokens.allSatisfy { (0..<TinyLlama.vocab).contains($0) }, "\(name): \(tokens)")
        }
    }

    /// An architecture no family reads: the error names the file, the architecture, and every
    /// architecture Recur runs.
    func testUnknownArchitectureListsTheSupportedOnes() throws {
        let path = model("gpt-j")
        let expected = [path, "general.architecture", "'gpt-j'"] + ModelFamilies.architectures.map { "'\($0)'" }
        XCTAssertTrue(ModelFamilies.architectures.contains("llama"))
        for command in ["generate", "chat"] {
            var args = [command, "-m", path, "-n", "2"]
            if command == "generate" { args += ["-p", "hello"] }
            XCTAssertRefuses(try CLI.runGuarded(args, stdin: "hello\n"), mentioning: expected, "\(command) on gpt-j")
        }
    }

    /// A tokenizer model other than byte-level BPE is named, with the key that holds it.
    func testUnknownTokenizerModel() throws {
        let path = model("bert-tokenizer")
        let run = try CLI.runGuarded(["generate", "-m", path, "-p", "hello", "-n", "2"])
        XCTAssertRefuses(run, mentioning: [path, "tokenizer.ggml.model", "\"bert\"", "gpt2"], "bert tokenizer")
        XCTAssertEqual(run.result.stdout, "", "nothing is generated")
    }

    /// A llama file without tokenizer keys: the missing key is named.
    func testMissingTokenizer() throws {
        let path = model("no-tokenizer")
        let run = try CLI.runGuarded(["generate", "-m", path, "-p", "hello", "-n", "2"])
        XCTAssertRefuses(run, mentioning: [path, "tokenizer.ggml.model", "missing"], "no tokenizer")
    }

    /// A prompt that does not fit `--ctx-size 8` is refused with the context size, before the
    /// prompt is echoed.
    func testPromptLongerThanTheContext() throws {
        // Byte tokens and no merges: one token per byte, 38 of them.
        let prompt = "a prompt much longer than eight tokens"
        let run = try CLI.runGuarded(["generate", "-m", model("valid"), "-p", prompt, "-n", "1", "--ctx-size", "8"])
        XCTAssertRefuses(run, mentioning: ["context size 8", "\(prompt.utf8.count) tokens"], "long prompt")
        XCTAssertEqual(run.result.stdout, "", "the prompt is not echoed when nothing can be generated")
    }

    /// A context larger than the model's `context_length` is refused with both numbers.
    func testContextLargerThanTheModel() throws {
        let larger = TinyLlama.contextLength + 1
        let run = try CLI.runGuarded(["generate", "-m", model("valid"), "-p", "hello", "-n", "1", "--ctx-size", "\(larger)"])
        XCTAssertRefuses(run, mentioning: ["\(larger)", "context_length \(TinyLlama.contextLength)"], "ctx-size")
    }

    /// A prompt file that is not UTF-8: the file and the offset of the first bad byte are named.
    func testPromptFileWithInvalidUTF8() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [([UInt8], Int)] = [
            (Array("abc".utf8) + [0xFF, 0x41], 3),
            (Array("é ok ".utf8) + [0xC3, 0x28], 6),  // a lead byte whose continuation is missing
            ([0xE2, 0x82], 0),  // a sequence cut at the end of the file
        ]
        for (i, (bytes, offset)) in cases.enumerated() {
            let file = dir.appendingPathComponent("bad\(i).txt")
            try Data(bytes).write(to: file)
            let run = try CLI.runGuarded(["generate", "-m", model("valid"), "--file", file.path, "-n", "1"])
            XCTAssertRefuses(run, mentioning: [file.path, "UTF-8", "offset \(offset)"], "case \(i)")
            XCTAssertEqual(run.result.stdout, "", "case \(i)")
        }
    }

    /// A prompt file that does not exist is named.
    func testMissingPromptFile() throws {
        let missing = Self.directory.appendingPathComponent("no-such-prompt.txt").path
        let run = try CLI.runGuarded(["generate", "-m", model("valid"), "--file", missing, "-n", "1"])
        XCTAssertRefuses(run, mentioning: [missing, "no such file"], "missing --file")
    }

    /// A K-quant tensor whose declared type needs more bytes than the file holds, and one whose rows
    /// are not whole blocks: the error names the tensor (the same file as Q4_K with whole rows loads,
    /// see `testTinyModelGenerates`).
    func testKQuantTensorWithWrongByteSize() throws {
        let tooLong = model("q4k-as-q6k")
        XCTAssertRefuses(try CLI.runGuarded(["generate", "-m", tooLong, "-p", "hello", "-n", "2"]),
                         mentioning: [tooLong, "blk.1.ffn_down.weight", "Q6_K"], "Q6_K size past the end")
        let badRow = model("q4k-bad-row")
        XCTAssertRefuses(try CLI.runGuarded(["generate", "-m", badRow, "-p", "hello", "-n", "2"]),
                         mentioning: [badRow, "blk.1.ffn_down.weight", "Q4_K", "128"], "Q4_K rows of 128")
    }

    /// A puzzle model given to `generate` or `chat` points to `recur solve`; a language model given
    /// to `solve` says it is a language model.
    func testModelKindMismatch() throws {
        let puzzle = "models/trm-sudoku-att-q8_0.gguf"
        XCTAssertRefuses(try CLI.runGuarded(["generate", "-m", puzzle, "-p", "hello", "-n", "2"]),
                         mentioning: [puzzle, "puzzle model", "recur solve"], "generate on TRM")
        XCTAssertRefuses(try CLI.runGuarded(["chat", "-m", puzzle], stdin: "hello\n"),
                         mentioning: [puzzle, "puzzle model", "recur solve"], "chat on TRM")
        let language = model("valid")
        XCTAssertRefuses(try CLI.runGuarded(["solve", "--model", language, "--input", "models/sudoku-samples.txt"]),
                         mentioning: [language, "language model", "recur generate"], "solve on llama")
    }

    /// `--threads 0` is refused with the allowed range.
    func testZeroThreads() throws {
        let generate = try CLI.runGuarded(["generate", "-m", model("valid"), "-p", "hello", "-n", "1", "--threads", "0"])
        XCTAssertRefuses(generate, mentioning: ["threads", "got 0"], "generate --threads 0")
        let chat = try CLI.runGuarded(["chat", "-m", model("valid"), "-n", "1", "--threads", "0"], stdin: "hello\n")
        XCTAssertRefuses(chat, mentioning: ["threads", "got 0"], "chat --threads 0")
    }

    /// Sampling values the sampler cannot use are refused before the model loads and before any
    /// output, naming the parameter and the value; negative values are read as values.
    func testInvalidSamplingValues() throws {
        let cases: [([String], [String])] = [
            (["--top-p", "-1"], ["topP", "-1.0"]),
            (["--top-p", "1.5"], ["topP", "1.5"]),
            (["--temp", "nan"], ["temperature", "nan"]),
            (["--temp", "inf"], ["temperature", "inf"]),
            (["--min-p", "2"], ["minP", "2.0"]),
            (["--repeat-penalty", "0"], ["repeatPenalty", "0.0"]),
            (["--repeat-last-n", "-2"], ["repeatLastN", "-2"]),
            (["--presence-penalty", "nan"], ["presencePenalty", "nan"]),
            (["-n", "-1"], ["n-predict", "-1"]),
        ]
        for (option, mentions) in cases {
            let run = try CLI.runGuarded(["generate", "-m", model("valid"), "-p", "hello"] + option)
            XCTAssertRefuses(run, mentioning: mentions, "\(option)")
            XCTAssertEqual(run.result.stdout, "", "\(option): nothing is printed")
        }
        let chat = try CLI.runGuarded(["chat", "-m", model("valid"), "--top-p", "-1"], stdin: "hello\n")
        XCTAssertRefuses(chat, mentioning: ["topP", "-1.0"], "chat --top-p -1")
        XCTAssertEqual(chat.result.stdout, "")
        // No room for a reply: said as such, not as a full context.
        let noReply = try CLI.runGuarded(["chat", "-m", model("valid"), "-n", "0"], stdin: "hello\n")
        XCTAssertRefuses(noReply, mentioning: ["n-predict", "at least 1"], "chat -n 0")
    }
}
