import CKernels
import Dispatch
import Foundation

/// One puzzle for the model: `seqLen` token ids and a puzzle identifier.
public struct ModelInput: Sendable, Equatable {
    public var tokens: [Int32]
    public var puzzleIdentifier: Int32

    public init(tokens: [Int32], puzzleIdentifier: Int32 = 0) {
        self.tokens = tokens
        self.puzzleIdentifier = puzzleIdentifier
    }
}

/// What the model produced for one input when it halted.
public struct ModelOutput: Sendable {
    /// Position of the input in the order it was submitted.
    public var index: Int
    /// Argmax token of every cell at the halting step.
    public var prediction: [Int32]
    /// ACT steps run.
    public var steps: Int
    /// Q logits of every step run (index 0 = step 1).
    public var qHalt: [Float]
    public var qContinue: [Float]
    /// The Q-head input `z_H[:, 0]` of every step, when `recordHeadInputs` is set.
    public var headInputs: [[Float]] = []
    /// Argmax tokens of every step, when `recordEveryStep` is set.
    public var stepPredictions: [[Int32]]
    /// Logits `[seqLen, vocab]` of every step, when `recordLogits` is set.
    public var stepLogits: [[Float]]
    /// Set when the model produced NaN or infinity (in a Q logit or a cell's logits): what and at
    /// which ACT step. The sample stops there; `run` throws, a server fails the request.
    public var nonFinite: String?
}

/// Runs the ACT loop with continuous batching, the official carry design: every slot of the batch
/// holds one sample; when it halts its result is emitted and the slot takes the next input with a
/// fresh carry, while the other slots keep their state.
///
/// Active slots stay packed at the front of the state buffers (a finished slot is refilled, or the
/// last active slot moves into it), so a step only computes samples that are still thinking.
public final class ACTRunner {
    public let model: RecursiveModel
    public let batchSize: Int
    public let policy: HaltingPolicy
    public let maxSteps: Int
    public var recordEveryStep = false
    public var recordLogits = false
    /// Keep every step's Q-head input in `ModelOutput.headInputs` (calibration of binary and spiking heads).
    public var recordHeadInputs = false
    /// The head that decides halting: the file's attached head when it has one, else the official.
    public let head: QHead
    /// Seconds spent in an attached head and the decisions it made (zero for the official head,
    /// which runs inside `heads()`).
    public private(set) var headSeconds = 0.0
    public private(set) var headDecisions = 0
    public let threads: Int
    /// Batched ACT steps run so far and the seconds spent in them (forward pass and heads).
    public var stepCount: Int { stepDurations.count }
    public var stepSeconds: Double { stepDurations.reduce(0, +) }
    /// Seconds of every batched step, for medians in benchmarks.
    public private(set) var stepDurations: [Double] = []

    private let ws: Workspace

    /// Per-operation timing of every step from now on (nil: untimed, the default).
    /// The attention's precision; `.bf16` where `AttentionPrecision.bf16Available` (elsewhere the
    /// FP32 kernel runs).
    public var attentionPrecision: AttentionPrecision {
        get { ws.attentionPrecision }
        set { ws.attentionPrecision = newValue }
    }
    public var profile: OpProfile? {
        get { ws.profile }
        set { ws.profile = newValue }
    }
    private let zH: FloatBuffer
    private let zL: FloatBuffer
    private let input: FloatBuffer
    private let logits: FloatBuffer
    private let q: FloatBuffer
    private let headSession: QHeadSession?

    /// The most threads a runner takes.
    public static let maxThreads = 1024

    /// - Parameters:
    ///   - maxSteps: ACT step cap; defaults to the model's `halt_max_steps`.
    ///   - qhead: which halting head runs (default: the attached one if the file has it).
    public init(model: RecursiveModel, batchSize: Int, policy: HaltingPolicy, maxSteps: Int? = nil, threads: Int = 1,
                qhead: QHeadSelection = .model) throws {
        guard batchSize >= 1 else { throw ModelError.badInput("batch size must be at least 1, got \(batchSize)") }
        let steps = maxSteps ?? model.config.haltMaxSteps
        guard steps >= 1 else { throw ModelError.badInput("max steps must be at least 1, got \(steps)") }
        guard threads >= 1 else { throw ModelError.badInput("threads must be at least 1, got \(threads)") }
        // Every thread gets its own attention scratch and spins at each barrier: at 4096 threads one
        // ACT step of the Sudoku TRM took a minute and 1.2 GB on 2 cores, at 100000 it never came back.
        guard threads <= Self.maxThreads else {
            throw ModelError.badInput("threads must be at most \(Self.maxThreads), got \(threads)")
        }
        let c = model.config
        // A lower bound of what the batch needs (the three state buffers, the gate/up activations and
        // the logits), so an absurd batch is refused here rather than trapping in an allocation or
        // being killed for memory part way.
        let floatsPerSample = Double(c.totalSeqLen) * Double(3 * c.hiddenSize + 2 * c.feedForwardLength) + Double(c.seqLen * c.vocabSize)
        let bytes = 4 * floatsPerSample * Double(batchSize)
        let physical = Double(ProcessInfo.processInfo.physicalMemory)
        guard bytes < physical else {
            throw ModelError.badInput(String(format: "batch size %d needs at least %.1f GiB of working memory, more than this machine's %.1f GiB",
                                             batchSize, bytes / 1_073_741_824, physical / 1_073_741_824))
        }
        recur_set_num_threads(Int32(threads))
        self.model = model
        self.batchSize = batchSize
        self.policy = policy
        self.maxSteps = steps
        self.threads = threads
        let state = batchSize * c.totalSeqLen * c.hiddenSize
        ws = Workspace(config: c, capacity: batchSize, threads: threads, quantScratchBytes: model.quantScratchBytes(batch: batchSize),
                       swigluBuffer: model.needsSwiGLUBuffer)
        zH = FloatBuffer(count: state)
        zL = FloatBuffer(count: state)
        input = FloatBuffer(count: state)
        logits = FloatBuffer(count: batchSize * c.seqLen * c.vocabSize)
        q = FloatBuffer(count: batchSize * 2)
        switch qhead {
        case .model: head = model.attachedHead ?? model.officialHead
        case .official: head = model.officialHead
        case let .custom(h): head = h
        }
        guard head.inputSize == c.hiddenSize else {
            throw ModelError.badInput("the Q-head reads \(head.inputSize) features, the model's z_H has \(c.hiddenSize)")
        }
        headSession = head === model.officialHead ? nil : QHeadSession(head: head, capacity: batchSize)
    }

    /// Checks an input against the model before it enters a slot.
    public func validate(_ x: ModelInput, index: Int) throws {
        let c = model.config
        guard x.tokens.count == c.seqLen else {
            throw ModelError.badInput("input \(index + 1): \(x.tokens.count) tokens, the model takes \(c.seqLen)")
        }
        if let bad = x.tokens.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw ModelError.badInput("input \(index + 1): token \(bad) is outside the vocabulary 0..<\(c.vocabSize)")
        }
        guard x.puzzleIdentifier >= 0, c.puzzleEmbDim == 0 || Int(x.puzzleIdentifier) < c.puzzleCount else {
            throw ModelError.badInput("input \(index + 1): puzzle identifier \(x.puzzleIdentifier) is outside 0..<\(c.puzzleCount)")
        }
    }

    private struct Slot {
        var index: Int
        var steps = 0
        var output: ModelOutput
        var policy: HaltingPolicy
        var maxSteps: Int
    }

    private struct Waiting {
        var index: Int
        var input: ModelInput
        var policy: HaltingPolicy
        var maxSteps: Int
    }

    /// Samples thinking, packed at the front of the state buffers.
    private var slots: [Slot] = []
    /// Inputs submitted but not yet in a slot, with the index their output will carry.
    private var waiting: [Waiting] = []
    private var waitingHead = 0

    /// Solves every input, calling `emit` as each one halts (not in input order).
    public func run(_ inputs: [ModelInput], emit: (ModelOutput) throws -> Void) throws {
        for (i, x) in inputs.enumerated() { try validate(x, index: i) }
        for (i, x) in inputs.enumerated() { waiting.append(Waiting(index: i, input: x, policy: policy, maxSteps: maxSteps)) }
        do {
            while !isIdle {
                try step { out in
                    if let failure = out.nonFinite { throw ModelError.nonFinite("input \(out.index + 1): \(failure)") }
                    try emit(out)
                }
            }
        } catch {
            slots.removeAll()
            waiting.removeAll()
            waitingHead = 0
            throw error
        }
    }

    /// Queues `input`; it takes a slot at the start of the next `step` that finds one free, and
    /// its output carries `index`. Lets a server feed requests into the running batch, each with
    /// its own halting policy and step cap (the runner's by default).
    public func submit(_ input: ModelInput, index: Int, policy: HaltingPolicy? = nil, maxSteps: Int? = nil) throws {
        try validate(input, index: index)
        let cap = maxSteps ?? self.maxSteps
        guard cap >= 1 else { throw ModelError.badInput("max steps must be at least 1, got \(cap)") }
        waiting.append(Waiting(index: index, input: input, policy: policy ?? self.policy, maxSteps: cap))
    }

    /// Whether no sample is thinking or waiting.
    public var isIdle: Bool { slots.isEmpty && waitingHead == waiting.count }
    /// Samples in slots now.
    public var activeCount: Int { slots.count }
    /// Samples submitted that wait for a slot.
    public var waitingCount: Int { waiting.count - waitingHead }

    /// One ACT step of every sample in a slot (after filling free slots from the queue); `emit`
    /// gets each sample that halts, whose slot then takes the next waiting input with a fresh carry.
    public func step(emit: (ModelOutput) throws -> Void) throws {
        // The thread count sizes the attention scratch: restore ours in case this thread ran
        // another model since.
        recur_set_num_threads(Int32(threads))
        let c = model.config
        let slotSize = c.totalSeqLen * c.hiddenSize
        let cells = c.seqLen * c.vocabSize

        func takeWaiting(into s: Int) {
            let next = waiting[waitingHead], x = next.input
            waitingHead += 1
            if waitingHead == waiting.count {
                waiting.removeAll(keepingCapacity: true)
                waitingHead = 0
            }
            model.resetCarry(zH: zH.pointer + s * slotSize, zL: zL.pointer + s * slotSize)
            model.embed(tokens: x.tokens, puzzle: x.puzzleIdentifier, into: input.pointer + s * slotSize)
            headSession?.reset(slot: s)
            let output = ModelOutput(index: next.index, prediction: [], steps: 0, qHalt: [], qContinue: [], stepPredictions: [], stepLogits: [])
            let slot = Slot(index: next.index, output: output, policy: next.policy, maxSteps: next.maxSteps)
            if s == slots.count { slots.append(slot) } else { slots[s] = slot }
        }
        func move(from src: Int, to dst: Int) {
            for buffer in [zH, zL, input] {
                (buffer.pointer + dst * slotSize).update(from: buffer.pointer + src * slotSize, count: slotSize)
            }
            slots[dst] = slots[src]
            headSession?.move(from: src, to: dst)
        }

        while waitingCount > 0 && slots.count < batchSize { takeWaiting(into: slots.count) }
        guard !slots.isEmpty else { return }
        var prediction = [Int32](repeating: 0, count: c.seqLen)
        let batch = slots.count
        let t0 = DispatchTime.now().uptimeNanoseconds
        model.step(zH: zH.pointer, zL: zL.pointer, input: input.pointer, batch: batch, ws: ws)
        model.heads(zH: zH.pointer, batch: batch, logits: logits.pointer, q: q.pointer, ws: ws)
        if let headSession {
            let h0 = DispatchTime.now().uptimeNanoseconds
            headSession.evaluate(ws.headInput.pointer, q: q.pointer, batch: batch)
            headSeconds += Double(DispatchTime.now().uptimeNanoseconds - h0) / 1e9
            headDecisions += batch
        }
        stepDurations.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        var finished: [Int] = []
        for s in 0..<batch {
            let qHalt = q[2 * s], qContinue = q[2 * s + 1]
            let row = logits.pointer + s * cells
            prediction.withUnsafeMutableBufferPointer {
                recur_f32_argmax(row, Int64(c.seqLen), Int64(c.vocabSize), $0.baseAddress!)
            }
            slots[s].steps += 1
            slots[s].output.qHalt.append(qHalt)
            slots[s].output.qContinue.append(qContinue)
            if recordEveryStep { slots[s].output.stepPredictions.append(prediction) }
            if recordHeadInputs { slots[s].output.headInputs.append(Array(UnsafeBufferPointer(start: ws.headInput.pointer + s * c.hiddenSize, count: c.hiddenSize))) }
            if recordLogits { slots[s].output.stepLogits.append(Array(UnsafeBufferPointer(start: row, count: cells))) }
            let failure = Self.nonFinite(qHalt: qHalt, qContinue: qContinue, logits: row, cells: cells, vocab: c.vocabSize)
            if failure != nil || slots[s].steps >= slots[s].maxSteps || slots[s].policy.halts(rule: c.haltRule, qHalt: qHalt, qContinue: qContinue) {
                var out = slots[s].output
                out.nonFinite = failure.map { "\($0) at ACT step \(slots[s].steps)" }
                out.prediction = prediction
                out.steps = slots[s].steps
                try emit(out)
                finished.append(s)
            }
        }
        // Refill finished slots from the queue; compact the rest from the back so the active
        // slots stay contiguous at the front.
        for s in finished.reversed() {
            if waitingCount > 0 {
                takeWaiting(into: s)
            } else {
                let last = slots.count - 1
                if s != last { move(from: last, to: s) }
                slots.removeLast()
            }
        }
    }
}

extension ACTRunner {
    /// What is not finite in one sample's step output, or nil.
    static func nonFinite(qHalt: Float, qContinue: Float, logits: UnsafePointer<Float>, cells: Int, vocab: Int) -> String? {
        if !qHalt.isFinite { return "q_halt is \(qHalt)" }
        if !qContinue.isFinite { return "q_continue is \(qContinue)" }
        let i = Int(recur_f32_first_non_finite(logits, Int64(cells)))
        return i < 0 ? nil : "the logit of token \(i % vocab) at position \(i / vocab) is \(logits[i])"
    }
}

/// Which halting head an `ACTRunner` runs.
public enum QHeadSelection {
    /// The file's attached head (`qhead.kind`) when it has one, else the official `qhead`.
    case model
    /// The official linear head, even when another is attached.
    case official
    /// Any head, e.g. one loaded from another GGUF file with `QHeadLoader`.
    case custom(QHead)
}
