import CKernels
import Foundation

/// What to generate: how many tokens at most, how to sample, when to stop.
public struct GenerationOptions: Sendable {
    public var maxTokens: Int
    public var sampling: SamplingParameters
    /// Generation stops before the first of these strings appears in the text (it is not output).
    public var stop: [String]
    /// Keep going past an end-of-generation token (benchmarks that need exactly `maxTokens`).
    public var ignoreEndOfGeneration: Bool

    public init(maxTokens: Int = 128, sampling: SamplingParameters = SamplingParameters(), stop: [String] = [], ignoreEndOfGeneration: Bool = false) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stop = stop
        self.ignoreEndOfGeneration = ignoreEndOfGeneration
    }
}

public struct GenerationResult: Sendable {
    public enum FinishReason: String, Sendable {
        /// `maxTokens` reached.
        case length
        /// An end-of-generation token or a stop string.
        case stop
        /// The caller's callback asked to stop.
        case cancelled
        /// The model produced NaN or infinity (`failure` says where).
        case nonFinite = "non_finite"
    }

    public var promptTokens: [Int32]
    /// Tokens sampled, the end-of-generation token included when one ended the reply.
    public var tokens: [Int32]
    public var text: String
    public var finishReason: FinishReason
    /// Prompt tokens whose keys and values were already in the cache (not evaluated again).
    public var reusedPromptTokens: Int
    public var promptSeconds: Double
    /// Seconds of the decode steps (each evaluates one sampled token) and how many ran.
    public var decodeSeconds: Double
    public var decodeSteps: Int
    /// With `finishReason == .nonFinite`: which logit of which reply token was not finite.
    public var failure: String?
    /// Recursive LMs: the ACT steps that produced each reply token (those of the position whose
    /// logits it was sampled from); empty for flat decoders.
    public var actSteps: [Int] = []

    public var promptTokensPerSecond: Double {
        promptSeconds > 0 ? Double(promptTokens.count - reusedPromptTokens) / promptSeconds : 0
    }
    public var tokensPerSecond: Double { decodeSeconds > 0 ? Double(decodeSteps) / decodeSeconds : 0 }
}

/// Generates text with a language model: prefill the prompt (reusing what the context already
/// holds), then sample, stream and evaluate one token at a time until a stop condition.
public final class Generator: @unchecked Sendable {
    public let language: LanguageModel
    public let context: DecoderContext

    public init(language: LanguageModel, context: DecoderContext) {
        self.language = language
        self.context = context
    }

    /// Generates a continuation of `prompt`. `onText` receives the text as it is produced, never
    /// splitting a UTF-8 character and never showing a stop string or a prefix of one that might
    /// still complete; it returns false to stop early.
    public func generate(prompt: [Int32], options: GenerationOptions, onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw ModelError.badInput("the prompt has no tokens") }
        guard options.maxTokens >= 0 else { throw ModelError.badInput("the number of tokens to generate must not be negative") }
        try options.sampling.validate()
        guard prompt.count + options.maxTokens <= context.contextSize else {
            throw ModelError.badInput("the prompt (\(prompt.count) tokens) and \(options.maxTokens) tokens to generate exceed the context size \(context.contextSize)")
        }
        var reply = Reply(prompt: prompt, options: options, language: language)
        let reused = context.reusePrefix(of: prompt)
        let t0 = DispatchTime.now().uptimeNanoseconds
        var logits = try context.feed(Array(prompt[reused...]))
        let promptSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9

        var decodeSeconds = 0.0, decodeSteps = 0
        let recursive = context.model.isRecursive
        var actSteps: [Int] = []
        func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32? {
            if recursive { actSteps.append(context.actSteps(at: context.tokens.count - 1)) }
            return reply.next(logits: logits.baseAddress!, onText: onText)
        }
        var next = sample(logits)
        while let token = next {
            let t1 = DispatchTime.now().uptimeNanoseconds
            logits = try context.feed([token])
            decodeSeconds += Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
            decodeSteps += 1
            next = sample(logits)
        }
        if let failure = reply.failure { throw ModelError.nonFinite(failure) }
        return GenerationResult(promptTokens: prompt, tokens: reply.tokens, text: reply.text, finishReason: reply.finishReason,
                                reusedPromptTokens: reused, promptSeconds: promptSeconds, decodeSeconds: decodeSeconds, decodeSteps: decodeSteps,
                                actSteps: Array(actSteps.prefix(reply.tokens.count)))
    }
}

/// The per-sequence half of generation, shared by `Generator` and `BatchGenerator`: samples each
/// token from the logits, turns tokens into text that never splits a UTF-8 character nor shows a
/// stop string (or a prefix of one that might still complete), and decides when the reply ends.
struct Reply {
    let options: GenerationOptions
    let tokenizer: Tokenizer
    private var sampler: Sampler
    private var stream: StopStringStream
    private var utf8 = UTF8StreamDecoder()
    /// Tokens sampled, the end-of-generation token included when one ended the reply.
    private(set) var tokens: [Int32] = []
    private(set) var text = ""
    private(set) var finishReason = GenerationResult.FinishReason.length
    private(set) var finished = false
    /// Set when the logits were not finite: which token of the reply and which logit.
    private(set) var failure: String?

    init(prompt: [Int32], options: GenerationOptions, language: LanguageModel) {
        self.options = options
        tokenizer = language.tokenizer
        sampler = Sampler(options.sampling, vocabularySize: language.model.vocabSize)
        // The penalties count the prompt's tokens too, as llama.cpp's do.
        for t in prompt { sampler.accept(t) }
        stream = StopStringStream(stops: options.stop)
    }

    /// Samples the next token from `logits` and passes on its text; returns the token to evaluate
    /// next, or nil when the reply has ended (`finishReason` says why). `onText` returns false to
    /// stop early.
    mutating func next(logits: UnsafePointer<Float>, onText: (String) -> Bool) -> Int32? {
        guard !finished else { return nil }
        guard tokens.count < options.maxTokens else { return end(.length, onText: onText) }
        let bad = Int(recur_f32_first_non_finite(logits, Int64(sampler.vocabularySize)))
        if bad >= 0 {
            failure = "the logit of token id \(bad) is \(logits[bad]) before reply token \(tokens.count + 1)"
            return end(.nonFinite, onText: onText)
        }
        // `sample` records the token for the penalties itself.
        let token = sampler.sample(logits: logits)
        tokens.append(token)
        if tokenizer.isEndOfGeneration(token) && !options.ignoreEndOfGeneration { return end(.stop, onText: onText) }
        let (piece, stopped) = stream.push(utf8.append(tokenizer.piece(token)))
        if !emit(piece, onText) { return end(.cancelled, onText: onText) }
        if stopped {
            finishReason = .stop
            finished = true
            return nil
        }
        return tokens.count == options.maxTokens ? end(.length, onText: onText) : token
    }

    /// Ends the reply; whatever was held back (an incomplete character, a partial stop string)
    /// is text after all.
    mutating func end(_ reason: GenerationResult.FinishReason, onText: (String) -> Bool) -> Int32? {
        guard !finished else { return nil }
        finishReason = reason
        finished = true
        _ = emit(stream.finish(utf8.finish()), onText)
        return nil
    }

    private mutating func emit(_ piece: String, _ onText: (String) -> Bool) -> Bool {
        guard !piece.isEmpty else { return true }
        text += piece
        return onText(piece)
    }
}

/// Holds back text that could be the start of a stop string, and cuts the text at the first
/// complete one.
struct StopStringStream {
    let stops: [String]
    private var pending = ""

    init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Text safe to show, and whether a stop string completed (the text then ends before it).
    mutating func push(_ text: String) -> (String, Bool) {
        pending += text
        if let cut = stops.compactMap({ pending.range(of: $0)?.lowerBound }).min() {
            let out = String(pending[..<cut])
            pending = ""
            return (out, true)
        }
        // Keep the longest suffix that is a proper prefix of some stop string.
        var keep = 0
        for stop in stops {
            for n in stride(from: min(stop.count - 1, pending.count), to: 0, by: -1) where pending.hasSuffix(stop.prefix(n)) {
                keep = max(keep, n)
                break
            }
        }
        let out = String(pending.dropLast(keep))
        pending = String(pending.suffix(keep))
        return (out, false)
    }

    mutating func finish(_ tail: String) -> String {
        let out = pending + tail
        pending = ""
        return out
    }
}
