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
        // Row of byte 'a' (0x61) of the embedding, which is also the tied LM head: the prompt "a"
        // makes every logit NaN, the prompt "b" only logit 97.
        let bad = dir.appendingPathComponent("tiny-nan.gguf")
        try GGUFCopy.write(url, to: bad, changing: "token_embd.weight") { $0[0x61 * TinyLlama.hidden] = .nan }
        let run = try CLI.runGuarded(["generate", "--model", bad.path, "-p", "a", "-n", "4", "--temp", "0", "--json"])
        XCTAssertRefuses(run, mentioning: ["non-finite", "reply token 1"], "NaN logits")
        XCTAssertTrue(run.result.stderr.contains("token id 0 is nan"), run.result.stderr)
        XCTAssertFalse(run.result.stdout.contains("\"tokens\""), "no JSON record of garbage tokens")
        let one = try CLI.runGuarded(["generate", "--model", bad.path, "-p", "b", "-n", "4", "--temp", "0"])
        XCTAssertRefuses(one, mentioning: ["token id 97 is nan", "reply token 1"], "one NaN logit")
    }

    func testJSONLinesWriteNonFiniteNumbersAsNamedStrings() throws {
        let line = try JSONOutput.line(["a": Double.nan, "b": [1.5, Double.infinity, -Double.infinity], "c": ["d": Float.nan]])
        XCTAssertEqual(line, #"{"a":"NaN","b":[1.5,"Infinity","-Infinity"],"c":{"d":"NaN"}}"#)
        struct Figures: Encodable { var ratio: Double; var drift: [Float] }
        let data = try JSONOutput.encoder().encode(Figures(ratio: .infinity, drift: [0.25, .nan]))
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"{"drift":[0.25,"NaN"],"ratio":"Infinity"}"#)
    }
}

/// NaN and infinity in weights: refused by export, found by `inspect --check-tensors` and the
/// load-time `--check-tensors`, in every tensor type (a quantized block's scale included).
final class NonFiniteTensorTests: XCTestCase {
    func testExportRefusesANaNCheckpointTensorNamingItAndItsIndex() throws {
        try Reference.requireTorch()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Reference.runPython(["tools/testing/make_bad_checkpoints.py", dir.path])
        XCTAssertEqual(made.status, 0, made.stderr)
        let checkpoint = dir.appendingPathComponent("nan/step_1").path
        let out = dir.appendingPathComponent("nan.gguf")
        let refused = try CLI.runGuarded(["export", checkpoint, "-o", out.path, "--type", "q8_0"])
        XCTAssertRefuses(refused, mentioning: ["lm_head.weight", "nan", "index", "--allow-non-finite"], "a NaN checkpoint")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "no output file")

        let allowed = try CLI.run(["export", checkpoint, "-o", out.path, "--type", "f32", "--allow-non-finite"])
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        let file = try GGUFFile(path: out.path)
        let head = try XCTUnwrap(file.tensor("output.weight"))
        let check = try CLI.runGuarded(["inspect", out.path, "--check-tensors"])
        XCTAssertRefuses(check, mentioning: ["output.weight", "index \(2 * head.rowLength + 3)"], "inspect --check-tensors")
        XCTAssertTrue(check.result.stdout.contains("check-tensors:"), check.result.stdout)
        let solve = try CLI.runGuarded(["solve", "--model", out.path, "--check-tensors", "--input", Repo.root.appendingPathComponent("models/sudoku-samples.txt").path])
        XCTAssertRefuses(solve, mentioning: ["output.weight"], "solve --check-tensors")

        let clean = try CLI.run(["inspect", Repo.root.appendingPathComponent("models/trm-sudoku-att-q8_0.gguf").path, "--check-tensors"])
        XCTAssertEqual(clean.status, 0, clean.stderr)
        XCTAssertTrue(clean.stdout.contains("every value finite"), clean.stdout)
    }

    func testEveryTypeIsCheckedToTheValue() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = 4, cols = 64
        for type in [GGMLType.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1] {
            for (label, bad) in [("nan", Float.nan), ("inf", -Float.infinity)] {
                var values = (0..<rows * cols).map { Float($0 % 7) * 0.25 - 0.5 }
                let at = 2 * cols + 37
                values[at] = bad
                var writer = GGUFWriter()
                writer.add("general.architecture", .string("test"))
                try writer.addTensor(name: "fine", shape: [rows, cols], floats: values.map { $0.isFinite ? $0 : 0 }, type: type)
                try writer.addTensor(name: "broken", shape: [rows, cols], floats: values, type: type)
                let url = dir.appendingPathComponent("\(type.name)-\(label).gguf")
                try writer.write(to: url.path)
                let report = TensorCheck.run(try GGUFFile(path: url.path))
                XCTAssertEqual(report.tensors, 2, "\(type.name)")
                XCTAssertEqual(report.findings.map(\.tensor), ["broken"], "\(type.name) \(label)")
                let index = try XCTUnwrap(report.findings.first?.index)
                // A quantized block with a non-finite value gets a non-finite scale: the whole
                // 32-value block is reported, from its first value.
                let expected = type.isPlain ? at : at / 32 * 32
                XCTAssertEqual(index, expected, "\(type.name) \(label)")
                XCTAssertFalse(report.findings[0].value.isFinite)
            }
        }
    }

    func testAK_QuantBlockWithANaNScaleIsFound() throws {
        // One Q4_K block (256 values, 144 bytes): d and dmin are the first two f16 values.
        var block = [UInt8](repeating: 0x11, count: 144)
        block[0] = 0x00; block[1] = 0x7E  // d = NaN
        block[2] = 0x00; block[3] = 0x3C  // dmin = 1
        var writer = GGUFWriter()
        writer.add("general.architecture", .string("test"))
        try writer.addTensor(name: "k", shape: [1, 256], type: .q4_K, data: block)
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("k.gguf")
        try writer.write(to: url.path)
        let report = TensorCheck.run(try GGUFFile(path: url.path))
        XCTAssertEqual(report.findings.first?.tensor, "k")
        XCTAssertEqual(report.unchecked, [])
    }
}
