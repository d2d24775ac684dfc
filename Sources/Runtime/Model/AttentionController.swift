import CKernels
import Foundation

/// An attention controller and its confidence gate, read from a companion GGUF file
/// (`general.architecture = "attn_controller"`, docs/attention-controller.md) and attached to a
/// causal LM: at each controlled layer, per token, the controller predicts the attention of each
/// controlled head over the last `window` positions (plus one slot for everything before), the
/// gate sets how strongly that prediction is mixed into the plain attention (alpha in
/// `[0, alphaMax]`), and the attention kernel mixes it (`recur_f32_steered_attention`).
public final class AttentionController: @unchecked Sendable {
    public static let architecture = "attn_controller"

    public let path: String
    /// Controlled layers (block indices of the LM), ascending.
    public let layers: [Int]
    /// Controlled heads, the same at every controlled layer.
    public let heads: [Int]
    /// K: the positions a controller row covers before its "earlier" slot.
    public let window: Int
    /// The gate's ceiling: alpha = alphaMax * sigmoid(gate).
    public let alphaMax: Float
    /// Width of the controller's hidden layer (C) and of the gate's (G).
    public let controllerWidth: Int
    public let gateWidth: Int
    let epsilon: Float
    let hidden: Int
    let headCount: Int
    let steps: [Int: Layer]

    /// What one controlled layer runs.
    struct Layer {
        let fc1: Linear
        let normWeight: FloatBuffer
        let normBias: FloatBuffer
        let fc2: Linear
        let gate1: Linear
        let gate2: Linear
    }

    /// Reads `path` for a model described by `model`. `alphaMax` overrides the file's ceiling
    /// (`recur generate --alpha-max`); both must lie in [0, 1].
    public convenience init(path: String, model: ModelDescription, alphaMax: Float? = nil) throws {
        try self.init(file: GGUFFile(path: path), model: model, alphaMax: alphaMax)
    }

    public init(file: GGUFFile, model: ModelDescription, alphaMax: Float? = nil) throws {
        path = file.path
        func bad(_ detail: String) -> ModelError { .badMetadata(file: file.path, detail: detail) }
        let arch = file.value("general.architecture")?.string
        guard arch == Self.architecture else {
            throw bad("general.architecture is \(arch.map { "'\($0)'" } ?? "missing"), not '\(Self.architecture)': not an attention controller")
        }
        func key(_ name: String) -> GGUFValue? { file.value("\(Self.architecture).\(name)") }
        func int(_ name: String) throws -> Int {
            guard let v = key(name)?.int else { throw bad("\(Self.architecture).\(name) is missing or not an integer") }
            return v
        }
        func ints(_ name: String) throws -> [Int] {
            guard let a = key(name)?.array else { throw bad("\(Self.architecture).\(name) is missing or not an array") }
            let v = a.compactMap(\.int)
            guard v.count == a.count, !v.isEmpty else { throw bad("\(Self.architecture).\(name) must be a non-empty array of integers") }
            return v
        }
        func float(_ name: String) throws -> Float {
            guard let v = key(name)?.double else { throw bad("\(Self.architecture).\(name) is missing or not a number") }
            return Float(v)
        }

        guard model.halting == nil else {
            throw ModelError.badInput("attention controllers steer flat decoders; '\(model.architecture)' runs per-token ACT steps")
        }
        guard case let .attention(attention)? = model.stacks.first?.block.mixer, model.stacks.count == 1 else {
            throw ModelError.badInput("attention controllers steer a model of one attention stack")
        }
        let target = key("target.architecture")?.string
        guard target == model.architecture else {
            throw bad("the controller was trained for '\(target ?? "?")', the model is '\(model.architecture)'")
        }
        let blocks = model.stacks[0].layers
        for (name, have) in [("target.embedding_length", model.hiddenSize), ("target.head_count", attention.heads), ("target.block_count", blocks)] {
            let want = try int(name)
            guard want == have else { throw bad("\(Self.architecture).\(name) is \(want), the model's is \(have)") }
        }
        let hidden = model.hiddenSize, headCount = attention.heads
        let layers = try ints("layers"), heads = try ints("heads"), window = try int("window")
        self.hidden = hidden
        self.headCount = headCount
        self.layers = layers
        self.heads = heads
        self.window = window
        epsilon = try float("layer_norm_epsilon")
        guard layers == layers.sorted(), Set(layers).count == layers.count, layers.allSatisfy({ (0..<blocks).contains($0) }) else {
            throw bad("\(Self.architecture).layers \(layers) must be ascending block indices below \(blocks)")
        }
        guard heads == heads.sorted(), Set(heads).count == heads.count, heads.allSatisfy({ (0..<headCount).contains($0) }) else {
            throw bad("\(Self.architecture).heads \(heads) must be ascending head indices below \(headCount)")
        }
        guard window >= 1, window <= Int(RECUR_STEER_MAX_WINDOW) else {
            throw bad("\(Self.architecture).window \(window) must be between 1 and \(RECUR_STEER_MAX_WINDOW)")
        }
        let ceiling = try alphaMax ?? float("alpha_max")
        guard ceiling >= 0, ceiling <= 1 else {
            throw ModelError.badInput("alpha_max must lie in [0, 1], got \(ceiling)")
        }
        self.alphaMax = ceiling

        let loader = WeightLoader(file: file)
        let first = layers[0]
        guard let fc1 = file.tensor("ctl.\(first).fc1.weight"), fc1.shape.count == 2,
              let g1 = file.tensor("gate.\(first).fc1.weight"), g1.shape.count == 2 else {
            throw ModelError.missingTensor(file: file.path, name: "ctl.\(first).fc1.weight or gate.\(first).fc1.weight")
        }
        let controllerWidth = fc1.shape[0], gateWidth = g1.shape[0]
        self.controllerWidth = controllerWidth
        self.gateWidth = gateWidth
        let slots = heads.count * (window + 1)
        var steps: [Int: Layer] = [:]
        for l in layers {
            steps[l] = Layer(
                fc1: try loader.linear("ctl.\(l).fc1", out: controllerWidth, in: hidden, bias: true),
                normWeight: try loader.floats("ctl.\(l).norm.weight", shape: [controllerWidth]),
                normBias: try loader.floats("ctl.\(l).norm.bias", shape: [controllerWidth]),
                fc2: try loader.linear("ctl.\(l).fc2", out: slots, in: controllerWidth, bias: true),
                gate1: try loader.linear("gate.\(l).fc1", out: gateWidth, in: hidden + 2 * heads.count, bias: true),
                gate2: try loader.linear("gate.\(l).fc2", out: 1, in: gateWidth, bias: true))
        }
        self.steps = steps
    }

    /// Floats of the slot probabilities one row holds for every head of the model.
    var slotsPerRow: Int { headCount * (window + 1) }

    var linears: [Linear] { steps.values.flatMap { [$0.fc1, $0.fc2, $0.gate1, $0.gate2] } }

    /// Runs the controller and the gate of block `layer` on the `n` rows of `x` (the attention
    /// input; row i is the token at position `positions[i]`), leaving the slot probabilities and
    /// alpha per row and head in `s.slots` / `s.alpha` (heads it does not control: alpha 0).
    func evaluate(layer: Int, _ x: UnsafePointer<Float>, rows n: Int, positions: UnsafePointer<Int32>, ws: some ForwardScratch, s: SteeringScratch) {
        guard let step = steps[layer] else { return }
        let c = controllerWidth, k1 = window + 1, nh = heads.count, features = hidden + 2 * nh
        ws.linear(.controller, step.fc1, x, s.hidden.pointer, rows: n)
        ws.time(.controller) {
            let h = s.hidden.pointer
            for i in 0..<(n * c) where h[i] < 0 { h[i] = 0 }
            recur_f32_layer_norm(h, step.normWeight.pointer, step.normBias.pointer, s.normed.pointer, Int64(n), Int64(c), epsilon)
        }
        ws.linear(.controller, step.fc2, s.normed.pointer, s.logits.pointer, rows: n)
        ws.time(.controller) {
            s.slots.pointer.update(repeating: 0, count: n * slotsPerRow)
            s.alpha.pointer.update(repeating: 0, count: n * headCount)
            for i in 0..<n {
                let t = Int(positions[i])
                let f = s.features.pointer + i * features
                f.update(from: x + i * hidden, count: hidden)
                for (j, head) in heads.enumerated() {
                    let logits = s.logits.pointer + (i * nh + j) * k1
                    let q = s.slots.pointer + (i * headCount + head) * k1
                    let (entropy, peak) = Self.slotSoftmax(logits, into: q, window: window, position: t)
                    f[hidden + j] = entropy
                    f[hidden + nh + j] = peak
                }
            }
        }
        ws.linear(.gate, step.gate1, s.features.pointer, s.gateHidden.pointer, rows: n)
        ws.time(.gate) {
            let g = s.gateHidden.pointer
            for i in 0..<(n * gateWidth) where g[i] < 0 { g[i] = 0 }
        }
        ws.linear(.gate, step.gate2, s.gateHidden.pointer, s.gateOut.pointer, rows: n)
        ws.time(.gate) {
            let slot = s.record ? layers.firstIndex(of: layer) : nil
            for i in 0..<n {
                let z = s.gateOut.pointer[i]
                let a = alphaMax * (1 / (1 + expf(-z)))
                for head in heads { s.alpha.pointer[i * headCount + head] = a }
                if let slot { s.lastAlpha[i * layers.count + slot] = a }
            }
        }
    }

    /// The softmax of one head's K + 1 slot logits over the slots position `t` has (slot i < K
    /// when t - i >= 0; slot K when t >= K), 0 elsewhere; returns its entropy (nats) and maximum.
    static func slotSoftmax(_ logits: UnsafePointer<Float>, into q: UnsafeMutablePointer<Float>, window k: Int, position t: Int) -> (entropy: Float, max: Float) {
        let inWindow = min(k, t + 1), earlier = t >= k
        var peak = -Float.infinity
        for i in 0..<inWindow { peak = max(peak, logits[i]) }
        if earlier { peak = max(peak, logits[k]) }
        var sum: Float = 0
        for i in 0..<inWindow { q[i] = expf(logits[i] - peak); sum += q[i] }
        if earlier { q[k] = expf(logits[k] - peak); sum += q[k] }
        var entropy: Float = 0, top: Float = 0
        func finish(_ i: Int) {
            q[i] /= sum
            if q[i] > 0 { entropy -= q[i] * logf(q[i]) }
            top = max(top, q[i])
        }
        for i in 0..<inWindow { finish(i) }
        if earlier { finish(k) }
        return (entropy, top)
    }
}

/// A decoder workspace's buffers for an attached controller, sized for `rows` rows.
final class SteeringScratch: @unchecked Sendable {
    let hidden: FloatBuffer
    let normed: FloatBuffer
    let logits: FloatBuffer
    let slots: FloatBuffer
    let alpha: FloatBuffer
    let features: FloatBuffer
    let gateHidden: FloatBuffer
    let gateOut: FloatBuffer
    /// Whether the gate's alphas are kept per row and layer (`lastAlpha`, `[rows, layers]`) for
    /// the caller to read after a forward call (`recur generate --show-gate`).
    var record = false
    let lastAlpha: UnsafeMutablePointer<Float>
    let layers: Int

    init(controller c: AttentionController, rows: Int) {
        let nh = c.heads.count
        hidden = FloatBuffer(count: rows * c.controllerWidth)
        normed = FloatBuffer(count: rows * c.controllerWidth)
        logits = FloatBuffer(count: rows * nh * (c.window + 1))
        slots = FloatBuffer(count: rows * c.slotsPerRow)
        alpha = FloatBuffer(count: rows * c.headCount)
        features = FloatBuffer(count: rows * (c.hidden + 2 * nh))
        gateHidden = FloatBuffer(count: rows * c.gateWidth)
        gateOut = FloatBuffer(count: rows)
        layers = c.layers.count
        lastAlpha = .allocate(capacity: rows * c.layers.count)
        lastAlpha.initialize(repeating: 0, count: rows * c.layers.count)
    }

    deinit { lastAlpha.deallocate() }

    /// Rows of the gate's alphas kept since the last `drain`, one `[layers]` row per token.
    private var history: [[Float]] = []

    /// Keeps the alphas of the `n` rows just run (when recording).
    func keep(rows n: Int) {
        guard record else { return }
        for i in 0..<n { history.append(Array(UnsafeBufferPointer(start: lastAlpha + i * layers, count: layers))) }
    }

    func drain() -> [[Float]] {
        defer { history.removeAll() }
        return history
    }
}
