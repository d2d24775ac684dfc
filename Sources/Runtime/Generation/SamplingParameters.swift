/// How the next token is chosen from a language model's logits. The defaults are llama.cpp's
/// (`common_params_sampling`), except the seed, and the chain that applies them is llama.cpp's
/// default one: penalties, top-k, top-p, min-p, temperature, then a draw (see `Sampler`).
public struct SamplingParameters: Sendable, Equatable, Codable {
    /// The seed when none is given. Fixed, so that two runs with the default parameters produce
    /// the same text; llama.cpp instead draws a random seed by default (its seed 0xFFFFFFFF
    /// means "random"), which a caller gets by passing a random seed of its own.
    public static let defaultSeed: UInt64 = 0

    /// Divides the logits before the draw. At or below 0 the sampler is greedy: the first token
    /// of largest (penalized) logit, whatever the filters.
    public var temperature: Float = 0.8
    /// Keeps the k tokens of largest logit; 0 or less turns top-k off.
    public var topK: Int = 40
    /// Keeps the smallest set of most likely tokens whose probabilities add up to at least topP;
    /// 1 turns top-p off.
    public var topP: Float = 0.95
    /// Keeps the tokens at least minP times as likely as the most likely one; 0 turns min-p off.
    public var minP: Float = 0.05
    /// Divides the positive logits, and multiplies the negative ones, of tokens seen among the
    /// last `repeatLastN`; 1 turns it off (llama.cpp's --repeat-penalty).
    public var repeatPenalty: Float = 1.0
    /// How many of the most recently accepted tokens the penalties look at: 0 turns the
    /// penalties off, -1 means every token accepted since the last reset (the whole context).
    public var repeatLastN: Int = 64
    /// Subtracted once from the logit of every token seen among the last `repeatLastN`.
    public var presencePenalty: Float = 0
    /// Subtracted from the logit of a token once per time it was seen among the last `repeatLastN`.
    public var frequencyPenalty: Float = 0
    /// Seeds the random draws; the same seed, parameters and logits give the same tokens on every
    /// machine. A seed up to 0xFFFFFFFF seeds the generator exactly as llama.cpp's `--seed` does
    /// (std::mt19937); a larger one is folded to 32 bits (low word XOR high word).
    public var seed: UInt64 = SamplingParameters.defaultSeed

    /// Always the most likely token (after the penalties, which this leaves off).
    public static let greedy = SamplingParameters(temperature: 0, topK: 0, topP: 1, minP: 0)

    public init(
        temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05,
        repeatPenalty: Float = 1.0, repeatLastN: Int = 64, presencePenalty: Float = 0, frequencyPenalty: Float = 0,
        seed: UInt64 = SamplingParameters.defaultSeed
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repeatPenalty = repeatPenalty
        self.repeatLastN = repeatLastN
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.seed = seed
    }

    /// Whether `Sampler` takes the argmax instead of drawing.
    public var isGreedy: Bool { temperature <= 0 }

    /// Whether the penalties change any logit, as llama.cpp decides it.
    public var hasPenalties: Bool {
        repeatLastN != 0 && !(repeatPenalty == 1 && frequencyPenalty == 0 && presencePenalty == 0)
    }

    /// Throws `SamplingError` for a value the sampler would compute nonsense with: NaN anywhere,
    /// an infinite temperature or penalty, top-p or min-p outside [0, 1], a repeat penalty of 0 or
    /// less, a window below -1. A `Sampler` built from parameters that fail this still returns a
    /// token inside the vocabulary, but which one is unspecified.
    public func validate() throws {
        func fail(_ name: String, _ value: Any, _ rule: String) -> SamplingError {
            SamplingError.invalidParameter(name: name, value: "\(value)", rule: rule)
        }
        guard temperature.isFinite else { throw fail("temperature", temperature, "must be a finite number (0 or less samples greedily)") }
        guard !topP.isNaN, topP >= 0, topP <= 1 else { throw fail("topP", topP, "must be between 0 and 1 (1 turns top-p off)") }
        guard !minP.isNaN, minP >= 0, minP <= 1 else { throw fail("minP", minP, "must be between 0 and 1 (0 turns min-p off)") }
        guard repeatPenalty.isFinite, repeatPenalty > 0 else { throw fail("repeatPenalty", repeatPenalty, "must be a finite number above 0 (1 turns it off)") }
        guard repeatLastN >= -1 else { throw fail("repeatLastN", repeatLastN, "must be -1 (the whole context), 0 (off) or a count of tokens") }
        guard presencePenalty.isFinite else { throw fail("presencePenalty", presencePenalty, "must be a finite number (0 turns it off)") }
        guard frequencyPenalty.isFinite else { throw fail("frequencyPenalty", frequencyPenalty, "must be a finite number (0 turns it off)") }
    }

    private enum CodingKeys: String, CodingKey {
        case temperature, topK, topP, minP, repeatPenalty, repeatLastN, presencePenalty, frequencyPenalty, seed
    }

    /// Decodes with the defaults for the keys that are missing, so that a configuration file names
    /// only what it changes.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SamplingParameters()
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? d.temperature
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? d.topK
        topP = try c.decodeIfPresent(Float.self, forKey: .topP) ?? d.topP
        minP = try c.decodeIfPresent(Float.self, forKey: .minP) ?? d.minP
        repeatPenalty = try c.decodeIfPresent(Float.self, forKey: .repeatPenalty) ?? d.repeatPenalty
        repeatLastN = try c.decodeIfPresent(Int.self, forKey: .repeatLastN) ?? d.repeatLastN
        presencePenalty = try c.decodeIfPresent(Float.self, forKey: .presencePenalty) ?? d.presencePenalty
        frequencyPenalty = try c.decodeIfPresent(Float.self, forKey: .frequencyPenalty) ?? d.frequencyPenalty
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
    }
}

/// A sampling parameter that `SamplingParameters.validate()` refuses.
public enum SamplingError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidParameter(name: String, value: String, rule: String)

    public var description: String {
        switch self {
        case let .invalidParameter(name, value, rule):
            return "sampling parameter \(name) = \(value): \(rule)"
        }
    }
}
