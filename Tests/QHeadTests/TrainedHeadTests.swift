import Export
import Foundation
import Runtime
import TestSupport
import XCTest

/// Heads trained by tools/reference on the shared TRM's own Q-head inputs, converted to every
/// format: each must keep the trained head's halting decisions (q_halt > 0) on those states.
final class TrainedHeadTests: XCTestCase {
    static let puzzles = 32, train = 24, steps = 16

    func testTrainedHeadsKeepTheirDecisionsInEveryFormat() throws {
        try Reference.requireTorch()
        _ = try Reference.requireShared("checkpoints/trm-sudoku-att")
        let dir = try Reference.temporaryDirectory("trained-heads")
        defer { try? FileManager.default.removeItem(at: dir) }
        let statesPath = dir.appendingPathComponent("states.safetensors").path
        try Reference.python(["tools/reference/record_qhead_states.py", "--limit", "\(Self.puzzles)", "--batch", "\(Self.puzzles)",
                              "--steps", "\(Self.steps)", "--out", statesPath])
        try Reference.python(["tools/reference/train_qheads.py", "--states", statesPath, "--out", dir.path,
                              "--train", "\(Self.train)", "--epochs", "200"])
        let recorded = try XCTUnwrap(try StateDict.load(statesPath)["states"])
        XCTAssertEqual(recorded.shape, [Self.puzzles, Self.steps, 512])
        let hidden = recorded.shape[2]
        let states = try recorded.floats()
        let calibration = Array(states[0..<Self.train * Self.steps * hidden])

        // Floors under the agreement measured when this test was written (see the README's
        // Q-head table for the same figures on 96 held-out puzzles).
        let floors: [String: Double] = ["q8_0": 0.98, "bnn": 0.90, "snn": 0.97]
        for kind in QHeadKind.allCases {
            let weights = try QHeadWeights.load(path: dir.appendingPathComponent("\(kind.rawValue).safetensors").path, kind: kind)
            let floatHead = try QHeadHarness.load(weights, .float(.f32), calibration: [], hidden: hidden)
            let reference = QHeadHarness.run(floatHead, states, steps: Self.steps)
            let fires = stride(from: 0, to: reference.count, by: 2).filter { reference[$0] > 0 }.count
            XCTAssertTrue(fires > 0 && fires < reference.count / 2, "\(kind): a trained head halts on some steps, not all (\(fires))")
            for (name, storage) in [("q8_0", QHeadStorage.float(.q8_0)), ("bnn", .bnn), ("snn", .snn(timesteps: 128, leak: 1))] {
                let head = try QHeadHarness.load(weights, storage, calibration: calibration, steps: Self.steps, hidden: hidden)
                let q = QHeadHarness.run(head, states, steps: Self.steps)
                let decisions = stride(from: 0, to: q.count, by: 2)
                let agree = Double(decisions.filter { (q[$0] > 0) == (reference[$0] > 0) }.count) / Double(decisions.underestimatedCount)
                print("trained \(kind.rawValue) \(name): \(head.byteSize) bytes (F32 \(floatHead.byteSize)), same decision on \(String(format: "%.1f", 100 * agree))% of \(Self.puzzles * Self.steps) states")
                XCTAssertGreaterThanOrEqual(agree, floors[name]!, "\(kind) \(name): decisions kept")
                if name == "bnn" {
                    XCTAssertGreaterThanOrEqual(floatHead.byteSize, 16 * head.byteSize, "\(kind): BNN \(head.byteSize) bytes vs F32 \(floatHead.byteSize)")
                }
            }
        }
    }
}
