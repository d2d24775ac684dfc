/// Chooses each next token from a language model's logits the way llama.cpp's default sampler
/// chain does (`common_sampler_init` with the default sampler order, each step as llama.cpp's
/// `src/llama-sampling.cpp`, `llama-sampler.cpp` in newer trees, implements it): penalties, top-k,
/// top-p, min-p, temperature, then a draw from the softmax with a seeded std::mt19937, one draw
/// per token. DRY, typical-p, top-n-sigma and XTC sit in that chain too, off by default, and are
/// not offered here. Greedy decoding (temperature <= 0) is one argmax pass: the first token of
/// largest penalized logit.
///
/// With a seed up to 0xFFFFFFFF and no equal logits where a filter cuts, the tokens are
/// llama.cpp's, draw for draw (the tests check this against llama-cpp-python where installed).
/// Where it differs: equal logits are ordered by id, where llama.cpp leaves their order to its
/// sort; NaN logits count as -infinity; `repeatLastN` -1 penalizes over every accepted token,
/// where current llama.cpp refuses or ignores a negative window; seeds above 0xFFFFFFFF are
/// folded to 32 bits, and no seed stands for "random" (llama.cpp's 0xFFFFFFFF does). Older
/// llama.cpp skipped the draw when one candidate was left, which shifts its later draws.
///
/// A value: each sequence being generated owns its own sampler.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    public let vocabularySize: Int

    private var generator: RandomMT19937
    private var penalties: SamplerPenalties
    private var candidates = SamplerCandidates()
    /// The penalized copy of the logits, when penalties are on.
    private var penalized: [Float] = []

    /// `vocabularySize` is how many logits each call reads (at least 1). Parameters are used as
    /// they are; call `parameters.validate()` first to refuse nonsense.
    public init(_ p: SamplingParameters, vocabularySize: Int) {
        precondition(vocabularySize > 0 && vocabularySize <= Int(Int32.max), "vocabulary size \(vocabularySize) is not between 1 and 2^31 - 1")
        parameters = p
        self.vocabularySize = vocabularySize
        generator = RandomMT19937(seed: Self.generatorSeed(p.seed))
        penalties = SamplerPenalties(p)
    }

    /// The 32-bit seed of the generator: the seed itself up to 0xFFFFFFFF, as llama.cpp's.
    static func generatorSeed(_ seed: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: seed ^ (seed >> 32))
    }

    /// Picks the next token from `logits[0..<vocabularySize]` (left unchanged) and accepts it,
    /// so the caller must not `accept` it again. NaN logits count as -infinity; if no logit is
    /// above -infinity the result is token 0, and if some are +infinity, the first of those.
    /// Every call consumes one random draw, greedy or not, as llama.cpp's chain does.
    public mutating func sample(logits: UnsafePointer<Float>) -> Int32 {
        let unit = generator.nextUnitDouble()
        let token = withPenalized(logits) { source, parameters, list -> Int32 in
            if parameters.isGreedy { return Int32(SamplerCandidates.argmax(source, count: list.vocabularySize)) }
            list.filter(source, parameters)
            list.candidates.temperature(parameters.temperature)
            return list.candidates.items[list.candidates.draw(unit)].id
        }
        accept(token)
        return token
    }

    /// The distribution the next draw would be made from, without drawing or accepting: the
    /// candidates left after penalties, top-k, top-p and min-p, in the chain's order, with their
    /// logits after temperature and `p` their probability. Greedy parameters give the one token
    /// greedy decoding picks, with p = 1.
    public mutating func candidates(logits: UnsafePointer<Float>) -> [SamplerCandidate] {
        withPenalized(logits) { source, parameters, list -> [SamplerCandidate] in
            if parameters.isGreedy {
                let i = SamplerCandidates.argmax(source, count: list.vocabularySize)
                return [SamplerCandidate(id: Int32(i), logit: SamplerCandidates.read(source, i), p: 1)]
            }
            list.filter(source, parameters)
            list.candidates.temperature(parameters.temperature)
            _ = list.candidates.draw(0)  // for the probabilities it leaves; the choice is dropped
            return list.candidates.current
        }
    }

    /// Records a token that entered the context, for the penalties: every prompt token, and any
    /// token placed into the context by other means than `sample`.
    public mutating func accept(_ token: Int32) {
        penalties.accept(token)
    }

    /// Forgets the accepted tokens and restarts the random draws from the seed, as a new sampler.
    public mutating func reset() {
        penalties.reset()
        generator = RandomMT19937(seed: Self.generatorSeed(parameters.seed))
    }

    /// The working state a chain step needs, handed to `withPenalized`'s body.
    private struct Work {
        var candidates: SamplerCandidates
        let vocabularySize: Int

        mutating func filter(_ source: UnsafePointer<Float>, _ p: SamplingParameters) {
            candidates.load(source, count: vocabularySize, topK: p.topK)
            candidates.topP(p.topP)
            candidates.minP(p.minP)
        }
    }

    /// Runs `body` on the logits with the penalties applied: the caller's logits when the
    /// penalties are off, a penalized copy otherwise.
    private mutating func withPenalized<R>(
        _ logits: UnsafePointer<Float>, _ body: (UnsafePointer<Float>, SamplingParameters, inout Work) -> R
    ) -> R {
        // The buffers are taken out of self while in use, so that no two accesses to self overlap.
        var work = Work(candidates: candidates, vocabularySize: vocabularySize)
        candidates = SamplerCandidates()
        defer { candidates = work.candidates }
        guard penalties.isActive else { return body(logits, parameters, &work) }
        var copy = penalized
        penalized = []
        defer { penalized = copy }
        if copy.count != vocabularySize { copy = [Float](repeating: 0, count: vocabularySize) }
        let p = parameters
        let pen = penalties
        return copy.withUnsafeMutableBufferPointer { b in
            b.baseAddress!.update(from: logits, count: b.count)
            pen.apply(to: b.baseAddress!, count: b.count)
            return body(UnsafePointer(b.baseAddress!), p, &work)
        }
    }
}
