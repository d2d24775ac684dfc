import Export
import Foundation
import Runtime
import TestSupport
import XCTest

/// Every head kind against the PyTorch modules of tools/reference/recur_reference/qheads.py on
/// random weights and random state sequences, and inside the ACT runner with slot compaction.
final class QHeadKindTests: XCTestCase {
    static let variants: [(name: String, kind: QHeadKind, activation: QHeadActivation)] = [
        ("linear", .linear, .relu), ("mlp", .mlp, .relu), ("mlp_silu", .mlp, .silu), ("gru", .gru, .relu), ("attention", .attention, .relu),
    ]

    private func fixtures() throws -> URL {
        try Reference.requireTorch()
        let dir = try Reference.temporaryDirectory("qheads")
        try Reference.python(["tools/reference/qhead_fixtures.py", "--out", dir.path, "--hidden", "64", "--batch", "5", "--steps", "16"])
        return dir
    }

    /// A GGUF holding only the head, as `QHeadLoader` reads it from a model file.
    private func headFile(_ weights: QHeadWeights, type: GGMLType, in dir: URL, name: String) throws -> QHead {
        var writer = GGUFWriter()
        try weights.write(into: &writer, type: type)
        let path = dir.appendingPathComponent("\(name)-\(type.name).gguf").path
        try writer.write(to: path)
        guard let head = try QHeadLoader.load(file: GGUFFile(path: path), hidden: 64) else {
            throw XCTSkip("unreachable: the written file has no head")
        }
        return head
    }

    func testWrongKindIsRefusedWithTheFileName() throws {
        let dir = try fixtures()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("gru.safetensors").path
        XCTAssertThrowsError(try QHeadWeights.load(path: path, kind: .mlp)) { error in
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("fc1.weight"), "\(error)")
        }
        let mlp = dir.appendingPathComponent("mlp.safetensors").path
        XCTAssertThrowsError(try QHeadWeights.load(path: mlp, kind: .linear)) { error in
            XCTAssertTrue("\(error)".contains(mlp), "\(error)")
        }
    }

    func testEveryKindMatchesPyTorch() throws {
        let dir = try fixtures()
        defer { try? FileManager.default.removeItem(at: dir) }
        for v in Self.variants {
            let weights = try QHeadWeights.load(path: dir.appendingPathComponent("\(v.name).safetensors").path, kind: v.kind, activation: v.activation)
            let reference = try StateDict.load(dir.appendingPathComponent("\(v.name)_ref.safetensors").path)
            guard let statesT = reference["states"], let qT = reference["q"] else { return XCTFail("\(v.name): reference lacks states/q") }
            let states = try statesT.floats(), expected = try qT.floats()
            let (batch, steps, hidden) = (statesT.shape[0], statesT.shape[1], statesT.shape[2])
            let scale = max(expected.map(abs).max() ?? 1, 1e-6)
            for type in [GGMLType.f32, .q8_0] {
                let head = try headFile(weights, type: type, in: dir, name: v.name)
                XCTAssertEqual(head.kind, v.kind)
                let session = QHeadSession(head: head, capacity: batch)
                for b in 0..<batch { session.reset(slot: b) }
                var worst: Float = 0
                for t in 0..<steps {
                    var x = [Float]()
                    for b in 0..<batch { x += states[(b * steps + t) * hidden..<(b * steps + t + 1) * hidden] }
                    let q = session.evaluate(x, batch: batch)
                    for b in 0..<batch {
                        for i in 0..<2 { worst = max(worst, abs(q[2 * b + i] - expected[(b * steps + t) * 2 + i]) / scale) }
                    }
                }
                // F32 follows PyTorch to rounding; Q8_0 weights move the logits by about 1%.
                let tolerance: Float = type == .f32 ? 2e-5 : 3e-2
                XCTAssertLessThanOrEqual(worst, tolerance, "\(v.name) \(type.name): relative max error over \(steps) steps")
                print("\(v.name) \(type.name): relative max error \(worst)")
            }
        }
    }

    /// Slots taking new puzzles and moving (a batch smaller than the input count) must not change
    /// any sample's head state: halting steps and Q logits equal those of each puzzle run alone.
    func testSlotCompactionKeepsEachSampleState() throws {
        let dir = try fixtures()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Reference.python(["tools/reference/make_fixtures.py", "--out", dir.path, "--variants", "trm_att_rope"])
        let variant = dir.appendingPathComponent("trm_att_rope")
        let model = variant.appendingPathComponent("model.gguf").path
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: variant.appendingPathComponent("meta.json"))) as? [String: Any] ?? [:]
        let seqLen = (meta["sizes"] as? [String: Any])?["seq_len"] as? Int
        _ = try CheckpointExporter.export(checkpoint: variant.appendingPathComponent("step_1").path, config: nil, output: model, type: .f32,
                                          overrides: .init(seqLen: seqLen))
        let plain = try RecursiveModel(path: model)
        let c = plain.config
        var rng = SplitMix64(seed: 0x5eed)
        let inputs = (0..<9).map { _ in ModelInput(tokens: (0..<c.seqLen).map { _ in Int32.random(in: 1..<Int32(c.vocabSize), using: &rng) }) }
        let maxSteps = 12

        // Calibration rows are the official head's inputs: the official head on them gives the
        // runner's own q_halt series.
        let calibration = try QHeadCalibration.record(model: plain, inputs: Array(inputs.prefix(3)), steps: 4, batch: 2)
        XCTAssertEqual(calibration.count, 3 * 4 * c.hiddenSize)
        let official = QHeadSession(head: plain.officialHead, capacity: 12).evaluate(calibration, batch: 12)
        var byIndex: [Int: [Float]] = [:]
        try ACTRunner(model: plain, batchSize: 3, policy: .maxSteps, maxSteps: 4, threads: 1).run(Array(inputs.prefix(3))) { byIndex[$0.index] = $0.qHalt }
        for i in 0..<3 {
            for t in 0..<4 {
                XCTAssertEqual(official[2 * (i * 4 + t)], byIndex[i]?[t] ?? .nan, accuracy: 1e-4, "calibration row \(i), step \(t + 1)")
            }
        }
        for kind in ["gru", "attention", "mlp"] {
            let weights = try QHeadWeights.load(path: dir.appendingPathComponent("\(kind).safetensors").path, kind: QHeadKind(rawValue: kind)!)
            let attached = dir.appendingPathComponent("model-\(kind).gguf").path
            _ = try QHeadAttacher.attach(model: model, output: attached, head: weights, storage: .float(.f32), calibration: [])
            let net = try RecursiveModel(path: attached)
            XCTAssertEqual(net.attachedHead?.kind.rawValue, kind)

            // Alone, fixed steps: each puzzle's q_halt series; halt where q_halt reaches its median,
            // so samples stop at different steps.
            var alone: [[Float]] = []
            for x in inputs {
                let r = try ACTRunner(model: net, batchSize: 1, policy: .maxSteps, maxSteps: maxSteps, threads: 1)
                try r.run([x]) { alone.append($0.qHalt) }
            }
            // The threshold sits in a wide gap between recorded values, so last-bit differences
            // between batch shapes cannot move a decision.
            let all = alone.flatMap { $0 }.sorted()
            let gaps: [Float] = (0..<all.count - 1).map { all[$0 + 1] - all[$0] }
            func haltSteps(for gate: HazardGate) -> [Int] {
                alone.map { series in (series.firstIndex { gate.halts(qHalt: $0) } ?? (maxSteps - 1)) + 1 }
            }
            // Widest gaps first; the first that makes halting steps differ between puzzles.
            var chosen: (HazardGate, [Int])?
            for i in gaps.indices.sorted(by: { gaps[$0] > gaps[$1] }) where gaps[i] > 1e-2 {
                let gate = try HazardGate(k: 1, c: (Double(all[i]) + Double(all[i + 1])) / 2, threshold: 0.5)
                let s = haltSteps(for: gate)
                if Set(s).count > 1 { chosen = (gate, s); break }
            }
            guard let (gate, expectedSteps) = chosen else { return XCTFail("\(kind): no threshold makes halting steps vary") }

            let batched = try ACTRunner(model: net, batchSize: 3, policy: .hazard(gate), maxSteps: maxSteps, threads: 1)
            var steps = [Int](repeating: 0, count: inputs.count)
            var series = [[Float]](repeating: [], count: inputs.count)
            try batched.run(inputs) { steps[$0.index] = $0.steps; series[$0.index] = $0.qHalt }
            XCTAssertEqual(steps, expectedSteps, "\(kind): halting steps with batch 3 vs each puzzle alone")
            for i in inputs.indices {
                for (t, q) in series[i].enumerated() {
                    // The model itself differs in the last bits between batch 1 and batch 3 and 12
                    // recursive steps amplify that to ~1e-4; a state left in the wrong slot moves q by O(1).
                    XCTAssertEqual(q, alone[i][t], accuracy: 2e-3 * max(1, abs(alone[i][t])), "\(kind) puzzle \(i) step \(t + 1)")
                }
            }
            XCTAssertGreaterThan(batched.headDecisions, 0)
        }
    }
}
