import Export
import Foundation
import Runtime
import TestSupport
import XCTest

/// Every model variant of tools/reference (random-init TRM and HRM checkpoints saved the way
/// official training saves them) goes through `recur export` and the runtime, and must give the
/// PyTorch reference's logits, Q logits and halting steps.
final class FixtureConformanceTests: XCTestCase {
    static let variantsExpected = ["trm_att_rope", "trm_att_learned", "trm_att_none", "trm_mlp_t", "trm_puzzle_emb", "trm_plain_prefix", "hrm_att_rope", "hrm_att_learned"]

    func testEveryVariantMatchesPyTorch() throws {
        try Reference.requireTorch()
        let dir = try Reference.temporaryDirectory("fixtures")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Reference.python(["tools/reference/make_fixtures.py", "--out", dir.path])
        let variants = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        for expected in Self.variantsExpected {
            XCTAssertTrue(variants.contains(expected), "fixture variant \(expected) was not generated")
        }
        for variant in variants where !variant.hasPrefix(".") {
            try check(variant: dir.appendingPathComponent(variant))
        }
    }

    private func check(variant dir: URL) throws {
        let name = dir.lastPathComponent
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("meta.json"))) as? [String: Any] ?? [:]
        guard let checkpoint = meta["checkpoint"] as? String else { return XCTFail("\(name): meta.json names no checkpoint") }
        // A RoPE or no-position attention checkpoint does not pin its sequence length: pass it, as a user would.
        let seqLen = (meta["sizes"] as? [String: Any])?["seq_len"] as? Int
        let gguf = dir.appendingPathComponent("model.gguf").path
        _ = try CheckpointExporter.export(checkpoint: dir.appendingPathComponent(checkpoint).path, config: nil, output: gguf, type: .f32,
                                          overrides: .init(seqLen: seqLen))
        let model = try RecursiveModel(path: gguf)
        let c = model.config
        let reference = try StateDict.load(dir.appendingPathComponent("reference.safetensors").path)
        func tensor(_ key: String) throws -> [Float] {
            guard let t = reference[key] else { throw XCTSkip("\(name): reference.safetensors lacks \(key)") }
            return try t.floats()
        }
        let tokens = try tensor("inputs").map { Int32($0) }
        let puzzles = try tensor("puzzle_identifiers").map { Int32($0) }
        let batch = puzzles.count
        let inputs = (0..<batch).map { ModelInput(tokens: Array(tokens[$0 * c.seqLen..<($0 + 1) * c.seqLen]), puzzleIdentifier: puzzles[$0]) }

        // Fixed steps: logits and Q logits of every step. A batch smaller than the input count
        // exercises slot refills.
        let fixed = try ACTRunner(model: model, batchSize: max(1, batch - 1), policy: .maxSteps, threads: 2)
        fixed.recordLogits = true
        var outputs = [ModelOutput?](repeating: nil, count: batch)
        try fixed.run(inputs) { outputs[$0.index] = $0 }
        let cells = c.seqLen * c.vocabSize
        var worst: [Float] = []
        defer { print("\(name): relative max logit error per step \(worst.map { String(format: "%.1e", $0) })") }
        for step in 0..<c.haltMaxSteps {
            worst.append(0)
            let logits = try tensor("logits.\(step)"), qHalt = try tensor("q_halt.\(step)"), qContinue = try tensor("q_continue.\(step)")
            // Q logits: the same relative max error over the batch as the token logits.
            let qScale = max((qHalt + qContinue).map(abs).max() ?? 1, 1e-30)
            for b in 0..<batch {
                guard let out = outputs[b] else { return XCTFail("\(name): sample \(b) produced no output") }
                let ours = out.stepLogits[step], theirs = Array(logits[b * cells..<(b + 1) * cells])
                let scale = theirs.map(abs).max() ?? 1
                let err = zip(ours, theirs).map { abs($0 - $1) }.max() ?? 0
                worst[step] = max(worst[step], err / max(scale, 1e-30))
                XCTAssertLessThanOrEqual(err / max(scale, 1e-30), 1e-4, "\(name) step \(step + 1) sample \(b): relative max error")
                for cell in 0..<c.seqLen {
                    let row = cell * c.vocabSize..<(cell + 1) * c.vocabSize
                    XCTAssertEqual(argmax(ours[row]), argmax(theirs[row]), "\(name) step \(step + 1) sample \(b) cell \(cell): argmax")
                }
                XCTAssertLessThanOrEqual(abs(out.qHalt[step] - qHalt[b]) / qScale, 1e-4, "\(name) step \(step + 1) sample \(b): q_halt \(out.qHalt[step]) vs \(qHalt[b])")
                XCTAssertLessThanOrEqual(abs(out.qContinue[step] - qContinue[b]) / qScale, 1e-4, "\(name) step \(step + 1) sample \(b): q_continue \(out.qContinue[step]) vs \(qContinue[b])")
            }
        }

        // Q-head halting: every sample stops at the reference's step, with continuous batching.
        let haltSteps = try tensor("halt_step").map { Int($0) }
        let halting = try ACTRunner(model: model, batchSize: 2, policy: .qHead, threads: 1)
        var steps = [Int](repeating: 0, count: batch)
        try halting.run(inputs) { steps[$0.index] = $0.steps }
        XCTAssertEqual(steps, haltSteps, "\(name): halting steps")
        XCTAssertGreaterThan(Set(haltSteps).count, 1, "\(name): the fixture should halt samples at different steps")
    }

    private func argmax(_ x: ArraySlice<Float>) -> Int {
        var best = x.startIndex
        for i in x.indices where x[i] > x[best] { best = i }
        return best - x.startIndex
    }
}
