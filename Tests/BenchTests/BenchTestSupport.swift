import Foundation
import Runtime
import XCTest

/// Deterministic pseudo-random numbers for test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-scale, scale).
    mutating func float(_ scale: Float) -> Float { (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
}

enum BenchTestSupport {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recur-bench-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A tiny random TRM for Sudoku (hidden 64, one layer, one cycle, 4 ACT steps) with F16 linear
    /// weights, so that a whole bench runs in seconds and --types has something to quantize.
    static func tinyModel(at url: URL, seed: UInt64 = 1) throws {
        let c = ModelConfig(
            architecture: .trm, hiddenSize: 64, headCount: 2, kvHeadCount: 2, feedForwardLength: 256, tokenMixFeedForwardLength: 0,
            vocabSize: 11, seqLen: 81, puzzleEmbLen: 0, puzzleEmbDim: 0, puzzleCount: 1, hCycles: 1, lCycles: 1, lLayers: 1, hLayers: 0,
            haltMaxSteps: 4, haltRule: .qHaltPositive, positionEncoding: .rope, tokenMixer: .attention, ropeTheta: 10000, normEpsilon: 1e-5)
        var rng = SplitMix(seed: seed)
        func values(_ shape: [Int], _ scale: Float) -> [Float] { (0..<shape.reduce(1, *)).map { _ in rng.float(scale) } }
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

    static func python(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let message = "python3 \(args.first ?? "") failed (exit \(p.terminationStatus)); cannot compute the reference"
            if ProcessInfo.processInfo.environment["RECUR_REQUIRE_REFERENCE"] == "1" { throw ReferenceFailure(message: message) }
            throw XCTSkip(message)
        }
        return String(decoding: data, as: UTF8.self)
    }
}

struct ReferenceFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
