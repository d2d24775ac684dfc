import CKernels
import Foundation

/// Generation for several sequences at once, the way llama.cpp's server runs its slots
/// (continuous batching): each slot holds one sequence's KV cache; a prompt is evaluated in
/// chunks of up to `maxBatch` tokens, and each decode step evaluates the next token of every
/// decoding sequence as one batch, so the weights stream through the cache once per step for all
/// of them. A finished sequence frees its slot at once for the next request; the slot keeps its
/// cache, so a later prompt that starts the same way (the next turn of a chat) reuses it.
/// A recursive LM is batched at the granularity of ACT steps, as the puzzle runner batches
/// puzzles: each step runs one ACT step of every sequence's current token, each at its own depth;
/// a token that halts is sampled from at once and its sequence's next token joins the next step.
///
/// Not thread-safe: one thread (a server's engine thread) calls `start`, `step` and `cancel`.
/// Callbacks run on that thread.
public final class BatchGenerator: @unchecked Sendable {
    /// One generation request.
    public struct Request {
        public var prompt: [Int32]
        public var options: GenerationOptions
        /// Receives text as it is produced (never a split character or a stop string); returns
        /// false to stop the sequence (a client that went away).
        public var onText: (String) -> Bool
        /// Called once, when the sequence ends for any reason.
        public var onFinish: (GenerationResult) -> Void

        public init(prompt: [Int32], options: GenerationOptions, onText: @escaping (String) -> Bool, onFinish: @escaping (GenerationResult) -> Void) {
            self.prompt = prompt
            self.options = options
            self.onText = onText
            self.onFinish = onFinish
        }
    }

    public let language: LanguageModel
    public let contextSize: Int
    public let threads: Int
    private let ws: DecoderWorkspace
    private var slots: [Slot]
    /// Increments per started request: the least recently used free slot is taken when no slot
    /// holds a prefix of the prompt.
    private var clock: UInt64 = 0
    /// Recursive LMs: slots whose current token is in flight (between ACT steps).
    private var inFlight = Set<Int>()

    /// `slots`: sequences generated at once (`--parallel`); `contextSize`: positions per slot.
    public init(language: LanguageModel, slots: Int, contextSize: Int, threads: Int, maxBatch: Int = 512) throws {
        let model = language.model
        guard slots >= 1 else { throw ModelError.badInput("the number of parallel sequences must be at least 1, got \(slots)") }
        guard contextSize > 0, contextSize <= model.description.contextLength else {
            throw ModelError.badInput("the context size must be between 1 and the model's context_length \(model.description.contextLength), got \(contextSize)")
        }
        guard threads >= 1, threads <= ACTRunner.maxThreads else {
            throw ModelError.badInput("threads must be between 1 and \(ACTRunner.maxThreads), got \(threads)")
        }
        self.language = language
        self.contextSize = contextSize
        self.threads = threads
        ws = DecoderWorkspace(model: model, contextSize: contextSize, maxBatch: max(maxBatch, slots), threads: threads)
        ws.reserveLogits(rows: slots, vocab: model.vocabSize)
        self.slots = try (0..<slots).map { _ in
            Slot(cache: try model.makeCache(capacity: contextSize))
        }
    }

    public var slotCount: Int { slots.count }

    /// How a recursive LM halts each token and the most ACT steps one may run (at most the
    /// file's `halt_max_steps`, the default). Flat decoders ignore it.
    public func setHalting(_ policy: HaltingPolicy, maxSteps: Int? = nil) throws {
        try ws.setHalting(policy, maxSteps: maxSteps, model: language.model)
    }
    /// Sequences being generated (prompt or decode).
    public var activeCount: Int { slots.count { $0.job != nil } }
    public var hasFreeSlot: Bool { slots.contains { $0.job == nil } }
    /// Whether `step` has any work.
    public var isIdle: Bool { activeCount == 0 }

    /// Checks a request against the context before it takes a slot.
    public func validate(_ request: Request) throws {
        let prompt = request.prompt, options = request.options
        guard !prompt.isEmpty else { throw ModelError.badInput("the prompt has no tokens") }
        guard options.maxTokens >= 0 else { throw ModelError.badInput("the number of tokens to generate must not be negative") }
        try options.sampling.validate()
        guard prompt.count + options.maxTokens <= contextSize else {
            throw ModelError.badInput("the prompt (\(prompt.count) tokens) and \(options.maxTokens) tokens to generate exceed the context size \(contextSize)")
        }
        let vocab = language.model.vocabSize
        if let bad = prompt.first(where: { $0 < 0 || Int($0) >= vocab }) {
            throw ModelError.badInput("token id \(bad) is outside the vocabulary (\(vocab) tokens)")
        }
    }

    /// Puts `request` into a free slot: the one whose cache shares the longest prefix with the
    /// prompt, else the least recently used. Its prompt is evaluated by the next `step` calls.
    /// Returns the slot; throws when the request is invalid or every slot is busy.
    @discardableResult
    public func start(_ request: Request) throws -> Int {
        try validate(request)
        let free = slots.indices.filter { slots[$0].job == nil }
        guard !free.isEmpty else { throw ModelError.badInput("every slot is busy") }
        let shared = free.map { slots[$0].sharedPrefix(with: request.prompt) }
        let best = shared.max()!
        let index = best > 0 ? free[shared.firstIndex(of: best)!] : free.min { slots[$0].lastUsed < slots[$1].lastUsed }!
        let slot = slots[index]
        let reused = slot.keepPrefix(of: request.prompt)
        clock += 1
        slot.lastUsed = clock
        slot.job = Job(request: request, reply: Reply(prompt: request.prompt, options: request.options, language: language),
                       pending: request.prompt[reused...], reused: reused)
        return index
    }

    /// Stops the sequence in `slot` now (its `onFinish` reports `.cancelled`).
    public func cancel(slot index: Int) {
        guard slots.indices.contains(index), var job = slots[index].job else { return }
        if inFlight.remove(index) != nil { language.model.abandonACT(id: index, ws: ws) }
        _ = job.reply.end(.cancelled, onText: { _ in true })
        finish(index, job)
    }

    /// One unit of work: the next chunk of one waiting prompt (its first token sampled when the
    /// prompt is complete), then one decode step over every sequence that has a token to evaluate
    /// (for a recursive LM, one ACT step of every token in flight).
    public func step() {
        recur_set_num_threads(Int32(threads))
        if let index = slots.indices.first(where: { !(slots[$0].job?.pending.isEmpty ?? true) }) {
            prefill(index)
        }
        if language.model.isRecursive {
            stepACT()
            return
        }
        let decoding = slots.indices.filter { slots[$0].job?.next != nil }
        guard !decoding.isEmpty else { return }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let tokens = decoding.map { slots[$0].job!.next! }
        language.model.decodeStep(tokens, caches: decoding.map { slots[$0].cache }, ws: ws)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        for (row, index) in decoding.enumerated() {
            let slot = slots[index]
            slot.tokens.append(tokens[row])
            slot.job!.decodeSeconds += seconds
            slot.job!.decodeSteps += 1
            advance(index, logits: ws.logits.pointer + row * language.model.vocabSize)
        }
    }

    /// One ACT step of every sequence's current token; sequences whose token halts sample the next.
    private func stepACT() {
        let entering = slots.indices.filter { slots[$0].job?.next != nil && !inFlight.contains($0) }
        guard !entering.isEmpty || !inFlight.isEmpty else { return }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let halted = language.model.advanceACT(entering: entering.map { (id: $0, token: slots[$0].job!.next!, cache: slots[$0].cache) }, ws: ws)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        inFlight.formUnion(entering)
        for index in inFlight { slots[index].job!.decodeSeconds += seconds }
        for (row, index) in halted.enumerated() {
            inFlight.remove(index)
            let slot = slots[index]
            slot.tokens.append(slot.job!.next!)
            slot.job!.decodeSteps += 1
            advance(index, logits: ws.logits.pointer + row * language.model.vocabSize)
        }
    }

    private func prefill(_ index: Int) {
        let slot = slots[index]
        let chunk = slot.job!.pending.prefix(ws.maxBatch)
        let t0 = DispatchTime.now().uptimeNanoseconds
        language.model.forward(chunk, cache: slot.cache, ws: ws, allLogits: false)
        slot.job!.promptSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        slot.tokens += chunk
        slot.job!.pending = slot.job!.pending.dropFirst(chunk.count)
        if slot.job!.pending.isEmpty { advance(index, logits: ws.logits.pointer) }
    }

    /// Samples the slot's next token from `logits`; ends the sequence when its reply is done.
    private func advance(_ index: Int, logits: UnsafePointer<Float>) {
        let slot = slots[index]
        var job = slot.job!
        if language.model.isRecursive, let steps = slot.cache.positionSteps.last { job.actSteps.append(Int(steps)) }
        job.next = job.reply.next(logits: logits, onText: job.request.onText)
        if job.next == nil { finish(index, job) } else { slot.job = job }
    }

    /// Frees the slot and reports the sequence's result.
    private func finish(_ index: Int, _ job: Job) {
        slots[index].job = nil
        let reply = job.reply
        job.request.onFinish(GenerationResult(promptTokens: job.request.prompt, tokens: reply.tokens, text: reply.text, finishReason: reply.finishReason,
                                              reusedPromptTokens: job.reused, promptSeconds: job.promptSeconds, decodeSeconds: job.decodeSeconds,
                                              decodeSteps: job.decodeSteps, failure: reply.failure,
                                              actSteps: Array(job.actSteps.prefix(reply.tokens.count))))
    }

    private struct Job {
        let request: Request
        var reply: Reply
        /// Prompt tokens not evaluated yet.
        var pending: ArraySlice<Int32>
        let reused: Int
        /// The sampled token to evaluate at the next decode step.
        var next: Int32?
        var promptSeconds = 0.0
        var decodeSeconds = 0.0
        var decodeSteps = 0
        /// Recursive LMs: ACT steps of each position a reply token was sampled from.
        var actSteps: [Int] = []
    }

    private final class Slot {
        let cache: KVCache
        /// The tokens the cache holds, in order.
        var tokens: [Int32] = []
        var job: Job?
        var lastUsed: UInt64 = 0

        init(cache: KVCache) { self.cache = cache }

        func sharedPrefix(with prompt: [Int32]) -> Int { reusablePrefix(held: tokens, prompt: prompt) }

        func keepPrefix(of prompt: [Int32]) -> Int {
            let same = sharedPrefix(with: prompt)
            cache.truncate(to: same)
            tokens.removeLast(tokens.count - same)
            return same
        }
    }
}
