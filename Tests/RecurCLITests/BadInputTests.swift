import Foundation
import Runtime
import TestSupport
import XCTest

/// Bad input gets a clear error naming the file, tensor or offset, a non-zero exit, and no output
/// file left behind.
final class BadInputTests: XCTestCase {
    /// A small valid GGUF written by Recur, for corrupting.
    private func smallModelFile(in dir: URL) throws -> URL {
        var w = GGUFWriter()
        w.add("general.architecture", .string("trm"))
        try w.addTensor(name: "token_embd.weight", shape: [4, 32], floats: (0..<128).map { Float($0) / 7 }, type: .f32)
        let url = dir.appendingPathComponent("small.gguf")
        try w.write(to: url.path)
        return url
    }

    func testTruncatedGGUF() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try smallModelFile(in: dir)
        let bytes = try Data(contentsOf: url)
        for cut in [3, 20, bytes.count / 2, bytes.count - 1] {
            let bad = dir.appendingPathComponent("cut\(cut).gguf")
            try bytes.prefix(cut).write(to: bad)
            let r = try CLI.run(["inspect", bad.path])
            XCTAssertNotEqual(r.status, 0, "cut at \(cut)")
            XCTAssertTrue(r.stderr.contains(bad.path), "the error names the file: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("offset"), "the error names a byte offset: \(r.stderr)")
        }
    }

    func testCorruptMagic() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try smallModelFile(in: dir)
        var bytes = try Data(contentsOf: url)
        bytes[0] = UInt8(ascii: "X")
        try bytes.write(to: url)
        let r = try CLI.run(["solve", "--model", url.path, "--input", "-"], stdin: String(repeating: ".", count: 81) + "\n")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(url.path), r.stderr)
    }

    func testUnknownTensorType() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try smallModelFile(in: dir)
        var bytes = try Data(contentsOf: url)
        // Tensor info: name, n_dims (u32), dims (u64 each), type (u32), offset (u64).
        let name = Data("token_embd.weight".utf8)
        let at = try XCTUnwrap(bytes.range(of: name)).upperBound
        let typeOffset = at + 4 + 2 * 8
        bytes.replaceSubrange(typeOffset..<typeOffset + 4, with: [99, 0, 0, 0])
        try bytes.write(to: url)
        let r = try CLI.run(["inspect", url.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("token_embd.weight"), "names the tensor: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("99"), "names the type id: \(r.stderr)")
    }

    func testModelMissingATensorIsRejectedAtLoad() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try smallModelFile(in: dir)
        let r = try CLI.run(["solve", "--model", url.path, "--input", "-"], stdin: String(repeating: ".", count: 81) + "\n")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(url.path), r.stderr)
    }

    /// Export refusals: the pickle that runs code, a missing tensor, a wrong shape. None leaves a file.
    func testExportRefusesBadCheckpoints() throws {
        try Reference.requireTorch()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try Reference.runPython(["tools/testing/make_bad_checkpoints.py", dir.path])
        XCTAssertEqual(made.status, 0, made.stderr)
        let expectations = [
            ("evil", "system"),
            ("missing", "L_level.layers.1.mlp.down_proj.weight"),
            ("shape", "lm_head.weight"),
        ]
        for (name, mention) in expectations {
            let out = dir.appendingPathComponent("\(name).gguf")
            let r = try CLI.run(["export", dir.appendingPathComponent("\(name)/step_1").path, "-o", out.path, "--type", "f32"])
            XCTAssertNotEqual(r.status, 0, "\(name): export must fail")
            XCTAssertTrue(r.stderr.contains(mention), "\(name): the error names '\(mention)': \(r.stderr)")
            XCTAssertFalse(r.stdout.contains("this checkpoint ran code"), "\(name): the pickle ran code")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "\(name): no output file is left behind")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("\(name).gguf") }
            XCTAssertEqual(leftovers, [], "\(name): no temporary file is left behind")
        }
        let good = dir.appendingPathComponent("valid.gguf")
        let r = try CLI.run(["export", dir.appendingPathComponent("valid/step_1").path, "-o", good.path, "--type", "f16"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let inspect = try CLI.run(["inspect", good.path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("architecture: trm"), inspect.stdout)
        XCTAssertTrue(inspect.stdout.contains("L.blk.1.ffn_down.weight"), inspect.stdout)
    }

    /// A thread count or batch the machine cannot take is refused before anything is allocated (a
    /// batch of 10^8 used to trap in an allocation, 100000 threads never came back); a batch
    /// larger than the input is cut to the input (--batch 4000 on 8 puzzles held 15 GiB).
    func testThreadAndBatchLimits() throws {
        let threads = try CLI.run(["solve", "--input", "models/sudoku-samples.txt", "--threads", "100000"])
        XCTAssertNotEqual(threads.status, 0)
        XCTAssertTrue(threads.stderr.contains("threads must be at most 1024, got 100000"), threads.stderr)

        let wide = try CLI.run(["solve", "--input", "models/sudoku-samples.txt", "--batch", "100000000", "--halt", "max", "--max-steps", "1"])
        XCTAssertEqual(wide.status, 0, wide.stderr)
        XCTAssertTrue(wide.stdout.contains("batch <= 8,"), wide.stdout)

        let model = try RecursiveModel(path: Repo.root.appendingPathComponent("models/trm-sudoku-att-q8_0.gguf").path)
        XCTAssertThrowsError(try ACTRunner(model: model, batchSize: 1 << 40, policy: .qHead)) {
            XCTAssertTrue("\($0)".contains("needs at least") && "\($0)".contains("GiB of working memory"), "\($0)")
        }
    }

    /// `-o` naming an input (the checkpoint, a hard link to it, the config beside it) is refused and
    /// the input keeps its bytes: the atomic rename used to replace the checkpoint with the GGUF.
    func testExportRefusesToOverwriteItsInput() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let checkpoint = dir.appendingPathComponent("step_1"), config = dir.appendingPathComponent("all_config.yaml")
        let link = dir.appendingPathComponent("step_1-link")
        try Data("not read: the output is checked first".utf8).write(to: checkpoint)
        try Data("arch: {}\n".utf8).write(to: config)
        try FileManager.default.linkItem(at: checkpoint, to: link)
        for output in [checkpoint, link, config] {
            let before = try Data(contentsOf: output)
            let r = try CLI.run(["export", checkpoint.path, "-o", output.path, "--type", "q8_0"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("would replace it"), r.stderr)
            XCTAssertEqual(try Data(contentsOf: output), before, output.lastPathComponent)
        }
    }

    func testMalformedPuzzleLinesNameTheLine() throws {
        let cases = [
            ("\(String(repeating: ".", count: 81))\n123\n", ":2:"),
            ("\(String(repeating: ".", count: 80))x\n", "position 81"),
            ("11\(String(repeating: ".", count: 79))\n", "no solution"),
            // A digit with a combining accent: one character, and not a digit (it used to trap).
            ("5\u{301}\(String(repeating: ".", count: 80))\n", "position 1"),
        ]
        for (input, mention) in cases {
            let r = try CLI.run(["solve", "--input", "-"], stdin: input)
            XCTAssertNotEqual(r.status, 0, input)
            XCTAssertTrue(r.stderr.contains(mention), "expected '\(mention)' in: \(r.stderr)")
        }
    }
}
