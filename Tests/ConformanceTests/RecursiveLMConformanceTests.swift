import Export
import Foundation
@testable import Runtime
import TestSupport
import XCTest

/// Random-init recursive causal LMs of every variant (TRM and HRM schedules, with and without a
/// memory bank; tools/reference/make_rlm_fixtures.py) go through `recur export` and the runtime
/// and must give the PyTorch reference's tokens, halting steps and logits.
final class RecursiveLMConformanceTests: XCTestCase {
    static let variants = ["rlm_trm", "rlm_trm_mem", "rlm_hrm_mem"]
    private static let lock = NSLock()
    private static var made: URL?

    /// The fixtures, made once per test process.
    private func fixtures() throws -> URL {
        try Reference.requireTorch()
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if let made = Self.made { return made }
        let dir = try Reference.temporaryDirectory("rlm-fixtures")
        try Reference.python(["tools/reference/make_rlm_fixtures.py", "--out", dir.path, "--quick"])
        Self.made = dir
        return dir
    }

    private struct Fixture {
        let name: String
        let model: CausalModel
        let reference: StateDict
        var prompts: Int { (0..<64).prefix { reference["prompt.\($0)"] != nil }.count }

        func ints(_ key: String) throws -> [Int32] { try floats(key).map { Int32($0) } }

        func floats(_ key: String) throws -> [Float] {
            guard let t = reference[key] else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSDebugDescriptionErrorKey: "\(name): reference.safetensors lacks \(key)"]) }
            return try t.floats()
        }
    }

    /// Exports `variant`'s checkpoint to GGUF (`type`) and loads it.
    private func load(_ variant: String, type: GGMLType = .f32, checkpoint: String? = nil) throws -> Fixture {
        let dir = try fixtures().appendingPathComponent(variant)
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("meta.json"))) as? [String: Any] ?? [:]
        let source = checkpoint ?? (meta["checkpoint"] as? String ?? "checkpoint.pt")
        let gguf = dir.appendingPathComponent("model-\(type.name)-\(source).gguf").path
        _ = try CheckpointExporter.export(checkpoint: dir.appendingPathComponent(source).path, config: nil, output: gguf, type: type)
        let model = try CausalModel(path: gguf)
        return Fixture(name: variant, model: model, reference: try StateDict.load(dir.appendingPathComponent("reference.safetensors").path))
    }

    private func argmax(_ row: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in row.indices where row[i] > row[best] { best = i }
        return Int32(best)
    }

    /// Greedy generation one sequence at a time: the prompt in one call, then token by token.
    private func greedy(_ f: Fixture, prompt: [Int32], count: Int, policy: HaltingPolicy) throws -> (tokens: [Int32], steps: [Int32]) {
        let context = try DecoderContext(model: f.model, contextSize: 256, threads: 2)
        try context.setHalting(policy)
        var logits = try context.feed(prompt)
        var tokens: [Int32] = []
        while tokens.count < count {
            tokens.append(argmax(logits))
            if tokens.count < count { logits = try context.feed([tokens.last!]) }
        }
        return (tokens, context.cache.positionSteps)
    }

    func testGreedyGenerationMatchesReferenceTokenForToken() throws {
        for variant in Self.variants {
            let f = try load(variant)
            XCTAssertGreaterThanOrEqual(f.prompts, 5, "\(variant): at least 5 prompts")
            var histogram = [Int: Int]()
            for i in 0..<f.prompts {
                let prompt = try f.ints("prompt.\(i)")
                for (policy, suffix) in [(HaltingPolicy.qHead, ""), (.maxSteps, "_max")] {
                    let expected = try f.ints("greedy\(suffix).\(i)"), expectedSteps = try f.ints("steps\(suffix).\(i)")
                    let (tokens, steps) = try greedy(f, prompt: prompt, count: expected.count, policy: policy)
                    XCTAssertEqual(tokens, expected, "\(variant) prompt \(i) \(policy): generated tokens")
                    XCTAssertEqual(steps, expectedSteps, "\(variant) prompt \(i) \(policy): ACT steps per position")
                    if policy == .qHead { for s in steps { histogram[Int(s), default: 0] += 1 } }
                }
            }
            print("\(variant): ACT steps per position with Q-head halting \(histogram.sorted { $0.key < $1.key })")
            XCTAssertGreaterThan(histogram.count, 1, "\(variant): the fixture should halt tokens at different steps")
        }
    }

    /// Every prompt at once: prefills, then decode steps whose rows are different sequences at
    /// different positions (continuous batching), each row halting on its own.
    func testBatchedDecodingMatchesOneSequenceAtATime() throws {
        let f = try load("rlm_hrm_mem")
        let model = f.model
        let n = f.prompts
        let ws = DecoderWorkspace(model: model, contextSize: 256, maxBatch: 64, threads: 2)
        ws.reserveLogits(rows: n, vocab: model.vocabSize)
        let caches = try (0..<n).map { _ in try model.makeCache(capacity: 256) }
        var next: [Int32] = []
        var generated = [[Int32]](repeating: [], count: n)
        for i in 0..<n {
            model.forward(try f.ints("prompt.\(i)")[...], cache: caches[i], ws: ws, allLogits: false)
            next.append(argmax(UnsafeBufferPointer(start: ws.logits.pointer, count: model.vocabSize)))
        }
        let count = try f.ints("greedy.0").count
        for _ in 0..<count {
            for i in 0..<n { generated[i].append(next[i]) }
            if generated[0].count == count { break }
            model.decodeStep(next, caches: caches, ws: ws)
            next = (0..<n).map { argmax(UnsafeBufferPointer(start: ws.logits.pointer + $0 * model.vocabSize, count: model.vocabSize)) }
        }
        for i in 0..<n {
            XCTAssertEqual(generated[i], try f.ints("greedy.\(i)"), "prompt \(i): batched tokens")
            XCTAssertEqual(caches[i].positionSteps, try f.ints("steps.\(i)"), "prompt \(i): batched ACT steps")
        }
    }

    /// Teacher forcing: every position's logits at fixed maximum depth and with Q-head halting,
    /// within 1e-4 relative error; halting steps identical.
    func testTeacherForcedLogitsMatchReference() throws {
        for variant in Self.variants {
            let f = try load(variant)
            var worst: Float = 0
            for i in 0..<f.prompts {
                let sequence = try f.ints("prompt.\(i)") + f.ints("greedy.\(i)")
                for (policy, key) in [(HaltingPolicy.maxSteps, "teacher"), (.qHead, "teacher_halt")] {
                    let context = try DecoderContext(model: f.model, contextSize: 256, threads: 2, maxBatch: 32)
                    try context.setHalting(policy)
                    let ours = try context.feedAll(sequence), theirs = try f.floats("\(key).\(i)")
                    XCTAssertEqual(ours.count, theirs.count)
                    let scale = max(theirs.map(abs).max() ?? 1, 1e-30)
                    let err = zip(ours, theirs).map { abs($0 - $1) }.max() ?? 0
                    worst = max(worst, err / scale)
                    XCTAssertLessThanOrEqual(err / scale, 1e-4, "\(variant) prompt \(i) \(key): relative max logit error")
                    if policy == .qHead {
                        XCTAssertEqual(context.cache.positionSteps, try f.ints("teacher_halt_steps.\(i)"), "\(variant) prompt \(i): halting steps")
                    }
                }
            }
            print("\(variant): teacher-forced relative max logit error \(String(format: "%.1e", worst))")
        }
    }

    /// The safetensors checkpoint exports to the same file as the torch.save one.
    func testSafetensorsCheckpointExportsTheSameModel() throws {
        let a = try load("rlm_trm_mem"), b = try load("rlm_trm_mem", checkpoint: "model.safetensors")
        let prompt = try a.ints("prompt.0")
        XCTAssertEqual(try greedy(a, prompt: prompt, count: 16, policy: .qHead).tokens, try greedy(b, prompt: prompt, count: 16, policy: .qHead).tokens)
        for name in a.model.file.tensors.map(\.name) {
            XCTAssertEqual(try a.model.file.floats(name), try b.model.file.floats(name), "tensor \(name)")
        }
    }

    /// Every export type runs and gives valid tokens; F16 stays with F32. (The quantized types'
    /// drift is measured on the trained model by `recur bench drift`: these random models have
    /// near-uniform logits, so a small weight error changes their greedy choices.)
    func testEveryExportTypeRuns() throws {
        let reference = try load("rlm_trm_mem")
        let prompt = try reference.ints("prompt.1")
        let f32 = try greedy(reference, prompt: prompt, count: 16, policy: .maxSteps).tokens
        for type in CheckpointExporter.supportedTypes where type != .f32 {
            let f = try load("rlm_trm_mem", type: type)
            let tokens = try greedy(f, prompt: prompt, count: 16, policy: .qHead).tokens
            XCTAssertEqual(tokens.count, 16, "\(type.name)")
            XCTAssertTrue(tokens.allSatisfy { $0 >= 0 && Int($0) < f.model.vocabSize }, "\(type.name): token ids in range")
            let same = zip(try greedy(f, prompt: prompt, count: 16, policy: .maxSteps).tokens, f32).filter { $0 == $1 }.count
            print("rlm_trm_mem \(type.name): \(same)/16 greedy tokens equal to F32 at max depth")
            if type == .f16 { XCTAssertGreaterThanOrEqual(same, 12, "F16 drifted far from F32") }
        }
    }

    /// A configuration whose stacks or memory bank do not match the checkpoint is refused with
    /// the tensor named.
    func testMismatchedConfigurationNamesTheTensor() throws {
        let dir = try fixtures().appendingPathComponent("rlm_trm_mem")
        let yaml = try String(contentsOf: dir.appendingPathComponent("all_config.yaml"), encoding: .utf8)
        let cases: [(String, String, String)] = [
            ("memory_slots: 32", "memory_slots: 16", "memory.bank"),
            ("L_layers: 2", "L_layers: 3", "L_level.layers.2"),
            ("L_layers: 2", "L_layers: 1", "L_level.layers.1"),
            ("H_layers: 0", "H_layers: 1", "H_level.layers.0"),
            ("memory_slots: 32", "memory_slots: 0", "memory."),
        ]
        for (from, to, named) in cases {
            XCTAssertTrue(yaml.contains(from), "all_config.yaml should contain '\(from)'")
            let bad = try Reference.temporaryDirectory("rlm-bad")
            defer { try? FileManager.default.removeItem(at: bad) }
            try yaml.replacingOccurrences(of: from, with: to).write(to: bad.appendingPathComponent("all_config.yaml"), atomically: true, encoding: .utf8)
            let output = bad.appendingPathComponent("out.gguf").path
            XCTAssertThrowsError(try CheckpointExporter.export(checkpoint: dir.appendingPathComponent("checkpoint.pt").path,
                                                               config: bad.appendingPathComponent("all_config.yaml").path, output: output, type: .f32)) { error in
                XCTAssertTrue("\(error)".contains(named), "\(to): the error should name \(named): \(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: output), "\(to): no output file")
        }
    }

    /// Halting heads converted by `recur export --qhead` run per token: the official linear head
    /// attached as an F32 head halts every token exactly where the official one does, and its BNN
    /// and SNN conversions run (every token halting within the step cap).
    func testAttachedHeadsHaltPerToken() throws {
        let f = try load("rlm_trm_mem")
        let file = f.model.file
        let weights = QHeadWeights(kind: .linear, tensors: [
            "qhead.linear.weight": ([2, f.model.hiddenSize], try file.floats("qhead.weight")),
            "qhead.linear.bias": ([2], try file.floats("qhead.bias")),
        ])
        // Calibration states: unit-RMS rows, as the post-norm z_H is.
        var rng = SplitMix64(seed: 7)
        let calibration = (0..<64 * f.model.hiddenSize).map { _ in (Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1) * Float(3).squareRoot() }
        let prompt = try f.ints("prompt.0")
        let official = try greedy(f, prompt: prompt, count: 24, policy: .qHead)
        for (name, storage) in [("f32", QHeadStorage.float(.f32)), ("bnn", .bnn), ("snn", .snn(timesteps: 16, leak: 1))] {
            let output = file.path + ".\(name)-head.gguf"
            _ = try QHeadAttacher.attach(model: file.path, output: output, head: weights, storage: storage, calibration: calibration)
            let attached = Fixture(name: name, model: try CausalModel(path: output), reference: f.reference)
            XCTAssertEqual(attached.model.recursion?.head.format.rawValue, name == "f32" ? "float" : name, "\(name): the attached head runs")
            let run = try greedy(attached, prompt: prompt, count: 24, policy: .qHead)
            XCTAssertTrue(run.steps.allSatisfy { $0 >= 1 && $0 <= 3 }, "\(name): steps within the cap")
            if name == "f32" {
                XCTAssertEqual(run.tokens, official.tokens, "an F32 copy of the official head: same tokens")
                XCTAssertEqual(run.steps, official.steps, "an F32 copy of the official head: same halting steps")
            }
            print("rlm_trm_mem with a \(name) Q-head: ACT steps \(run.steps.map(String.init).joined())")
        }
    }

    /// The shipped model (models/rlm-kjv-f32.gguf, the F32 export of the trained checkpoint):
    /// Recur's tokenizer gives the Hugging Face `tokenizers` ids for its tokenizer.json, and greedy
    /// generation gives the reference's tokens and ACT steps on 5 prompts x 64 tokens, with the
    /// trained Q-head and at full depth.
    func testShippedModelMatchesReferenceTokenForToken() throws {
        try Reference.requireTorch()
        try Reference.requirePython(["gguf", "tokenizers"])
        let path = Reference.repoRoot.appendingPathComponent("models/rlm-kjv-f32.gguf").path
        let tokenizerJSON = Reference.repoRoot.appendingPathComponent("models/rlm-kjv-tokenizer.json").path
        let language = try LanguageModel(path: path)
        let prompts = ["In the beginning God created", "And Jesus answered and said unto them,",
                       "The LORD is my shepherd; I shall not want.", "Then Pharaoh's daughter came down",
                       "Blessed are the poor in spirit: for theirs"]
        let ids = prompts.map { language.tokenizer.encode($0, addSpecial: false) }
        let tokenized = try JSONSerialization.jsonObject(with: Data(Reference.python(
            ["tools/reference/rlm_gguf.py", "tokenize", "--gguf", path, "--tokenizer", tokenizerJSON] + prompts.flatMap { ["--text", $0] }).utf8)) as? [String: Any]
        let expectedIds = try XCTUnwrap(tokenized?["results"] as? [[String: Any]], "rlm_gguf.py tokenize: \(String(describing: tokenized))")
            .map { try XCTUnwrap($0["ids"] as? [Int]) }
        XCTAssertEqual(ids.map { $0.map(Int.init) }, expectedIds, "Recur's tokenizer against Hugging Face tokenizers")

        let f = Fixture(name: "rlm-kjv-f32", model: language.model, reference: StateDict(path: path, tensors: []))
        for (policy, name) in [(HaltingPolicy.qHead, "qhead"), (.maxSteps, "max")] {
            let out = try Reference.python(["tools/reference/rlm_gguf.py", "generate", "--gguf", path, "--n", "64", "--policy", name]
                                           + ids.flatMap { ["--prompt-ids", $0.map(String.init).joined(separator: ",")] })
            let results = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])?["results"] as? [[String: Any]])
            XCTAssertEqual(results.count, prompts.count)
            var histogram = [Int: Int]()
            for (i, result) in results.enumerated() {
                let expected = try XCTUnwrap(result["tokens"] as? [Int]).map { Int32($0) }
                let expectedSteps = try XCTUnwrap(result["steps"] as? [Int]).map { Int32($0) }
                let run = try greedy(f, prompt: ids[i], count: 64, policy: policy)
                XCTAssertEqual(run.tokens, expected, "prompt \(i) \(name): generated tokens")
                XCTAssertEqual(run.steps, expectedSteps, "prompt \(i) \(name): ACT steps per position")
                for s in run.steps { histogram[Int(s), default: 0] += 1 }
            }
            print("rlm-kjv-f32 \(name): ACT steps per position \(histogram.sorted { $0.key < $1.key })")
        }
    }
}
