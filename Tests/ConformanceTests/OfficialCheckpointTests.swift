import Export
import Foundation
import Runtime
import XCTest

/// The trained shared TRM, exported to F32, must predict what the official TinyRecursiveModels code
/// predicts in FP32 (../shared/data/sudoku_eval_200_official_fp32.json), token for token, at every
/// one of the 16 ACT steps of the first 200 eval puzzles.
final class OfficialCheckpointTests: XCTestCase {
    func testFirst200PuzzlesMatchOfficialFP32AtEveryStep() throws {
        let checkpoint = try Reference.requireShared("checkpoints/trm-sudoku-att/step_10788")
        let official = try Reference.requireShared("data/sudoku_eval_200_official_fp32.json")
        let data = try Reference.requireShared("data/sudoku_eval_2000.txt")
        let dir = try Reference.temporaryDirectory("official")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gguf = dir.appendingPathComponent("trm-f32.gguf").path
        _ = try CheckpointExporter.export(checkpoint: checkpoint.path, config: nil, output: gguf, type: .f32)
        let model = try RecursiveModel(path: gguf)

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: official)) as! [String: Any]
        let preds = json["preds"] as! [[[Int]]]
        let qHalt = json["q_halt"] as! [[Double]]
        let steps = preds.count, count = preds[0].count
        XCTAssertEqual(steps, 16)
        XCTAssertEqual(count, 200)

        let lines = try SudokuLine.parseFile(String(contentsOf: data, encoding: .utf8), name: data.path)
        let inputs = lines.prefix(count).map { ModelInput(tokens: $0.puzzle.tokens) }
        let runner = try ACTRunner(model: model, batchSize: 16, policy: .maxSteps, maxSteps: steps, threads: ProcessInfo.processInfo.activeProcessorCount)
        runner.recordEveryStep = true
        var outputs = [ModelOutput?](repeating: nil, count: count)
        try runner.run(Array(inputs)) { outputs[$0.index] = $0 }

        var mismatchedTokens = [Int](repeating: 0, count: steps)
        var flippedHalts = 0
        var maxQError = 0.0
        for p in 0..<count {
            guard let out = outputs[p] else { return XCTFail("puzzle \(p + 1): no output") }
            for s in 0..<steps {
                let ours = out.stepPredictions[s].map { Int($0) - 1 }
                mismatchedTokens[s] += zip(ours, preds[s][p]).filter { $0 != $1 }.count
                maxQError = max(maxQError, abs(Double(out.qHalt[s]) - qHalt[s][p]))
                if (out.qHalt[s] > 0) != (qHalt[s][p] > 0) { flippedHalts += 1 }
            }
        }
        print("official FP32 conformance: mismatched tokens per step \(mismatchedTokens), max |q_halt| error \(maxQError), halting decisions changed \(flippedHalts)")
        XCTAssertEqual(mismatchedTokens, [Int](repeating: 0, count: steps), "tokens differing from the official FP32 predictions, per ACT step")
        XCTAssertEqual(flippedHalts, 0, "halting decisions (q_halt > 0) differing from the official FP32 run")

        // The halting run the README quotes, recomputed from the official file and from ours.
        func firstHalt(_ q: (Int) -> Double) -> Int { (0..<steps).first { q($0) > 0 }.map { $0 + 1 } ?? steps }
        let officialSteps = (0..<count).map { p in firstHalt { qHalt[$0][p] } }
        let ourSteps = (0..<count).map { p in firstHalt { Double(outputs[p]!.qHalt[$0]) } }
        XCTAssertEqual(ourSteps, officialSteps)
    }
}
