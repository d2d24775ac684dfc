import CKernels

/// One token sequence a causal model is working on: its KV cache and scratch. Feeding tokens
/// extends the sequence; a new prompt that shares a prefix with what the cache holds reuses that
/// prefix (the way llama.cpp's server keeps a conversation's cache between turns).
public final class DecoderContext: @unchecked Sendable {
    public let model: CausalModel
    public let contextSize: Int
    let cache: KVCache
    let ws: DecoderWorkspace
    /// The tokens the cache holds, in order.
    public private(set) var tokens: [Int32] = []
    /// Per-operation timing, when set (`recur generate --profile`).
    public var profile: OpProfile? {
        get { ws.profile }
        set { ws.profile = newValue }
    }

    /// `contextSize`: positions the cache holds (at most the model's `context_length`).
    public init(model: CausalModel, contextSize: Int, threads: Int, maxBatch: Int = 512) throws {
        guard contextSize > 0 else { throw ModelError.badInput("the context size must be positive") }
        guard threads >= 1, threads <= ACTRunner.maxThreads else {
            throw ModelError.badInput("threads must be between 1 and \(ACTRunner.maxThreads), got \(threads)")
        }
        guard contextSize <= model.description.contextLength else {
            throw ModelError.badInput("a context of \(contextSize) tokens is longer than the model's context_length \(model.description.contextLength)")
        }
        self.model = model
        self.contextSize = contextSize
        cache = try model.makeCache(capacity: contextSize)
        ws = DecoderWorkspace(model: model, contextSize: contextSize, maxBatch: maxBatch, threads: threads)
        ws.steering?.record = true
    }

    /// With an attention controller attached: the gate's alpha of every controlled layer
    /// (`controller.layers` order) when the token at each position was fed; empty without one.
    public private(set) var gateAlphas: [[Float]] = []

    /// Bytes reserved for keys and values (touched only as the context fills).
    public var cacheBytes: Int { cache.reservedBytes }

    /// How a recursive LM halts each token and the most ACT steps one may run (at most the
    /// file's `halt_max_steps`, the default). Flat decoders ignore it.
    public func setHalting(_ policy: HaltingPolicy, maxSteps: Int? = nil) throws {
        try ws.setHalting(policy, maxSteps: maxSteps, model: model)
    }

    /// ACT steps the token at `position` ran (1 for a flat decoder).
    public func actSteps(at position: Int) -> Int {
        guard model.isRecursive else { return 1 }
        return position < cache.positionSteps.count ? Int(cache.positionSteps[position]) : 0
    }

    /// Forgets everything after the first `count` tokens.
    public func truncate(to count: Int) {
        cache.truncate(to: count)
        tokens.removeLast(max(0, tokens.count - cache.count))
        gateAlphas.removeLast(max(0, gateAlphas.count - tokens.count))
    }

    /// Keeps the longest prefix of the cache that `prompt` starts with (leaving at least the
    /// prompt's last token to feed, so there are logits to sample from); returns its length.
    @discardableResult
    public func reusePrefix(of prompt: [Int32]) -> Int {
        let same = reusablePrefix(held: tokens, prompt: prompt)
        truncate(to: same)
        return same
    }

    private func check(_ new: [Int32]) throws {
        guard tokens.count + new.count <= contextSize else {
            throw ModelError.badInput("the context is full: \(tokens.count) + \(new.count) tokens exceed the context size \(contextSize)")
        }
        let vocab = model.vocabSize
        if let bad = new.first(where: { $0 < 0 || Int($0) >= vocab }) {
            throw ModelError.badInput("token id \(bad) is outside the vocabulary (\(vocab) tokens)")
        }
    }

    /// Appends `new` to the sequence and returns the logits of its last token (`[vocab]`, valid
    /// until the next call).
    public func feed(_ new: [Int32]) throws -> UnsafeBufferPointer<Float> {
        guard !new.isEmpty else { throw ModelError.badInput("nothing to feed: no tokens") }
        try check(new)
        recur_set_num_threads(Int32(ws.threads))
        model.forward(new[...], cache: cache, ws: ws, allLogits: false)
        tokens += new
        if let steering = ws.steering { gateAlphas += steering.drain() }
        return UnsafeBufferPointer(start: ws.logits.pointer, count: model.vocabSize)
    }

    /// Appends `new` and returns the logits of every one of its tokens, `[new.count, vocab]`
    /// (teacher forcing: perplexity, KL against a reference).
    public func feedAll(_ new: [Int32]) throws -> [Float] {
        guard !new.isEmpty else { return [] }
        try check(new)
        ws.reserveLogits(rows: new.count, vocab: model.vocabSize)
        recur_set_num_threads(Int32(ws.threads))
        model.forward(new[...], cache: cache, ws: ws, allLogits: true)
        tokens += new
        if let steering = ws.steering { gateAlphas += steering.drain() }
        return Array(UnsafeBufferPointer(start: ws.logits.pointer, count: new.count * model.vocabSize))
    }
}

/// Leading tokens of `prompt` that a cache holding `held` already has, leaving at least the
/// prompt's last token to evaluate (there must be logits to sample from).
func reusablePrefix(held: [Int32], prompt: [Int32]) -> Int {
    var same = 0
    while same < min(held.count, prompt.count - 1), held[same] == prompt[same] { same += 1 }
    return same
}
