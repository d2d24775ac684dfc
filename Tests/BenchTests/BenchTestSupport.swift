import Foundation
import Runtime
import TestSupport
import XCTest

enum BenchTestSupport {
    static var repoRoot: URL { Repo.root }

    static func temporaryDirectory() throws -> URL { try Repo.temporaryDirectory("recur-bench-test") }

    /// A tiny random TRM for Sudoku (hidden 64, one layer, one cycle, 4 ACT steps) with F16 linear
    /// weights, so that a whole bench runs in seconds and --types has something to quantize.
    static func tinyModel(at url: URL, seed: UInt64 = 1) throws {
        let c = ModelConfig(
            architecture: .trm, hiddenSize: 64, headCount: 2, kvHeadCount: 2, feedForwardLength: 256, tokenMixFeedForwardLength: 0,
            vocabSize: 11, seqLen: 81, puzzleEmbLen: 0, puzzleEmbDim: 0, puzzleCount: 1, hCycles: 1, lCycles: 1, lLayers: 1, hLayers: 0,
            haltMaxSteps: 4, haltRule: .qHaltPositive, positionEncoding: .rope, tokenMixer: .attention, ropeTheta: 10000, normEpsilon: 1e-5)
        var rng = SplitMix64(seed: seed)
        func values(_ shape: [Int], _ scale: Float) -> [Float] { (0..<shape.reduce(1, *)).map { _ in rng.float(-scale, scale) } }
        var w = GGUFWriter()
        for (key, value) in c.metadata { w.add(key, value) }
        w.add("general.file_type", .uint32(1))
        let h = c.hiddenSize, f = c.feedForwardLength
        try w.addTensor(name: "token_embd.weight", shape: [11, h], floats: values([11, h], 0.2), type: .f32)
        try w.addTensor(name: "h_init", shape: [h], floats: values([h], 1), type: .f32)
        try w.addTensor(name: "l_init", shape: [h], floats: values([h], 1), type: .f32)
        try w.addTensor(name: "output.weight", shape: [11, h], floats: values([11, h], 0.3), type: .f16)
        try w.addTensor(name: "qhead.weight", shape: [2, h], floats: values([2, h], 0.3), type: .f32)
        try w.addTensor(name: "qhead.bias", shape: [2], floats: [0.1, 0], type: .f32)
        let blocks: [(String, [Int])] = [("attn_qkv", [3 * h, h]), ("attn_output", [h, h]), ("ffn_gate", [f, h]), ("ffn_up", [f, h]), ("ffn_down", [h, f])]
        for (name, shape) in blocks {
            try w.addTensor(name: "L.blk.0.\(name).weight", shape: shape, floats: values(shape, 1 / Float(shape[1]).squareRoot()), type: .f16)
        }
        try w.write(to: url.path)
    }

    /// Writes three sample puzzles with solutions.
    static func puzzles(at url: URL) throws {
        let src = try String(contentsOf: repoRoot.appendingPathComponent("models/sudoku-samples.txt"), encoding: .utf8)
        let lines = src.split(separator: "\n").filter { !$0.hasPrefix("#") }.prefix(3)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    }
}
