import Foundation
@testable import Runtime
import TestSupport
import XCTest

/// The token sampler against the definitions of llama.cpp's samplers (each expected answer is
/// computed here from the definition, by sorting), against the softmax it draws from, and, where
/// llama-cpp-python is installed, against llama.cpp's own sampler chain draw for draw.
final class SamplerTests: XCTestCase {
    /// Parameters with every filter off: the plain softmax at `temperature`.
    private func unfiltered(temperature: Float = 1, seed: UInt64 = 1) -> SamplingParameters {
        SamplingParameters(temperature: temperature, topK: 0, topP: 1, minP: 0, seed: seed)
    }

    private func sample(_ s: inout Sampler, _ logits: [Float]) -> Int32 {
        logits.withUnsafeBufferPointer { s.sample(logits: $0.baseAddress!) }
    }

    private func candidates(_ s: inout Sampler, _ logits: [Float]) -> [SamplerCandidate] {
        logits.withUnsafeBufferPointer { s.candidates(logits: $0.baseAddress!) }
    }

    private func candidates(_ p: SamplingParameters, _ logits: [Float]) -> [SamplerCandidate] {
        var s = Sampler(p, vocabularySize: logits.count)
        return candidates(&s, logits)
    }

    /// `n` logits, normally distributed with standard deviation `scale`, all different (so that
    /// no answer depends on how ties are ordered).
    private func distinctLogits(_ n: Int, scale: Float, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var seen = Set<Float>()
        return (0..<n).map { _ in
            var v = rng.normal() * scale
            while !seen.insert(v).inserted { v = v.nextUp }
            return v
        }
    }

    /// Probabilities in double precision, for the expected answers.
    private func softmax(_ logits: [Float], temperature: Double = 1) -> [Double] {
        let m = Double(logits.max()!)
        let e = logits.map { Foundation.exp((Double($0) - m) / temperature) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// Token ids by descending logit, ties by id: the order every filter sorts by.
    private func byLogit(_ logits: [Float]) -> [Int32] {
        logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }.map { Int32($0) }
    }

    // MARK: Greedy

    func testGreedyPicksTheFirstMaximum() {
        var s = Sampler(.greedy, vocabularySize: 6)
        XCTAssertEqual(sample(&s, [1, 5, 3, 5, -2, 5]), 1)
        XCTAssertEqual(sample(&s, [.nan, 2, .nan, 7, 7, .nan]), 3)
        XCTAssertEqual(sample(&s, [-9, -9, -9, -9, -9, -8.5]), 5)
    }

    func testTemperatureZeroOrBelowEqualsGreedy() {
        let n = 500
        for temperature: Float in [0, -1, -0.0] {
            for topK in [0, 40] {
                var a = Sampler(SamplingParameters(temperature: temperature, topK: topK, seed: 9), vocabularySize: n)
                var g = Sampler(.greedy, vocabularySize: n)
                for step in 0..<20 {
                    let logits = distinctLogits(n, scale: 2, seed: UInt64(step))
                    let expected = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
                    XCTAssertEqual(sample(&a, logits), expected)
                    XCTAssertEqual(sample(&g, logits), expected)
                }
            }
        }
    }

    func testTopKOneEqualsGreedyAtAnyTemperature() {
        let n = 1000
        for temperature: Float in [0.3, 1, 4, 50] {
            var s = Sampler(SamplingParameters(temperature: temperature, topK: 1, topP: 0.5, minP: 0, seed: 3), vocabularySize: n)
            var g = Sampler(.greedy, vocabularySize: n)
            for step in 0..<20 {
                let logits = distinctLogits(n, scale: 1, seed: 100 + UInt64(step))
                XCTAssertEqual(sample(&s, logits), sample(&g, logits), "temperature \(temperature), step \(step)")
            }
        }
    }

    // MARK: Seeds

    func testSameSeedSameTokensAndDifferentSeedsDiffer() {
        let n = 64
        let logits = distinctLogits(n, scale: 0.5, seed: 11)
        func run(_ seed: UInt64) -> [Int32] {
            var s = Sampler(unfiltered(seed: seed), vocabularySize: n)
            return (0..<200).map { _ in sample(&s, logits) }
        }
        XCTAssertEqual(run(42), run(42))
        XCTAssertNotEqual(run(42), run(43))
        XCTAssertNotEqual(run(42), run(42 | 1 << 40), "the high word of the seed counts")
        XCTAssertGreaterThan(Set(run(42)).count, 20, "a flat distribution gives many different tokens")
    }

    func testResetRestartsTheDrawsAndForgetsTheHistory() {
        let n = 32
        let logits = distinctLogits(n, scale: 0.5, seed: 5)
        var p = unfiltered(seed: 77)
        p.repeatPenalty = 1.5
        p.presencePenalty = 0.3
        var s = Sampler(p, vocabularySize: n)
        let first = (0..<50).map { _ in sample(&s, logits) }
        s.reset()
        XCTAssertEqual((0..<50).map { _ in sample(&s, logits) }, first)
    }

    func testMersenneTwisterIsStdMT19937() {
        // The C++ standard fixes the 10000th output of a default-constructed std::mt19937.
        var mt = RandomMT19937(seed: 5489)
        XCTAssertEqual(mt.next(), 3_499_211_612)
        for _ in 1..<9999 { _ = mt.next() }
        XCTAssertEqual(mt.next(), 4_123_659_995)
        XCTAssertEqual(Sampler.generatorSeed(1234), 1234, "a 32-bit seed is llama.cpp's seed")
        var u = RandomMT19937(seed: 1)
        for _ in 0..<10000 {
            let x = u.nextUnitDouble()
            XCTAssertTrue(x >= 0 && x < 1)
        }
    }

    // MARK: Distribution

    /// Pearson's chi-square of `counts` against `expected` probabilities.
    private func chiSquare(_ counts: [Int], _ expected: [Double]) -> Double {
        let total = Double(counts.reduce(0, +))
        return zip(counts, expected).reduce(0) { acc, ce in
            let e = ce.1 * total
            return acc + (Double(ce.0) - e) * (Double(ce.0) - e) / e
        }
    }

    func testDrawsFollowTheSoftmax() {
        let logits: [Float] = [2, 1, 0.5, 0, -0.5, -1, -2, 3]
        // Chi-square critical values at p = 0.001 for 7 and 2 degrees of freedom; the seeds are
        // fixed, so this is a check of the distribution, not a flaky test.
        for temperature: Float in [1, 0.7, 2] {
            var s = Sampler(unfiltered(temperature: temperature, seed: 2024), vocabularySize: logits.count)
            var counts = [Int](repeating: 0, count: logits.count)
            for _ in 0..<40000 { counts[Int(sample(&s, logits))] += 1 }
            let chi = chiSquare(counts, softmax(logits, temperature: Double(temperature)))
            XCTAssertLessThan(chi, 24.32, "temperature \(temperature): counts \(counts)")
        }
        // Top-k 3: the softmax over the three largest.
        var s = Sampler(SamplingParameters(temperature: 1, topK: 3, topP: 1, minP: 0, seed: 5), vocabularySize: logits.count)
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<30000 { counts[Int(sample(&s, logits))] += 1 }
        let top = [7, 0, 1]
        XCTAssertEqual(counts.indices.filter { counts[$0] > 0 }.sorted(), top.sorted())
        let chi = chiSquare(top.map { counts[$0] }, softmax(top.map { logits[$0] }))
        XCTAssertLessThan(chi, 13.82, "counts \(counts)")
    }

    func testCandidateProbabilitiesAreTheSoftmaxOfTheKeptLogits() {
        let logits = distinctLogits(300, scale: 2, seed: 8)
        let kept = candidates(SamplingParameters(temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05), logits)
        let expected = softmax(kept.map { logits[Int($0.id)] }, temperature: 0.8)
        for (c, e) in zip(kept, expected) {
            XCTAssertEqual(Double(c.p), e, accuracy: 1e-5)
            XCTAssertEqual(c.logit, logits[Int(c.id)] / 0.8)
        }
    }

    // MARK: Filters

    func testTopKKeepsTheKLargestAndOrdersTiesById() {
        let n = 3000
        let logits = distinctLogits(n, scale: 2, seed: 21)
        let order = byLogit(logits)
        // 40 goes through the heap, 2000 through a full sort, 5000 is more than the vocabulary.
        for k in [1, 40, 2000, 5000] {
            let kept = candidates(SamplingParameters(temperature: 1, topK: k, topP: 1, minP: 0), logits).map(\.id)
            XCTAssertEqual(kept, Array(order.prefix(k)), "top-k \(k)")
        }
        let tied: [Float] = [1, 3, 3, 3, 0, 3]
        let kept = candidates(SamplingParameters(temperature: 1, topK: 2, topP: 1, minP: 0), tied).map(\.id)
        XCTAssertEqual(kept, [1, 2])
    }

    /// Top-p by its definition: the shortest prefix, by descending probability, whose probability
    /// reaches p. Nil when a running sum lies too close to p for float and double to agree.
    private func expectedTopP(_ logits: [Float], _ p: Double) -> [Int32]? {
        let probs = softmax(logits)
        var sum = 0.0
        var kept: [Int32] = []
        for id in byLogit(logits) {
            sum += probs[Int(id)]
            if abs(sum - p) < 2e-5 { return nil }
            kept.append(id)
            if sum >= p { break }
        }
        return kept
    }

    func testTopPKeepsTheShortestPrefixReachingP() {
        // 50 tokens: sorted in place; 3000 peaked: the 256 most likely suffice; 3000 flat: they do
        // not, and llama.cpp's second, full sort takes over.
        let cases: [(n: Int, scale: Float)] = [(50, 1.5), (3000, 6), (3000, 0.5)]
        var checked = 0
        for (n, scale) in cases {
            let logits = distinctLogits(n, scale: scale, seed: UInt64(n) + UInt64(scale * 10))
            for p in [0.0, 0.05, 0.3, 0.5, 0.8, 0.9, 0.95, 0.99] {
                guard let expected = expectedTopP(logits, p) else { continue }
                let kept = candidates(SamplingParameters(temperature: 1, topK: 0, topP: Float(p), minP: 0), logits).map(\.id)
                XCTAssertEqual(kept, expected, "n \(n), scale \(scale), top-p \(p)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 18)
        let flat = distinctLogits(3000, scale: 0.5, seed: 3005)
        XCTAssertGreaterThan([0.5, 0.8].compactMap { expectedTopP(flat, $0)?.count }.max() ?? 0, 256, "the flat case must need more than 256 tokens")
    }

    func testTopPAfterTopKRenormalizesOverTheKept() {
        let logits = distinctLogits(1000, scale: 1, seed: 31)
        let top = Array(byLogit(logits).prefix(20))
        let topLogits = top.map { logits[Int($0)] }
        for p in [0.2, 0.6, 0.9] {
            guard let expected = expectedTopP(topLogits, p) else { continue }
            let kept = candidates(SamplingParameters(temperature: 1, topK: 20, topP: Float(p), minP: 0), logits).map(\.id)
            XCTAssertEqual(kept, expected.map { top[Int($0)] }, "top-p \(p)")
        }
    }

    /// Min-p by its definition: the tokens at least `minP` times as likely as the most likely.
    /// Nil when a token lies too close to the line.
    private func expectedMinP(_ logits: [Float], _ minP: Double) -> Set<Int32>? {
        let probs = softmax(logits)
        let top = probs.indices.max { probs[$0] < probs[$1] }!
        let line = minP * probs[top]
        if probs.indices.contains(where: { $0 != top && abs(probs[$0] - line) < 1e-4 * line }) { return nil }
        return Set(probs.indices.filter { probs[$0] >= line }.map { Int32($0) })
    }

    func testMinPKeepsTokensAtLeastMinPTimesTheMostLikely() {
        var checked = 0
        for (n, seed) in [(40, UInt64(1)), (3000, 2)] {
            let logits = distinctLogits(n, scale: 2, seed: seed)
            for minP in [0.01, 0.05, 0.1, 0.5, 0.9, 1.0] {
                guard let expected = expectedMinP(logits, minP) else { continue }
                // With top-p off the list is unsorted (filtered in id order); after top-k it is sorted.
                let unsorted = candidates(SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: Float(minP)), logits).map(\.id)
                XCTAssertEqual(unsorted, unsorted.sorted(), "an unsorted list keeps id order")
                XCTAssertEqual(Set(unsorted), expected, "n \(n), min-p \(minP)")
                let sorted = candidates(SamplingParameters(temperature: 1, topK: n, topP: 1, minP: Float(minP)), logits).map(\.id)
                XCTAssertEqual(sorted, byLogit(logits).filter { expected.contains($0) }, "n \(n), min-p \(minP), sorted")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 8)
    }

    func testFiltersAlwaysKeepAToken() {
        let logits: [Float] = [0.5, 4, 1, -3]
        for p in [SamplingParameters(temperature: 1, topK: 0, topP: 0, minP: 0), SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 1)] {
            XCTAssertEqual(candidates(p, logits).map(\.id), [1])
        }
    }

    // MARK: Penalties

    func testPenaltiesChangeExactlyTheRecentTokensLogits() {
        let logits: [Float] = [3, -2, 0, 1.5, -0.5, 2, 4, -3, 0.25, 1]
        var p = unfiltered()
        p.repeatPenalty = 1.3
        p.frequencyPenalty = 0.2
        p.presencePenalty = 0.5
        p.repeatLastN = 4
        var s = Sampler(p, vocabularySize: logits.count)
        // Token 0 leaves the window of 4; ids outside the vocabulary are remembered, and harmless.
        for t: Int32 in [0, 1, 3, 3, 2] { s.accept(t) }
        let window: [Int32: Int] = [1: 1, 3: 2, 2: 1]
        var expected = logits
        for (t, count) in window {
            var l = logits[Int(t)]
            l = l <= 0 ? l * p.repeatPenalty : l / p.repeatPenalty
            expected[Int(t)] = l - (Float(count) * p.frequencyPenalty + p.presencePenalty)
        }
        let got = candidates(&s, logits)
        XCTAssertEqual(got.map(\.id), (0..<10).map { Int32($0) })
        XCTAssertEqual(got.map(\.logit), expected)

        s.accept(99)
        s.accept(-5)
        var other = expected
        other[1] = logits[1]  // the two foreign ids pushed token 1 and one token 3 out
        other[3] = logits[3] / p.repeatPenalty - (p.frequencyPenalty + p.presencePenalty)
        XCTAssertEqual(candidates(&s, logits).map(\.logit), other)
    }

    func testPenaltyWindowAndOffSwitches() {
        let logits: [Float] = [1, 2, 3, 4]
        func penalized(_ lastN: Int, repeatPenalty: Float = 2, presence: Float = 0) -> [Float] {
            var p = unfiltered()
            p.repeatPenalty = repeatPenalty
            p.presencePenalty = presence
            p.repeatLastN = lastN
            var s = Sampler(p, vocabularySize: 4)
            for t: Int32 in [0, 1, 2] { s.accept(t) }
            return candidates(&s, logits).map(\.logit)
        }
        XCTAssertEqual(penalized(-1), [0.5, 1, 1.5, 4], "-1: every accepted token")
        XCTAssertEqual(penalized(2), [1, 1, 1.5, 4])
        XCTAssertEqual(penalized(0), logits, "0: off")
        XCTAssertEqual(penalized(64, repeatPenalty: 1), logits, "1 with no other penalty: off")
        XCTAssertEqual(penalized(64, repeatPenalty: 1, presence: 1), [0, 1, 2, 4])
    }

    func testSampleRecordsItsTokenAndLeavesTheLogitsAlone() {
        var p = SamplingParameters.greedy
        p.presencePenalty = 100
        p.repeatLastN = 2
        var s = Sampler(p, vocabularySize: 3)
        let logits: [Float] = [5, 4, 3]
        XCTAssertEqual((0..<5).map { _ in sample(&s, logits) }, [0, 1, 2, 0, 1])
        XCTAssertEqual(logits, [5, 4, 3])
    }

    // MARK: Bad input

    func testNaNAndInfiniteLogits() {
        let withNaN: [Float] = [.nan, 1, .nan, 2, .nan, 0.5]
        var s = Sampler(unfiltered(seed: 4), vocabularySize: withNaN.count)
        for _ in 0..<500 { XCTAssertFalse(withNaN[Int(sample(&s, withNaN))].isNaN) }
        let cases: [([Float], Int32)] = [
            ([.nan, .nan, .nan], 0),
            ([-.infinity, -.infinity, -.infinity], 0),
            ([1, .infinity, 3, .infinity], 1),
            ([.nan, -.infinity, 2, .nan], 2),
        ]
        for (logits, expected) in cases {
            for p in [SamplingParameters(), .greedy, unfiltered(), SamplingParameters(temperature: 1, topK: 0, topP: 0.9, minP: 0.1)] {
                var s = Sampler(p, vocabularySize: logits.count)
                XCTAssertEqual(sample(&s, logits), expected, "\(logits) with \(p)")
            }
        }
    }

    func testValidateNamesTheBadParameter() {
        XCTAssertNoThrow(try SamplingParameters().validate())
        XCTAssertNoThrow(try SamplingParameters.greedy.validate())
        XCTAssertNoThrow(try SamplingParameters(temperature: -1, topK: -1, topP: 0, minP: 1, repeatLastN: -1, presencePenalty: -2, frequencyPenalty: -1).validate())
        let bad: [(String, SamplingParameters)] = [
            ("temperature", SamplingParameters(temperature: .nan)),
            ("temperature", SamplingParameters(temperature: .infinity)),
            ("topP", SamplingParameters(topP: .nan)),
            ("topP", SamplingParameters(topP: -0.1)),
            ("topP", SamplingParameters(topP: 95)),
            ("minP", SamplingParameters(minP: .nan)),
            ("minP", SamplingParameters(minP: -0.5)),
            ("minP", SamplingParameters(minP: 1.5)),
            ("repeatPenalty", SamplingParameters(repeatPenalty: 0)),
            ("repeatPenalty", SamplingParameters(repeatPenalty: .nan)),
            ("repeatLastN", SamplingParameters(repeatLastN: -2)),
            ("presencePenalty", SamplingParameters(presencePenalty: .nan)),
            ("frequencyPenalty", SamplingParameters(frequencyPenalty: -.infinity)),
        ]
        for (name, p) in bad {
            XCTAssertThrowsError(try p.validate(), name) { error in
                XCTAssertTrue("\(error)".contains("sampling parameter \(name) = "), "\(error)")
            }
        }
    }

    func testInvalidParametersStillGiveATokenInTheVocabulary() {
        let n = 2000
        let logits = distinctLogits(n, scale: 2, seed: 12)
        let nan = Float.nan
        let bad = [
            SamplingParameters(temperature: nan),
            SamplingParameters(temperature: .infinity, topK: 0),
            SamplingParameters(temperature: .leastNonzeroMagnitude, topK: 0, topP: 1, minP: 0),
            SamplingParameters(topK: 0, topP: nan, minP: nan),
            SamplingParameters(topK: Int.max, topP: -3, minP: 7),
            SamplingParameters(repeatPenalty: nan, presencePenalty: nan, frequencyPenalty: .infinity),
            SamplingParameters(topK: 0, repeatPenalty: 0, repeatLastN: -7),
            SamplingParameters(temperature: .infinity, topK: 5, repeatPenalty: -1),
        ]
        for p in bad {
            var s = Sampler(p, vocabularySize: n)
            for t in 0..<20 { s.accept(Int32(t)) }
            for _ in 0..<5 {
                let t = sample(&s, logits)
                XCTAssertTrue(t >= 0 && Int(t) < n, "\(t) with \(p)")
            }
        }
        var one = Sampler(SamplingParameters(), vocabularySize: 1)
        XCTAssertEqual(sample(&one, [0.5]), 0)
    }

    func testParametersDecodeWithDefaultsForMissingKeys() throws {
        let p = try JSONDecoder().decode(SamplingParameters.self, from: Data(#"{"temperature": 0.5, "seed": 7}"#.utf8))
        XCTAssertEqual(p, SamplingParameters(temperature: 0.5, seed: 7))
        let q = SamplingParameters(temperature: 0.1, topK: 3, topP: 0.5, minP: 0.2, repeatPenalty: 1.1, repeatLastN: -1, presencePenalty: 0.3, frequencyPenalty: 0.4, seed: 1 << 40)
        XCTAssertEqual(try JSONDecoder().decode(SamplingParameters.self, from: JSONEncoder().encode(q)), q)
    }

    // MARK: llama.cpp

    func testMatchesLlamaCppDrawForDraw() throws {
        try Reference.requirePython(["llama_cpp"])
        let n = 3000
        struct Case {
            var p: SamplingParameters
            var prompt: [Int32] = []
            var scale: Float = 2.5
        }
        var cases = [
            Case(p: SamplingParameters(seed: 1234)),
            Case(p: SamplingParameters(temperature: 1, topK: 0, topP: 0.9, minP: 0, seed: 7), scale: 1),
            Case(p: SamplingParameters(temperature: 1.2, topK: 0, topP: 1, minP: 0.02, seed: 99), scale: 1.5),
            Case(p: SamplingParameters(temperature: 0.7, topK: 100, topP: 0.8, minP: 0.1, repeatPenalty: 1.3, repeatLastN: 16, presencePenalty: 0.2, frequencyPenalty: 0.1, seed: 4_000_000_000),
                 prompt: (0..<20).map { Int32($0 * 7) }),
            Case(p: SamplingParameters(temperature: 0, repeatPenalty: 1.5, repeatLastN: 8, seed: 5), prompt: [3, 1, 4, 1, 5], scale: 1),
        ]
        // Peaked logits where the penalties decide: the same few tokens lead every step.
        cases[3].scale = 3
        let steps = 25
        var specs: [[String: Any]] = []
        var stepLogits: [[[Float]]] = []
        for (c, k) in zip(cases, 0...) {
            let logits = (0..<steps).map { distinctLogits(n, scale: c.scale, seed: UInt64(1000 * k + $0)) }
            stepLogits.append(logits)
            specs.append([
                "temperature": c.p.temperature, "top_k": c.p.topK, "top_p": c.p.topP, "min_p": c.p.minP,
                "repeat_penalty": c.p.repeatPenalty, "repeat_last_n": c.p.repeatLastN,
                "presence_penalty": c.p.presencePenalty, "frequency_penalty": c.p.frequencyPenalty,
                "seed": c.p.seed, "prompt": c.prompt, "steps": logits.map { $0.map(\.bitPattern) },
            ])
        }
        let dir = try Reference.temporaryDirectory("sampler")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("cases.json")
        try JSONSerialization.data(withJSONObject: ["vocab": n, "cases": specs]).write(to: input)
        let output = try Reference.python(["tools/reference/llamacpp_sample.py", input.path])
        let parsed = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        let results = try XCTUnwrap(parsed?["cases"] as? [[String: Any]])
        XCTAssertEqual(results.count, cases.count)
        for (k, (c, result)) in zip(cases, results).enumerated() {
            let tokens = try XCTUnwrap(result["tokens"] as? [Int]).map { Int32($0) }
            let lists = try XCTUnwrap(result["candidates"] as? [[Int]])
            var s = Sampler(c.p, vocabularySize: n)
            for t in c.prompt { s.accept(t) }
            var ours: [Int32] = []
            for (step, logits) in stepLogits[k].enumerated() {
                if !c.p.isGreedy {
                    let kept = candidates(&s, logits).map { Int($0.id) }
                    XCTAssertEqual(kept, lists[step], "case \(k) step \(step): candidates after min-p")
                }
                ours.append(sample(&s, logits))
            }
            XCTAssertEqual(ours, tokens, "case \(k): \(c.p)")
            XCTAssertGreaterThan(Set(tokens).count, c.p.isGreedy ? 2 : 5, "case \(k) should not be trivially constant")
        }
    }
}
