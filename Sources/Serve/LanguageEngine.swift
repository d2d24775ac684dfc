import Foundation
import Runtime

/// What a generation request receives, in order: text pieces, then one end.
enum GenerationEvent: Sendable {
    case text(String)
    case finished(GenerationResult)
    case failed(APIError)
}

/// Serves one language model: a `BatchGenerator` with `--parallel` slots on the model's own
/// thread. Requests queue (at most `queueLimit`) until a slot is free; every decode step runs the
/// next token of all running sequences as one batch.
final class LanguageEngine: EngineThread, @unchecked Sendable {
    let language: LanguageModel
    let generator: BatchGenerator
    let metrics: ServerMetrics
    private let gauges: ServerMetrics.QueueGauges

    private struct Submission {
        let number: Int
        let request: BatchGenerator.Request
        let events: AsyncStream<GenerationEvent>.Continuation
    }

    // Guarded by `condition`.
    private var inbox: [Submission] = []
    private var cancelled: Set<Int> = []
    private var nextNumber = 0
    /// Submissions in slots: number -> slot. Engine thread only.
    private var running: [Int: Int] = [:]
    /// Mirrors of the generator's state readable from any thread, guarded by `condition`.
    private var activeSlots = 0

    init(id: String, language: LanguageModel, parallel: Int, contextSize: Int, threads: Int, queueLimit: Int, metrics: ServerMetrics) throws {
        self.language = language
        self.metrics = metrics
        gauges = metrics.queueGauges(model: id)
        generator = try BatchGenerator(language: language, slots: parallel, contextSize: contextSize, threads: threads)
        super.init(id: id, queueLimit: queueLimit)
    }

    var contextSize: Int { generator.contextSize }

    /// A queued request: its number (to cancel it) and its events.
    struct Ticket {
        let number: Int
        let events: AsyncStream<GenerationEvent>
    }

    /// Queues a generation; its events arrive on the ticket's stream. Throws `queueFull` when
    /// every slot is busy and `queueLimit` requests already wait, or the request's own error
    /// when it cannot run (prompt and max tokens past the context, a token outside the vocabulary).
    func submit(prompt: [Int32], options: GenerationOptions) throws -> Ticket {
        let (stream, events) = AsyncStream<GenerationEvent>.makeStream()
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw APIError.shuttingDown }
        // Free slots take requests at once; beyond them at most `queueLimit` wait.
        guard inbox.count < queueLimit + max(0, generator.slotCount - activeSlots) else {
            metrics.rejected(model: id)
            throw APIError.queueFull(inbox.count)
        }
        let number = nextNumber
        nextNumber += 1
        let model = id, metrics = metrics
        let request = BatchGenerator.Request(prompt: prompt, options: options, onText: { text in
            events.yield(.text(text))
            return true
        }, onFinish: { result in
            metrics.generated(model: model, result: result)
            if let failure = result.failure {
                events.yield(.failed(APIError(.internalServerError, "the model produced a non-finite number: \(failure)", type: "server_error",
                                              code: "non_finite")))
            } else {
                events.yield(.finished(result))
            }
            events.finish()
        })
        try generator.validate(request)
        // A consumer that goes away (a client that disconnected) cancels its sequence.
        events.onTermination = { [weak self] _ in self?.cancel(number) }
        inbox.append(Submission(number: number, request: request, events: events))
        gauges.record(waiting: inbox.count, active: activeSlots)
        condition.signal()
        return Ticket(number: number, events: stream)
    }

    /// Ends a request wherever it is: waiting (dropped) or running (its slot freed at the next step).
    func cancel(_ number: Int) {
        condition.lock()
        var dropped: Submission?
        if let i = inbox.firstIndex(where: { $0.number == number }) {
            dropped = inbox.remove(at: i)
            gauges.record(waiting: inbox.count, active: activeSlots)
        } else {
            cancelled.insert(number)
            condition.signal()
        }
        condition.unlock()
        // Outside the lock: finishing the stream calls its termination handler, which cancels.
        dropped?.events.finish()
    }

    private var admitted: [Submission] = []
    private var toCancel: Set<Int> = []

    override func hasWork() -> Bool { !inbox.isEmpty || !cancelled.isEmpty || activeSlots > 0 }

    override func admit() {
        toCancel = cancelled
        cancelled.removeAll()
        let free = generator.slotCount - activeSlots
        admitted = Array(inbox.prefix(free))
        inbox.removeFirst(admitted.count)
        activeSlots += admitted.count
        gauges.record(waiting: inbox.count, active: activeSlots)
    }

    override func work() {
        for number in toCancel {
            if let slot = running[number] { generator.cancel(slot: slot) }
        }
        for submission in admitted {
            var request = submission.request
            let finish = request.onFinish, number = submission.number
            request.onFinish = { [self] result in
                running[number] = nil
                finish(result)
            }
            do {
                running[number] = try generator.start(request)
            } catch {
                submission.events.yield(.failed(APIError.badRequest("\(error)")))
                submission.events.finish()
            }
        }
        admitted = []
        if !generator.isIdle { generator.step() }
        condition.withLock {
            activeSlots = generator.activeCount
            gauges.record(waiting: inbox.count, active: activeSlots)
        }
    }

    override func shutdown() {
        for submission in takeAll(&inbox) {
            submission.events.yield(.failed(APIError.shuttingDown))
            submission.events.finish()
        }
        for slot in running.values { generator.cancel(slot: slot) }
    }
}
