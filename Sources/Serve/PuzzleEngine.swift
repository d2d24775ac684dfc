import Foundation
import Runtime
import Tasks

/// Serves one TRM/HRM model: an `ACTRunner` with `--parallel` slots on the model's own thread.
/// The puzzles of every `/v1/solve` request join the running batch as slots free up, so
/// concurrent requests share each ACT step (the runner's continuous batching over samples).
final class PuzzleEngine: EngineThread, @unchecked Sendable {
    let model: RecursiveModel
    private let runner: ACTRunner
    let metrics: ServerMetrics
    private let gauges: ServerMetrics.QueueGauges

    /// One request's puzzles: outputs collect here until the last one halts.
    private final class Batch: @unchecked Sendable {
        let inputs: [ModelInput]
        let policy: HaltingPolicy
        let maxSteps: Int?
        var outputs: [ModelOutput?]
        var remaining: Int
        private let done: CheckedContinuation<[ModelOutput], Error>
        private var resumed = false

        init(inputs: [ModelInput], policy: HaltingPolicy, maxSteps: Int?, done: CheckedContinuation<[ModelOutput], Error>) {
            self.inputs = inputs
            self.policy = policy
            self.maxSteps = maxSteps
            outputs = Array(repeating: nil, count: inputs.count)
            remaining = inputs.count
            self.done = done
        }

        /// Resumes the request once: with every output, or with the first error.
        func finish(_ result: Result<[ModelOutput], Error>) {
            guard !resumed else { return }
            resumed = true
            done.resume(with: result)
        }
    }

    // Guarded by `condition`.
    private var inbox: [Batch] = []
    private var waitingPuzzles = 0
    /// Puzzles in slots or in the runner's queue, as of the last step.
    private var activePuzzles = 0
    private var busy = false
    // Engine thread only: output index -> (batch, position in it).
    private var owners: [Int: (Batch, Int)] = [:]
    private var nextIndex = 0
    private var admitted: [Batch] = []

    init(id: String, model: RecursiveModel, parallel: Int, threads: Int, queueLimit: Int, metrics: ServerMetrics) throws {
        self.model = model
        self.metrics = metrics
        gauges = metrics.queueGauges(model: id)
        runner = try ACTRunner(model: model, batchSize: parallel, policy: .qHead, threads: threads)
        super.init(id: id, queueLimit: queueLimit)
    }

    /// Puzzles computed at once.
    var slots: Int { runner.batchSize }
    /// The model's ACT step cap (`halt_max_steps`).
    var maxSteps: Int { runner.maxSteps }

    /// Checks one puzzle against the model (length, vocabulary).
    func validate(_ input: ModelInput, index: Int) throws { try runner.validate(input, index: index) }

    /// Solves `inputs`, sharing ACT steps with every other request's puzzles; returns the outputs
    /// in input order. Throws `queueFull` when `queueLimit` puzzles already wait.
    func solve(_ inputs: [ModelInput], policy: HaltingPolicy, maxSteps: Int?) async throws -> [ModelOutput] {
        try await withCheckedThrowingContinuation { done in
            condition.lock()
            defer { condition.unlock() }
            guard !stopping else { return done.resume(throwing: APIError.shuttingDown) }
            // Free slots take puzzles at once and at most `queueLimit` wait beyond them; one
            // request always fits an empty queue, however many puzzles it has.
            let room = queueLimit + max(0, runner.batchSize - activePuzzles)
            guard waitingPuzzles == 0 || waitingPuzzles + inputs.count <= room else {
                metrics.rejected(model: id)
                return done.resume(throwing: APIError.queueFull(waitingPuzzles))
            }
            inbox.append(Batch(inputs: inputs, policy: policy, maxSteps: maxSteps, done: done))
            waitingPuzzles += inputs.count
            gauges.record(waiting: waitingPuzzles, active: activePuzzles)
            condition.signal()
        }
    }

    override func hasWork() -> Bool { !inbox.isEmpty || busy }

    override func admit() {
        admitted = inbox
        inbox.removeAll()
        activePuzzles += waitingPuzzles
        waitingPuzzles = 0
        busy = true
    }

    override func work() {
        for batch in admitted {
            for (i, input) in batch.inputs.enumerated() {
                let index = nextIndex
                nextIndex += 1
                owners[index] = (batch, i)
                // The handler validated the inputs; should one fail anyway, its request fails
                // (outputs of its other puzzles are then dropped), not the server.
                do { try runner.submit(input, index: index, policy: batch.policy, maxSteps: batch.maxSteps) } catch {
                    owners[index] = nil
                    batch.finish(.failure(APIError(.internalServerError, "\(error)", type: "server_error")))
                }
            }
        }
        admitted = []
        // `emit` never throws here.
        try? runner.step { output in
            guard let (batch, i) = owners.removeValue(forKey: output.index) else { return }
            if let failure = output.nonFinite {
                batch.finish(.failure(APIError(.internalServerError, "puzzle \(i): the model produced a non-finite number: \(failure)",
                                               type: "server_error", code: "non_finite")))
            }
            batch.outputs[i] = output
            batch.remaining -= 1
            metrics.solved(model: id, steps: output.steps)
            if batch.remaining == 0 { batch.finish(.success(batch.outputs.map { $0! })) }
        }
        condition.withLock {
            busy = !runner.isIdle
            activePuzzles = runner.activeCount + runner.waitingCount
            gauges.record(waiting: waitingPuzzles + runner.waitingCount, active: runner.activeCount)
        }
    }

    override func shutdown() {
        for batch in takeAll(&inbox) { batch.finish(.failure(APIError.shuttingDown)) }
        // Puzzles in slots finish within the step cap: run them out rather than lose them.
        while !runner.isIdle { work() }
    }
}
