import Bench
import CKernels
import Foundation
import Runtime
import TestSupport
import XCTest

/// An attention controller steering a causal LM against the PyTorch reference
/// (tools/reference/attn_controller.py, docs/attention-controller.md): teacher-forced F32 logits
/// within 1e-4 relative error and the gate's alphas, in the scalar tier and the best one; on the
/// shipped SmolLM2 controller, the same greedy tokens on 5 prompts x 64 tokens.
final class AttentionControllerConformanceTests: XCTestCase {
    private static let script = "tools/reference/attn_controller.py"

    /// The reference's teacher-forced logits `[T, vocab]` (steered and plain) and alphas `[T, layers]`.
    private func reference(model: String, controller: String, ids: [Int32], alphaMax: Float? = nil) throws -> (steered: [Float], plain: [Float], alpha: [[Float]]) {
        let dir = try Reference.temporaryDirectory("controller-fixture")
        let out = dir.appendingPathComponent("fixture.json").path
        try Reference.python([Self.script, "fixtures", "--model", model, "--controller", controller, "--full", "--out", out,
                              "--prompt-ids", ids.map(String.init).joined(separator: ",")] + (alphaMax.map { ["--alpha-max", "\($0)"] } ?? []))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let alpha = try XCTUnwrap(json["alpha"] as? [[Double]]).map { $0.map(Float.init) }
        let base = dir.appendingPathComponent("fixture").path
        return (try NumpyArray(path: base + ".logits.npy").values, try NumpyArray(path: base + ".plain_logits.npy").values, alpha)
    }

    private func relativeError(_ ours: [Float], _ theirs: [Float]) -> Float {
        let scale = max(theirs.map(abs).max() ?? 1, 1e-30)
        return (zip(ours, theirs).map { abs($0 - $1) }.max() ?? .infinity) / scale
    }

    private func tiers() -> [recur_isa] {
        recur_isa_best() == RECUR_ISA_SCALAR ? [RECUR_ISA_SCALAR] : [RECUR_ISA_SCALAR, recur_isa_best()]
    }

    private func withTier<R>(_ isa: recur_isa, _ body: () throws -> R) throws -> R {
        let saved = recur_isa_active()
        XCTAssertEqual(recur_isa_set(isa), 0)
        defer { _ = recur_isa_set(saved) }
        return try body()
    }

    /// Teacher-forced logits and alphas of `ids` through Recur, in tier `isa`.
    private func recur(_ model: CausalModel, _ ids: [Int32], isa: recur_isa) throws -> (logits: [Float], alpha: [[Float]]) {
        try withTier(isa) {
            let context = try DecoderContext(model: model, contextSize: ids.count, threads: 2, maxBatch: 32)
            return (try context.feedAll(ids), context.gateAlphas)
        }
    }

    /// The tiny random llama with a random controller (two layers, three of four heads, window 4,
    /// a prompt longer than the window and than one 32-row batch).
    func testTinyModelMatchesReference() throws {
        try Reference.requireTorch()
        try Reference.requireGGUF()
        let dir = try Reference.temporaryDirectory("controller-tiny")
        let model = dir.appendingPathComponent("tiny.gguf").path, controller = dir.appendingPathComponent("ctl.gguf").path
        try TinyLlama().write(to: URL(fileURLWithPath: model))
        try TinyController().write(to: URL(fileURLWithPath: controller))
        var rng = SplitMix64(seed: 3)
        let ids = (0..<45).map { _ in Int32(rng.next() % 256) }
        for alphaMax: Float in [1, 0.3] {
            let ref = try reference(model: model, controller: controller, ids: ids, alphaMax: alphaMax)
            XCTAssertGreaterThan(relativeError(ref.plain, ref.steered), 1e-3, "the reference's steering changes its logits")
            let steered = try CausalModel(path: model, controller: controller, alphaMax: alphaMax), plain = try CausalModel(path: model)
            for isa in tiers() {
                let name = String(cString: recur_isa_name(isa))
                let ours = try recur(steered, ids, isa: isa)
                let err = relativeError(ours.logits, ref.steered)
                XCTAssertLessThanOrEqual(err, 1e-4, "\(name) alpha_max \(alphaMax): steered relative max logit error")
                XCTAssertLessThanOrEqual(relativeError(try recur(plain, ids, isa: isa).logits, ref.plain), 1e-4, "\(name): plain")
                XCTAssertEqual(ours.alpha.count, ref.alpha.count)
                for (a, b) in zip(ours.alpha.joined(), ref.alpha.joined()) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(name): gate alpha") }
                print("tiny llama + controller, \(name), alpha_max \(alphaMax): relative max logit error \(String(format: "%.1e", err))")
            }
        }
    }

    /// The shipped controller on the F32 student (SmolLM2-135M re-quantized to Q4_0, stored as
    /// F32; `scripts/setup.sh --llm` builds it): teacher-forced logits of held-out text, and
    /// greedy generation of 5 prompts x 64 tokens, token for token.
    func testShippedControllerMatchesReference() throws {
        try Reference.requireTorch()
        try Reference.requireGGUF()
        let student = Reference.repoRoot.appendingPathComponent(".cache/llm/smollm2-student-f32.gguf").path
        guard FileManager.default.fileExists(atPath: student) else {
            throw Reference.unavailable(".cache/llm/smollm2-student-f32.gguf is missing (scripts/setup.sh --llm builds it)")
        }
        let controller = Reference.repoRoot.appendingPathComponent("models/smollm2-attn-controller.gguf").path
        let language = try LanguageModel(path: student, controller: controller)
        let held = try String(contentsOf: Reference.repoRoot.appendingPathComponent("models/rlm-kjv-heldout.txt"), encoding: .utf8)
        let text = Array(language.tokenizer.encode(String(held.prefix(2000)), addSpecial: false).prefix(96))
        let ref = try reference(model: student, controller: controller, ids: text)
        for isa in tiers() {
            let ours = try recur(language.model, text, isa: isa)
            let err = relativeError(ours.logits, ref.steered)
            XCTAssertLessThanOrEqual(err, 1e-4, "\(String(cString: recur_isa_name(isa))): steered relative max logit error")
            for (a, b) in zip(ours.alpha.joined(), ref.alpha.joined()) { XCTAssertEqual(a, b, accuracy: 1e-4, "gate alpha") }
            print("SmolLM2 student F32 + shipped controller, \(String(cString: recur_isa_name(isa))): relative max logit error \(String(format: "%.1e", err))")
        }

        let prompts = ["The capital of France is", "Once upon a time, there was a", "def fibonacci(n):",
                       "The three primary colors are", "In the beginning God created"]
        let ids = prompts.map { language.tokenizer.encode($0, addSpecial: true) }
        let out = try Reference.python([Self.script, "generate", "--model", student, "--controller", controller, "-n", "64"]
                                       + ids.flatMap { ["--prompt-ids", $0.map(String.init).joined(separator: ",")] })
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.count, prompts.count)
        for (i, line) in lines.enumerated() {
            let expected = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["generated_ids"] as? [Int])
            let context = try DecoderContext(model: language.model, contextSize: ids[i].count + 64, threads: 2)
            let result = try Generator(language: language, context: context)
                .generate(prompt: ids[i], options: GenerationOptions(maxTokens: 64, sampling: SamplingParameters(temperature: 0), ignoreEndOfGeneration: true))
            XCTAssertEqual(result.tokens.map(Int.init), expected, "\(prompts[i]): greedy tokens with the controller")
        }
    }
}

/// `recur export` of a controller's training run (checkpoint + all_config.yaml) writes the
/// companion file the reference's own exporter writes, tensor for tensor; its logits then equal
/// the reference's.
final class AttentionControllerExportTests: XCTestCase {
    func testRecurExportEqualsTheReferenceExport() throws {
        try Reference.requireTorch()
        try Reference.requireGGUF()
        let dir = try Reference.temporaryDirectory("controller-export")
        try Reference.python(["tools/reference/attn_controller.py", "tiny-checkpoint", "--out", dir.path])
        let checkpoint = dir.appendingPathComponent("controller.pt").path
        let ours = dir.appendingPathComponent("recur.gguf").path, theirs = dir.appendingPathComponent("reference.gguf").path
        let r = try Subprocess.run(Repo.recurExecutable.path, ["export", checkpoint, "--type", "f32", "-o", ours])
        XCTAssertEqual(r.status, 0, r.stderr)
        try Reference.python(["tools/reference/attn_controller.py", "export", "--checkpoint", checkpoint, "--out", theirs])
        let a = try GGUFFile(path: ours), b = try GGUFFile(path: theirs)
        XCTAssertEqual(a.tensors.map(\.name).sorted(), b.tensors.map(\.name).sorted())
        for t in b.tensors { XCTAssertEqual(try a.floats(t.name), try b.floats(t.name), t.name) }
        for key in ["layers", "heads", "window", "alpha_max", "target.embedding_length", "target.head_count", "target.block_count"] {
            XCTAssertEqual(a.value("attn_controller.\(key)"), b.value("attn_controller.\(key)"), key)
        }
        let model = dir.appendingPathComponent("tiny.gguf").path
        try TinyLlama().write(to: URL(fileURLWithPath: model))
        XCTAssertNoThrow(try CausalModel(path: model, controller: ours))
    }
}
