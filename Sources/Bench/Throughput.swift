import Dispatch
import Foundation
import Runtime

/// Set from a signal handler (Ctrl-C), read between repetitions and between emitted puzzles.
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    private var handlers: [Int: @Sendable () -> Void] = [:]
    private var nextHandler = 0
    public init() {}
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }

    /// Sets the flag and runs every handler registered with `onSet` (once).
    public func set() {
        lock.lock()
        let run = value ? [] : Array(handlers.values)
        value = true
        handlers.removeAll()
        lock.unlock()
        for handler in run { handler() }
    }

    /// Runs `handler` when the flag is set (at once if it already is); returns a token for `remove`.
    @discardableResult
    public func onSet(_ handler: @escaping @Sendable () -> Void) -> Int {
        lock.lock()
        if value {
            lock.unlock()
            handler()
            return -1
        }
        let token = nextHandler
        nextHandler += 1
        handlers[token] = handler
        lock.unlock()
        return token
    }

    public func remove(_ token: Int) { lock.lock(); handlers[token] = nil; lock.unlock() }
}

/// Thrown out of a measurement when the stop flag is set; what finished before is kept.
public struct BenchInterrupted: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "interrupted" }
}

/// One throughput configuration.
public struct ThroughputSettings: Sendable {
    public var threads: Int
    public var batch: Int
    public var halt: HaltingPolicy
    public var repetitions: Int
    public var warmup: Int
    public var maxSteps: Int?
    public var attention: AttentionPrecision = .f32

    public init(threads: Int, batch: Int, halt: HaltingPolicy, repetitions: Int, warmup: Int = 1, maxSteps: Int? = nil) {
        self.threads = threads
        self.batch = batch
        self.halt = halt
        self.repetitions = repetitions
        self.warmup = warmup
        self.maxSteps = maxSteps
    }
}

/// Speed of one configuration over its repetitions (each repetition = every puzzle once).
public struct ThroughputResult: Sendable {
    /// Mean milliseconds per batched ACT step within each repetition.
    public var msPerStep: Spread
    public var puzzlesPerSecond: Spread
    /// Output cells emitted per second: every halted puzzle emits its `seqLen` cells.
    public var tokensPerSecond: Spread
    public var meanSteps: Double
    public var repetitions: Int

    public var figures: [String: Double] {
        var f = msPerStep.figures("ms_per_step")
        f.merge(puzzlesPerSecond.figures("puzzles_per_s")) { a, _ in a }
        f.merge(tokensPerSecond.figures("tokens_per_s")) { a, _ in a }
        f["mean_steps"] = meanSteps
        return f
    }
}

public enum Throughput {
    /// Runs `settings.warmup` untimed passes, then up to `settings.repetitions` timed passes over
    /// `inputs`. Returns nil when stopped before one timed pass finished; a pass cut short by
    /// `stop` is dropped, the finished ones are kept.
    public static func measure(
        model: RecursiveModel, inputs: [ModelInput], settings: ThroughputSettings, stop: StopFlag,
        progress: (_ repetition: Int, _ of: Int) -> Void = { _, _ in }
    ) throws -> ThroughputResult? {
        guard !inputs.isEmpty else { return nil }
        guard settings.repetitions >= 1 else { throw ModelError.badInput("repetitions must be at least 1, got \(settings.repetitions)") }
        let runner = try ACTRunner(model: model, batchSize: settings.batch, policy: settings.halt, maxSteps: settings.maxSteps,
                                   threads: settings.threads)
        runner.attentionPrecision = settings.attention
        var stepsTaken = 0
        func pass() throws {
            stepsTaken = 0
            try runner.run(inputs) { out in
                stepsTaken += out.steps
                if stop.isSet { throw BenchInterrupted() }
            }
        }
        var stepMs: [Double] = [], puzzlesPerS: [Double] = [], tokensPerS: [Double] = [], meanSteps: [Double] = []
        do {
            for _ in 0..<max(settings.warmup, 0) {
                if stop.isSet { throw BenchInterrupted() }
                try pass()
            }
            for r in 0..<settings.repetitions {
                if stop.isSet { throw BenchInterrupted() }
                progress(r + 1, settings.repetitions)
                let before = runner.stepDurations.count
                let t0 = DispatchTime.now().uptimeNanoseconds
                try pass()
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                let steps = runner.stepDurations[before...]
                stepMs.append(1000 * steps.reduce(0, +) / Double(max(steps.count, 1)))
                puzzlesPerS.append(Double(inputs.count) / seconds)
                tokensPerS.append(Double(inputs.count * model.config.seqLen) / seconds)
                meanSteps.append(Double(stepsTaken) / Double(inputs.count))
            }
        } catch is BenchInterrupted {
            if stepMs.isEmpty { return nil }
        }
        return ThroughputResult(msPerStep: Spread(stepMs), puzzlesPerSecond: Spread(puzzlesPerS), tokensPerSecond: Spread(tokensPerS),
                                meanSteps: meanSteps.reduce(0, +) / Double(meanSteps.count), repetitions: stepMs.count)
    }
}
