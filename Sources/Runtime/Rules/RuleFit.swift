import CKernels
import Foundation

/// How z is fitted (docs/rule-latent.md): Adam on z with an L1 proximal step, an L2 penalty;
/// in sessions, the confidence gate and the z_slow update rate; memory retrieval and size.
public struct RuleFitSettings: Sendable, Equatable {
    public var learningRate: Float = 0.1
    public var steps = 20
    public var l1: Float = 1e-3
    public var l2: Float = 1e-3
    public var gate: Float = 0.6
    public var eta: Float = 0.5
    public var retrieve: Float = 0.9
    public var replay = 2
    public var capacity = 1024

    public init() {}

    /// The file's `uzr.fit.*` values where present.
    init(file: GGUFFile) {
        func f(_ key: String) -> Float? { file.value("uzr.fit.\(key)")?.double.map(Float.init) }
        func i(_ key: String) -> Int? { file.value("uzr.fit.\(key)")?.int }
        if let v = f("lr") { learningRate = v }
        if let v = i("steps") { steps = v }
        if let v = f("l1") { l1 = v }
        if let v = f("l2") { l2 = v }
        if let v = f("gate") { gate = v }
        if let v = f("eta") { eta = v }
        if let v = f("retrieve") { retrieve = v }
        if let v = i("replay") { replay = v }
        if let v = i("capacity") { capacity = v }
    }
}

/// One example or query pair of bytes.
public struct RulePair: Sendable, Equatable {
    public var input: [UInt8]
    public var output: [UInt8]

    public init(input: [UInt8], output: [UInt8]) {
        self.input = input
        self.output = output
    }
}

/// The result of fitting z on a context.
public struct RuleFitResult: Sendable {
    /// The fitted part (z_fast in a session; z itself alone).
    public var z: [Float]
    /// The loss and its cross-entropy part at the fitted z.
    public var loss: Float
    public var crossEntropy: Float
    /// exp(-crossEntropy).
    public var confidence: Float { expf(-crossEntropy) }
    /// Fraction of exactly-zero entries of `z`.
    public var sparsity: Float { Float(z.filter { $0 == 0 }.count) / Float(max(z.count, 1)) }
}

/// Fits z on example pairs and answers queries with it, on the CPU.
public final class RuleFitter: @unchecked Sendable {
    public let model: RuleModel
    public var settings: RuleFitSettings
    /// Threads of the kernels (the fit's products are small: one or two is usually fastest).
    public let threads: Int
    /// The last fit's and the last answers' passes, whose buffers the next ones with as many
    /// sequences reuse (a session's turns mostly have the same counts): no turn allocates and
    /// faults in fresh pages.
    private var spareFit: RulePass?, spareAnswers: RulePass?
    private let spareLock = NSLock()

    public init(model: RuleModel, settings: RuleFitSettings? = nil, threads: Int = 1) {
        self.model = model
        self.settings = settings ?? model.fitDefaults
        self.threads = threads
    }

    /// Adam (as torch.optim.Adam) on `start` + `base`, optimizing `start` only, with the L1
    /// prox after every step; the loss of the fitted latent.
    public func fit(_ pairs: [RulePair], start: [Float]? = nil, base: [Float]? = nil) throws -> RuleFitResult {
        guard !pairs.isEmpty else { throw ModelError.badInput("no examples to fit z on: the context needs at least one input/output pair") }
        recur_set_num_threads(Int32(threads))
        let k = model.latent
        let base = base ?? [Float](repeating: 0, count: k)
        var z = start ?? [Float](repeating: 0, count: k)
        guard z.count == k, base.count == k else { throw ModelError.badInput("z has \(z.count) values, the model's latent has \(k)") }
        var tokens: [Int32] = [], targets: [Int32] = []
        for p in pairs {
            let s = try model.sequence(input: p.input, output: p.output)
            tokens += s.tokens
            targets += s.targets
        }
        let pass = takePass(sequences: pairs.count, backward: true)
        defer { keep(pass) }
        let tape = try RuleTape(model: model, tokens: tokens, targets: targets, pass: pass)
        var m = [Float](repeating: 0, count: k), v = m, total = m
        let beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, lr = settings.learningRate
        let threshold = lr * settings.l1
        for step in 1...max(settings.steps, 1) where settings.steps > 0 {
            for i in 0..<k { total[i] = z[i] + base[i] }
            _ = total.withUnsafeBufferPointer { model.lossAndGradient(z: $0.baseAddress!, l2: settings.l2, tape: tape) }
            let g = tape.gradient.pointer
            let bc1 = 1 - powf(beta1, Float(step)), bc2 = 1 - powf(beta2, Float(step))
            for i in 0..<k {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                let denom = v[i].squareRoot() / bc2.squareRoot() + eps
                z[i] -= (lr / bc1) * (m[i] / denom)
                // L1 prox: soft-threshold.
                let a = abs(z[i]) - threshold
                z[i] = a > 0 ? (z[i] < 0 ? -a : a) : 0
            }
        }
        for i in 0..<k { total[i] = z[i] + base[i] }
        let final = total.withUnsafeBufferPointer { model.lossAndGradient(z: $0.baseAddress!, l2: settings.l2, tape: tape, gradient: false) }
        return RuleFitResult(z: z, loss: final.loss, crossEntropy: final.crossEntropy)
    }

    /// Greedy answer to `input` under latent `z`: output bytes one at a time until EOS or the
    /// model's longest output.
    public func answer(_ input: [UInt8], z: [Float]) throws -> [UInt8] {
        try answers([input], z: z)[0]
    }

    /// Greedy answers to `inputs` under latent `z`, decoded together (one pass per output byte
    /// for all of them); each as `answer` gives it.
    public func answers(_ inputs: [[UInt8]], z: [Float]) throws -> [[UInt8]] {
        guard !inputs.isEmpty else { return [] }
        recur_set_num_threads(Int32(threads))
        let pass = takePass(sequences: inputs.count, backward: false)
        defer { keep(pass) }
        return try model.answers(inputs, z: z, pass: pass)
    }

    /// The spare pass for `sequences` if there is one (and it is for this thread count), else a new one.
    private func takePass(sequences: Int, backward: Bool) -> RulePass {
        spareLock.lock()
        defer { spareLock.unlock() }
        let spare = backward ? spareFit : spareAnswers
        guard let spare, spare.sequences == sequences, spare.threads == Int(recur_get_num_threads()) else {
            return RulePass(model: model, sequences: sequences, backward: backward)
        }
        if backward { spareFit = nil } else { spareAnswers = nil }
        return spare
    }

    private func keep(_ pass: RulePass) {
        spareLock.lock()
        defer { spareLock.unlock() }
        if pass.backward { spareFit = pass } else { spareAnswers = pass }
    }
}
