import Foundation
import Runtime

/// A long multi-turn run of the rule-latent model (docs/rule-latent.md): z = z_slow + z_fast, the
/// fit moving z_fast only, z_slow taking part of it when the turn is confident, a memory of
/// sketches warm-starting turns that look like earlier ones.
public final class RuleSession {
    public let fitter: RuleFitter
    public var model: RuleModel { fitter.model }
    public private(set) var zSlow: [Float]
    public private(set) var zFast: [Float]
    public private(set) var turns: Int
    let memory: RuleMemory?
    private var rng: SplitMixRandom

    /// What one turn did.
    public struct Turn: Sendable {
        public var answers: [[UInt8]]
        /// exp(-cross-entropy) after the fit; nil for a turn without examples (no fit).
        public var confidence: Float?
        public var crossEntropy: Float?
        public var zSlowUpdated: Bool
        public var retrieved: Bool
        public var similarity: Float?
        public var evicted: Int64?
        /// Fraction of exactly-zero entries of z_fast and of z.
        public var sparsityFast: Float
        public var sparsity: Float
        public var memorySketches: Int
        public var fitSeconds: Double
    }

    /// A session over `memory` (nil: no memory, nothing kept between runs), resuming the state
    /// the memory holds; `seed` seeds the replay draws of a new session.
    public init(fitter: RuleFitter, memory: RuleMemory?, seed: UInt64 = 0) throws {
        self.fitter = fitter
        self.memory = memory
        let k = fitter.model.latent
        zSlow = [Float](repeating: 0, count: k)
        zFast = zSlow
        turns = 0
        rng = SplitMixRandom(seed: seed)
        if let memory, let saved = try memory.state("z_slow") {
            let z = RuleMemory.floats(saved)
            guard z.count == k else { throw ModelError.badInput("\(memory.path): a saved z_slow of \(z.count) values, the model's latent has \(k)") }
            zSlow = z
            if let r = try memory.state("rng"), r.count == 8 { rng.state = r.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
            if let t = try memory.state("turns"), t.count == 8 { turns = Int(t.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }) }
        }
    }

    private var state: [String: [UInt8]] {
        var r = rng.state, t = Int64(turns)
        return ["z_slow": RuleMemory.bytes(zSlow), "rng": withUnsafeBytes(of: &r) { Array($0) }, "turns": withUnsafeBytes(of: &t) { Array($0) }]
    }

    /// One turn: fit on `examples` (if any), answer `queries` with z_slow + z_fast.
    public func turn(examples: [RulePair], queries: [[UInt8]]) throws -> Turn {
        let s = fitter.settings
        var result = Turn(answers: [], confidence: nil, crossEntropy: nil, zSlowUpdated: false, retrieved: false, similarity: nil, evicted: nil,
                          sparsityFast: 0, sparsity: 0, memorySketches: memory?.sketches.count ?? 0, fitSeconds: 0)
        turns += 1
        var committed = false
        if !examples.isEmpty {
            let key = model.meanByteEmbedding(examples.flatMap { $0.input + $0.output })
            let nearest = memory?.nearest(key)
            result.similarity = nearest?.similarity
            let retrieved = nearest.flatMap { $0.similarity >= s.retrieve ? $0.index : nil }
            result.retrieved = retrieved != nil
            zFast = retrieved.map { i in zip(memory!.sketches[i].z, zSlow).map { $0 - $1 } } ?? [Float](repeating: 0, count: zSlow.count)
            let start = DispatchTime.now().uptimeNanoseconds
            let fit = try fitter.fit(examples, start: zFast, base: zSlow)
            result.fitSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            zFast = fit.z
            result.confidence = fit.confidence
            result.crossEntropy = fit.crossEntropy
            if fit.confidence >= s.gate {
                zSlow = zip(zSlow, zFast).map { $0 + s.eta * $1 }
                zFast = zFast.map { $0 * (1 - s.eta) }
                result.zSlowUpdated = true
                if let memory {
                    result.evicted = try memory.commitConfidentTurn(retrieved: retrieved, key: key, zSlow: zSlow, replay: s.replay, rng: &rng, state: state)
                    result.memorySketches = memory.sketches.count
                    committed = true
                }
            }
        }
        if !committed { try memory?.save(state: state) }
        let z = zip(zSlow, zFast).map { $0 + $1 }
        result.answers = try fitter.answers(queries, z: z)
        result.sparsityFast = Float(zFast.filter { $0 == 0 }.count) / Float(zFast.count)
        result.sparsity = Float(z.filter { $0 == 0 }.count) / Float(z.count)
        return result
    }
}
