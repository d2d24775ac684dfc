import Foundation
import Runtime
import TestSupport
import XCTest

/// Continuous batching over sequences: several sequences decoded in one batch give what each
/// gives alone, token for token, however they start, queue, finish and reuse their slots.
final class BatchGeneratorTests: XCTestCase {
    private static let prompts = ["Once upon a time", "The capital of France is", "def fibonacci(n):", "1, 2, 3, 4,", "Hello", "In 1905, Einstein"]

    /// The tiny random llama (F32) and, when fetched, SmolLM2-135M (Q4_1 with a Q8_0 embedding).
    private func models() throws -> [(String, LanguageModel)] {
        let dir = try Reference.temporaryDirectory("batch")
        let url = dir.appendingPathComponent("tiny.gguf")
        try TinyLlama().write(to: url)
        var models = [("tiny-f32", try LanguageModel(path: url.path))]
        if let smol = try? Reference.requireSmolLM() { models.append(("smollm2-q4_1", try LanguageModel(path: smol.path))) }
        return models
    }

    /// Each prompt alone through `Generator`.
    private func alone(_ language: LanguageModel, _ prompts: [[Int32]], _ options: [GenerationOptions], context: Int) throws -> [GenerationResult] {
        try zip(prompts, options).map { prompt, o in
            let g = Generator(language: language, context: try DecoderContext(model: language.model, contextSize: context, threads: 2))
            return try g.generate(prompt: prompt, options: o)
        }
    }

    /// Starts every request it can, steps until all are done; returns the results in request order.
    private func batched(_ batch: BatchGenerator, _ prompts: [[Int32]], _ options: [GenerationOptions]) throws -> [GenerationResult] {
        var results = [GenerationResult?](repeating: nil, count: prompts.count)
        var next = 0, steps = 0
        while results.contains(where: { $0 == nil }) {
            while next < prompts.count && batch.hasFreeSlot {
                let i = next
                try batch.start(.init(prompt: prompts[i], options: options[i], onText: { _ in true }, onFinish: { results[i] = $0 }))
                next += 1
            }
            batch.step()
            steps += 1
            XCTAssertLessThan(steps, 10_000, "the batch makes progress")
            if steps >= 10_000 { break }
        }
        return results.map { $0! }
    }

    func testBatchedGreedyEqualsAloneTokenForToken() throws {
        for (name, language) in try models() {
            let prompts = Self.prompts.map { language.tokenizer.encode($0) }
            // Different lengths, so sequences finish at different steps and slots are refilled.
            let options = prompts.indices.map { GenerationOptions(maxTokens: 6 + 5 * $0, sampling: .greedy, ignoreEndOfGeneration: true) }
            let expected = try alone(language, prompts, options, context: 64)
            for slots in [1, 3, 6] {
                let batch = try BatchGenerator(language: language, slots: slots, contextSize: 64, threads: 2)
                let got = try batched(batch, prompts, options)
                for i in prompts.indices {
                    XCTAssertEqual(got[i].tokens, expected[i].tokens, "\(name), \(slots) slots, prompt \(i)")
                    XCTAssertEqual(got[i].text, expected[i].text, "\(name), \(slots) slots, prompt \(i)")
                    XCTAssertEqual(got[i].finishReason, .length)
                }
                XCTAssertTrue(batch.isIdle)
            }
        }
    }

    /// A recursive LM is batched per ACT step: tokens of different sequences at different depths
    /// share each step, a sequence whose token halts continues at once, and every sequence gets
    /// the tokens and ACT steps it gets alone, with 1, 2 and 5 slots. A sequence cancelled in
    /// the middle of a token leaves its slot as good as new for a request that reuses its cache.
    func testRecursiveLMBatchedPerACTStepEqualsAlone() throws {
        let language = try LanguageModel(path: Reference.repoRoot.appendingPathComponent("models/rlm-kjv-f32.gguf").path)
        let prompts = ["In the beginning", "And the LORD said unto Moses,", "Blessed are", "Then", "And it came to pass"]
            .map { language.tokenizer.encode($0, addSpecial: false) }
        let options = prompts.indices.map { GenerationOptions(maxTokens: 8 + 6 * $0, sampling: .greedy, ignoreEndOfGeneration: true) }
        let expected = try alone(language, prompts, options, context: 128)
        XCTAssertGreaterThan(Set(expected.flatMap(\.actSteps)).count, 2, "tokens halt at different depths")
        for slots in [1, 2, 5] {
            let got = try batched(try BatchGenerator(language: language, slots: slots, contextSize: 128, threads: 2), prompts, options)
            for i in prompts.indices {
                XCTAssertEqual(got[i].tokens, expected[i].tokens, "\(slots) slots, prompt \(i): tokens")
                XCTAssertEqual(got[i].actSteps, expected[i].actSteps, "\(slots) slots, prompt \(i): ACT steps per token")
            }
        }

        let batch = try BatchGenerator(language: language, slots: 2, contextSize: 128, threads: 2)
        var cancelled: GenerationResult?, other: GenerationResult?, again: GenerationResult?
        let long = GenerationOptions(maxTokens: 30, sampling: .greedy, ignoreEndOfGeneration: true)
        let slot = try batch.start(.init(prompt: prompts[4], options: long, onText: { _ in true }, onFinish: { cancelled = $0 }))
        try batch.start(.init(prompt: prompts[1], options: options[1], onText: { _ in true }, onFinish: { other = $0 }))
        for _ in 0..<7 { batch.step() }
        batch.cancel(slot: slot)
        XCTAssertEqual(cancelled?.finishReason, .cancelled)
        try batch.start(.init(prompt: prompts[4], options: options[4], onText: { _ in true }, onFinish: { again = $0 }))
        for _ in 0..<10_000 where !batch.isIdle { batch.step() }
        XCTAssertEqual(other?.tokens, expected[1].tokens, "a neighbour of the cancelled sequence is unaffected")
        XCTAssertEqual(again?.tokens, expected[4].tokens, "the cancelled sequence's slot, its cache reused")
        XCTAssertEqual(again?.actSteps, expected[4].actSteps)
        XCTAssertGreaterThan(again?.reusedPromptTokens ?? 0, 0, "the new request reused the cancelled one's prompt")
    }

    func testSampledSequencesKeepTheirOwnSeedAndStops() throws {
        let (name, language) = try models().last!
        let prompts = Self.prompts.prefix(4).map { language.tokenizer.encode($0) }
        var options: [GenerationOptions] = []
        for i in prompts.indices {
            var p = SamplingParameters()
            p.seed = UInt64(100 + i)
            p.presencePenalty = i == 2 ? 0.5 : 0
            options.append(GenerationOptions(maxTokens: 24, sampling: p, stop: i == 1 ? ["e"] : []))
        }
        let expected = try alone(language, prompts, options, context: 64)
        let got = try batched(try BatchGenerator(language: language, slots: 4, contextSize: 64, threads: 2), prompts, options)
        for i in prompts.indices {
            XCTAssertEqual(got[i].tokens, expected[i].tokens, "\(name) prompt \(i)")
            XCTAssertEqual(got[i].text, expected[i].text, "\(name) prompt \(i)")
            XCTAssertEqual(got[i].finishReason, expected[i].finishReason, "\(name) prompt \(i)")
        }
        XCTAssertFalse(got[1].text.contains("e"), "the stop string is not output")
    }

    func testASlotKeepsItsCacheForTheNextTurn() throws {
        let (_, language) = try models()[0]
        let batch = try BatchGenerator(language: language, slots: 2, contextSize: 64, threads: 1)
        let first = language.tokenizer.encode("Once upon a time")
        let options = GenerationOptions(maxTokens: 5, sampling: .greedy, ignoreEndOfGeneration: true)
        let turn1 = try batched(batch, [first], [options])[0]
        // The next turn starts with the whole first exchange.
        let second = first + turn1.tokens + language.tokenizer.encode(" and then")
        let turn2 = try batched(batch, [second], [options])[0]
        XCTAssertEqual(turn2.reusedPromptTokens, first.count + turn1.tokens.count - 1,
                       "every evaluated token of the first turn is reused (the last sampled one was never evaluated)")
        let alone = try self.alone(language, [second], [options], context: 64)[0]
        XCTAssertEqual(turn2.tokens, alone.tokens, "reusing the cache changes nothing")
    }

    func testCancelFreesTheSlotAndReportsCancelled() throws {
        let (_, language) = try models()[0]
        let batch = try BatchGenerator(language: language, slots: 1, contextSize: 64, threads: 1)
        var finished: GenerationResult?
        var pieces = 0
        let slot = try batch.start(.init(prompt: language.tokenizer.encode("abc"), options: GenerationOptions(maxTokens: 40, sampling: .greedy, ignoreEndOfGeneration: true),
                                         onText: { _ in pieces += 1; return true }, onFinish: { finished = $0 }))
        for _ in 0..<4 { batch.step() }
        XCTAssertFalse(batch.hasFreeSlot)
        batch.cancel(slot: slot)
        XCTAssertEqual(finished?.finishReason, .cancelled)
        XCTAssertLessThan(finished?.tokens.count ?? 99, 40)
        XCTAssertTrue(batch.hasFreeSlot)
        XCTAssertTrue(batch.isIdle)
        // A callback that returns false stops its sequence the same way.
        var stopped: GenerationResult?
        try batch.start(.init(prompt: language.tokenizer.encode("abc"), options: GenerationOptions(maxTokens: 40, sampling: .greedy, ignoreEndOfGeneration: true),
                              onText: { _ in false }, onFinish: { stopped = $0 }))
        for _ in 0..<10 where !batch.isIdle { batch.step() }
        XCTAssertEqual(stopped?.finishReason, .cancelled)
        XCTAssertTrue(batch.hasFreeSlot)
    }

    func testRefusesWhatCannotRun() throws {
        let (_, language) = try models()[0]
        XCTAssertThrowsError(try BatchGenerator(language: language, slots: 0, contextSize: 64, threads: 1))
        XCTAssertThrowsError(try BatchGenerator(language: language, slots: 1, contextSize: 65, threads: 1), "past context_length")
        let batch = try BatchGenerator(language: language, slots: 1, contextSize: 32, threads: 1)
        let ok = GenerationOptions(maxTokens: 4, sampling: .greedy)
        func request(_ prompt: [Int32], _ o: GenerationOptions) -> BatchGenerator.Request {
            .init(prompt: prompt, options: o, onText: { _ in true }, onFinish: { _ in })
        }
        XCTAssertThrowsError(try batch.start(request([], ok)), "empty prompt")
        XCTAssertThrowsError(try batch.start(request([Int32](repeating: 1, count: 30), ok)), "prompt + max tokens past the context")
        XCTAssertThrowsError(try batch.start(request([Int32(TinyLlama.vocab)], ok)), "token outside the vocabulary")
        try batch.start(request([1, 2], ok))
        XCTAssertThrowsError(try batch.start(request([1, 2], ok)), "every slot busy")
    }
}
