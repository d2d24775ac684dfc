import Foundation
import Runtime
import TestSupport
import XCTest

/// An attention controller attached to a causal LM (docs/attention-controller.md), on the tiny
/// random llama with a random controller: alpha 0 is the plain model bit for bit, steering
/// changes the logits, prefill and decode agree, the gate stays in [0, alpha_max], and files
/// that do not fit the model are refused with the key or tensor named.
final class AttentionControllerTests: XCTestCase {
    private var dir: URL!
    private var modelPath: String!

    override func setUpWithError() throws {
        dir = try Reference.temporaryDirectory("controller")
        modelPath = dir.appendingPathComponent("tiny.gguf").path
        try TinyLlama().write(to: URL(fileURLWithPath: modelPath))
    }

    private func controller(_ c: TinyController = TinyController(), name: String = "ctl.gguf") throws -> String {
        let url = dir.appendingPathComponent(name)
        try c.write(to: url)
        return url.path
    }

    private static let tokens: [Int32] = {
        var rng = SplitMix64(seed: 11)
        return (0..<40).map { _ in Int32(rng.next() % 256) }
    }()

    /// Teacher-forced logits of `tokens` and the gate's alphas per position.
    private func run(_ model: CausalModel, _ tokens: [Int32] = tokens, oneByOne: Bool = false) throws -> (logits: [Float], alphas: [[Float]]) {
        let context = try DecoderContext(model: model, contextSize: 64, threads: 2)
        if !oneByOne { return (try context.feedAll(tokens), context.gateAlphas) }
        var logits: [Float] = []
        for t in tokens { logits += try context.feedAll([t]) }
        return (logits, context.gateAlphas)
    }

    func testZeroAlphaIsThePlainModelBitForBit() throws {
        let plain = try run(CausalModel(path: modelPath)).logits
        let fileZero = try run(CausalModel(path: modelPath, controller: controller(TinyController(alphaMax: 0)))).logits
        let overridden = try run(CausalModel(path: modelPath, controller: controller(), alphaMax: 0))
        XCTAssertEqual(plain.map(\.bitPattern), fileZero.map(\.bitPattern), "alpha_max 0 in the file")
        XCTAssertEqual(plain.map(\.bitPattern), overridden.logits.map(\.bitPattern), "alpha_max overridden to 0")
        XCTAssertTrue(overridden.alphas.allSatisfy { $0 == [0, 0] }, "alpha 0 at every position")
    }

    func testSteeringChangesLogitsAndTheGateStaysInRange() throws {
        let plain = try run(CausalModel(path: modelPath)).logits
        for ceiling: Float in [1, 0.4] {
            let model = try CausalModel(path: modelPath, controller: controller(), alphaMax: ceiling)
            let (logits, alphas) = try run(model)
            XCTAssertEqual(alphas.count, Self.tokens.count)
            XCTAssertTrue(alphas.allSatisfy { $0.count == 2 && $0.allSatisfy { $0 > 0 && $0 <= ceiling } }, "alphas in (0, \(ceiling)]: \(alphas.prefix(3))")
            let diff = zip(plain, logits).map { abs($0 - $1) }.max() ?? 0
            XCTAssertGreaterThan(diff, 1e-3, "alpha_max \(ceiling): steering changed the logits by only \(diff)")
        }
    }

    /// The prompt in one call (prefill, GEMMs) and one token per call (decode) attend the same
    /// positions and mix the same slots.
    func testPrefillAndDecodeAgree() throws {
        let model = try CausalModel(path: modelPath, controller: controller(TinyController(layers: [1], heads: [1], window: 3)))
        let prefill = try run(model), decode = try run(model, oneByOne: true)
        for (i, (a, b)) in zip(prefill.logits, decode.logits).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-4 * (abs(a) + 1), "logit \(i)")
            if abs(a - b) > 1e-4 * (abs(a) + 1) { break }
        }
        for (a, b) in zip(prefill.alphas.joined(), decode.alphas.joined()) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    /// Greedy generation with the controller through `Generator`: the gate is recorded for the
    /// prompt and every fed token; truncating the context drops the gate rows with the tokens.
    func testGenerationRecordsTheGatePerToken() throws {
        let language = try LanguageModel(path: modelPath, controller: controller())
        let context = try DecoderContext(model: language.model, contextSize: 64, threads: 1)
        let result = try Generator(language: language, context: context)
            .generate(prompt: Array(Self.tokens.prefix(5)), options: GenerationOptions(maxTokens: 8, sampling: SamplingParameters(temperature: 0), ignoreEndOfGeneration: true))
        XCTAssertEqual(result.tokens.count, 8)
        XCTAssertEqual(context.gateAlphas.count, context.tokens.count)
        context.truncate(to: 3)
        XCTAssertEqual(context.gateAlphas.count, 3)
    }

    // MARK: bad input

    private func assertRefused(_ c: TinyController, alphaMax: Float? = nil, mentions: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try controller(c, name: "bad-\(UUID().uuidString).gguf")
        XCTAssertThrowsError(try CausalModel(path: modelPath, controller: path, alphaMax: alphaMax), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(mentions), "\(error) should mention \(mentions)", file: file, line: line)
        }
    }

    func testControllersForAnotherModelAreRefused() throws {
        var c = TinyController()
        c.set("attn_controller.target.embedding_length", .uint32(128))
        try assertRefused(c, mentions: "attn_controller.target.embedding_length is 128")
        c = TinyController()
        c.set("attn_controller.target.head_count", .uint32(8))
        try assertRefused(c, mentions: "attn_controller.target.head_count is 8")
        c = TinyController()
        c.set("attn_controller.target.block_count", .uint32(30))
        try assertRefused(c, mentions: "attn_controller.target.block_count is 30")
        c = TinyController()
        c.set("attn_controller.target.architecture", .string("qwen2"))
        try assertRefused(c, mentions: "'qwen2'")
        // Metadata that claims this model over tensors of another hidden size: the tensor is named.
        c = TinyController()
        c.reshapeTensor("ctl.1.fc1.weight", to: [TinyController.width, 128])
        try assertRefused(c, mentions: "ctl.1.fc1.weight")
        c = TinyController()
        c.reshapeTensor("gate.0.fc1.weight", to: [TinyController.gateWidth, TinyLlama.hidden + 2])
        try assertRefused(c, mentions: "gate.0.fc1.weight")
        // Slots for more heads than the file lists.
        c = TinyController()
        c.set("attn_controller.heads", .array([.uint32(0)]))
        try assertRefused(c, mentions: "ctl.0.fc2.weight")
        c = TinyController()
        c.set("attn_controller.layers", .array([.uint32(0), .uint32(5)]))
        try assertRefused(c, mentions: "block indices below 2")
        c = TinyController()
        c.set("attn_controller.heads", .array([.uint32(4)]))
        try assertRefused(c, mentions: "head indices below 4")
        c = TinyController()
        c.set("attn_controller.window", .uint32(0))
        try assertRefused(c, mentions: "window 0")
    }

    func testAlphaOutsideTheUnitIntervalIsRefused() throws {
        try assertRefused(TinyController(alphaMax: 1.5), mentions: "alpha_max must lie in [0, 1], got 1.5")
        try assertRefused(TinyController(), alphaMax: -0.1, mentions: "alpha_max must lie in [0, 1], got -0.1")
        try assertRefused(TinyController(), alphaMax: .nan, mentions: "alpha_max must lie in [0, 1]")
        XCTAssertThrowsError(try CausalModel(path: modelPath, alphaMax: 0.5)) { XCTAssertTrue("\($0)".contains("needs a controller")) }
    }

    func testAModelFileIsNotAController() throws {
        XCTAssertThrowsError(try CausalModel(path: modelPath, controller: modelPath)) { error in
            XCTAssertTrue("\(error)".contains("not an attention controller"), "\(error)")
        }
    }
}
