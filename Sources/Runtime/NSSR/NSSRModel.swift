import CKernels
import Foundation

/// The five heads' logits of one NSSR supervision step.
public struct NSSRHeads: Sendable, Equatable {
    /// One logit per function the model knows (`functionNames`), for each of the three function heads.
    public var primary: [Float], secondary: [Float], tertiary: [Float]
    /// Logits of the composition types `NSSRFamily.compositionTypes`.
    public var composition: [Float]
    public var halt: Float

    public init(primary: [Float], secondary: [Float], tertiary: [Float], composition: [Float], halt: Float) {
        self.primary = primary
        self.secondary = secondary
        self.tertiary = tertiary
        self.composition = composition
        self.halt = halt
    }
}

/// The NSSR model (docs/nssr.md), run from its description (`NSSRFamily`): the example rows are
/// projected from their features, then each supervision step runs the description's recursion
/// schedule (passes of the block stack over y and z, each after the recursion LayerNorm of its
/// injected sum) and its classifier heads on the mean of y. Quantized files are widened to F32
/// at load (the model is small; the search, not the model, is the hot loop).
public final class NSSRModel: @unchecked Sendable {
    public let description: ModelDescription
    public let file: GGUFFile
    /// The functions the heads were trained for: the registry's first `functionNames.count`, in id order.
    public let functionNames: [String]
    public let hidden: Int, heads: Int, headDim: Int, ffn: Int
    /// Rows the model reads (`seq_len`) and value slots per row (inputs, then the output last).
    public let maxRows: Int, valuesPerRow: Int
    public var supervisionSteps: Int { description.halting?.maxSteps ?? 1 }

    let inputWidth: Int
    let epsilon: Float
    let inputProjection: Linear
    let positions: FloatBuffer
    let initialStates: [String: FloatBuffer]
    let norms: [String: (weight: FloatBuffer, bias: FloatBuffer)]
    let blocks: [String: [Block]]
    let classifiers: [(spec: HeadSpec, linear: Linear)]
    /// The activation scratch of the layers' calls: empty, as float layers read none.
    let noScratch = RawBuffer(byteCount: 0)

    /// A pre-norm block: q, k and v in one product (`[rows, 3 hidden]`, q then k then v per row).
    struct Block {
        let norm1w, norm1b, norm2w, norm2b: FloatBuffer
        let qkv, output, up, down: Linear
    }

    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    public init(file: GGUFFile) throws {
        let d = try ModelFamilies.describe(file)
        guard d.architecture == "nssr", case let .features(width) = d.input, let stack = d.stacks.first,
              case let .attention(a) = stack.block.mixer else {
            throw ModelError.badMetadata(file: file.path, detail: "'\(d.architecture)' is not a neuro-symbolic search model (nssr)")
        }
        self.file = file
        description = d
        hidden = d.hiddenSize
        heads = a.heads
        headDim = a.headDim
        ffn = stack.block.mlpWidth
        epsilon = stack.block.norm.epsilon
        maxRows = d.contextLength
        inputWidth = width
        valuesPerRow = width / 4
        let functionCount = d.heads.first?.width ?? 0
        functionNames = try NSSRFamily.functionNames(file, count: functionCount)

        let loader = WeightLoader(file: file)
        let h = hidden
        // Every layer widened to F32 (quantized files too) and packed for the FP32 kernels.
        func linear(_ names: [String], out: Int, in width: Int) throws -> Linear {
            let parts = names.map { ($0, out) }
            return try loader.floatLinear(parts, in: width, bias: loader.joinedBias(parts, biases: names))
        }
        inputProjection = try linear(["input_proj"], out: h, in: width)
        positions = try loader.floats("position_embd.weight", shape: [maxRows, h])
        var initial: [String: FloatBuffer] = [:]
        for state in d.learnedInitialStates { initial[state] = try loader.floats("\(state)_init", shape: [h]) }
        initialStates = initial
        var norms: [String: (FloatBuffer, FloatBuffer)] = [:]
        for name in Set(d.schedule.passes.compactMap(\.norm)) {
            norms[name] = (try loader.floats("\(name).weight", shape: [h]), try loader.floats("\(name).bias", shape: [h]))
        }
        self.norms = norms
        var blocks: [String: [Block]] = [:]
        for s in d.stacks {
            blocks[s.name] = try (0..<s.layers).map { n in
                let p = "\(s.tensorPrefix).\(n)", f = s.block.mlpWidth
                func t(_ name: String) throws -> FloatBuffer { try loader.floats("\(p).\(name)", shape: [h]) }
                return Block(
                    norm1w: try t("attn_norm.weight"), norm1b: try t("attn_norm.bias"),
                    norm2w: try t("ffn_norm.weight"), norm2b: try t("ffn_norm.bias"),
                    qkv: try linear(["\(p).attn_q", "\(p).attn_k", "\(p).attn_v"], out: h, in: h),
                    output: try linear(["\(p).attn_output"], out: h, in: h),
                    up: try linear(["\(p).ffn_up"], out: f, in: h),
                    down: try linear(["\(p).ffn_down"], out: h, in: f))
            }
        }
        self.blocks = blocks
        classifiers = try d.heads.map { spec in
            guard let name = spec.tensor, let w = spec.width else {
                throw ModelError.badMetadata(file: file.path, detail: "an nssr head has no tensor name or width")
            }
            return (spec, try linear([name], out: w, in: h))
        }
    }

    // MARK: features

    /// The 4 features of one value: v / 100, sign(v), log1p(|v|), v - trunc(v).
    public static func features(of v: Double) -> [Float] {
        [Float(v / 100), Float(v > 0 ? 1 : (v < 0 ? -1 : 0)), Float(log1p(abs(v))), Float(v - v.rounded(.towardZero))]
    }

    /// The feature rows of a task: the first `maxRows` rows, each the first `valuesPerRow - 1`
    /// inputs (zeros for missing ones) and the output (a row's last value) in the last slot.
    public func features(rows: [[Double]]) throws -> [Float] {
        let used = rows.prefix(maxRows)
        guard !used.isEmpty else { throw ModelError.badInput("a task needs at least one row") }
        var out = [Float](repeating: 0, count: used.count * inputWidth)
        for (r, row) in used.enumerated() {
            guard row.count >= 2 else { throw ModelError.badInput("row \(r + 1) has \(row.count) values; a row is inputs, then the output") }
            guard row.allSatisfy(\.isFinite) else { throw ModelError.badInput("row \(r + 1) holds a value that is not finite") }
            let inputs = row.dropLast().prefix(valuesPerRow - 1)
            for (slot, v) in inputs.enumerated() { write(v, slot: slot) }
            write(row[row.count - 1], slot: valuesPerRow - 1)
            func write(_ v: Double, slot: Int) {
                for (i, f) in Self.features(of: v).enumerated() { out[r * inputWidth + slot * 4 + i] = f }
            }
        }
        return out
    }

    // MARK: running

    /// Starts a task: projects its rows and sets the learned initial states. Each `step()` of the
    /// run is one supervision step on the carried states.
    public func start(rows: [[Double]]) throws -> NSSRRun {
        let features = try features(rows: rows)
        return NSSRRun(model: self, features: features, rows: features.count / inputWidth)
    }

    /// One stack pass over `rows` rows of `state`, in place (pre-norm blocks).
    func runStack(_ name: String, _ state: UnsafeMutablePointer<Float>, rows: Int, scratch s: NSSRScratch) {
        let h = hidden
        let none = noScratch
        for b in blocks[name] ?? [] {
            recur_f32_layer_norm(state, b.norm1w.pointer, b.norm1b.pointer, s.normed.pointer, Int64(rows), Int64(h), epsilon)
            b.qkv(s.normed.pointer, s.qkv.pointer, rows: rows, scratch: none)
            attention(rows: rows, scratch: s)
            b.output(s.context.pointer, s.out.pointer, rows: rows, scratch: none)
            recur_f32_add(state, s.out.pointer, state, Int64(rows * h))
            recur_f32_layer_norm(state, b.norm2w.pointer, b.norm2b.pointer, s.normed.pointer, Int64(rows), Int64(h), epsilon)
            b.up(s.normed.pointer, s.up.pointer, rows: rows, scratch: none)
            recur_f32_gelu(s.up.pointer, s.up.pointer, nil, Int64(rows * ffn))
            b.down(s.up.pointer, s.out.pointer, rows: rows, scratch: none)
            recur_f32_add(state, s.out.pointer, state, Int64(rows * h))
        }
    }

    /// Softmax attention over every row (no mask), per head.
    private func attention(rows: Int, scratch s: NSSRScratch) {
        let h = hidden, scale = 1 / Float(headDim).squareRoot()
        let probs = s.probs.pointer
        for head in 0..<heads {
            let q = s.qkv.pointer + head * headDim, k = q + h, v = q + 2 * h
            recur_f32_gemm(0, 1, Int64(rows), Int64(rows), Int64(headDim), scale, q, Int64(3 * h), k, Int64(3 * h), 0, probs, Int64(rows))
            for i in 0..<rows {
                let row = probs + i * rows
                var top = -Float.infinity
                for j in 0..<rows { top = max(top, row[j]) }
                var sum: Float = 0
                for j in 0..<rows { row[j] = expf(row[j] - top); sum += row[j] }
                for j in 0..<rows { row[j] /= sum }
            }
            recur_f32_gemm(0, 0, Int64(rows), Int64(headDim), Int64(rows), 1, probs, Int64(rows), v, Int64(3 * h), 0,
                           s.context.pointer + head * headDim, Int64(h))
        }
    }
}

/// Buffers of one run, sized for the model's longest task.
final class NSSRScratch {
    let normed, qkv, context, out, up, probs, sum: FloatBuffer

    init(model m: NSSRModel, rows: Int) {
        let h = m.hidden
        normed = FloatBuffer(count: rows * h)
        qkv = FloatBuffer(count: rows * 3 * h)
        context = FloatBuffer(count: rows * h)
        out = FloatBuffer(count: rows * h)
        up = FloatBuffer(count: rows * m.ffn)
        probs = FloatBuffer(count: rows * rows)
        sum = FloatBuffer(count: rows * h)
    }
}

/// One task's run: the projected input x and the carried states, advanced one supervision step
/// at a time.
public final class NSSRRun {
    public let model: NSSRModel
    public let rows: Int
    /// Supervision steps run so far.
    public private(set) var steps = 0
    private var states: [String: FloatBuffer] = [:]
    private let scratch: NSSRScratch

    init(model m: NSSRModel, features: [Float], rows: Int) {
        model = m
        self.rows = rows
        scratch = NSSRScratch(model: m, rows: rows)
        let h = m.hidden
        let x = FloatBuffer(count: rows * h)
        features.withUnsafeBufferPointer { m.inputProjection($0.baseAddress!, x.pointer, rows: rows, scratch: m.noScratch) }
        recur_f32_add(x.pointer, m.positions.pointer, x.pointer, Int64(rows * h))
        states["x"] = x
        for state in m.description.schedule.states where state != "x" {
            let buffer = FloatBuffer(count: rows * h)
            if let initial = m.initialStates[state] {
                for r in 0..<rows { (buffer.pointer + r * h).update(from: initial.pointer, count: h) }
            }
            states[state] = buffer
        }
    }

    /// A state's values, `[rows, hidden]` (for tests and tracing).
    public func state(_ name: String) -> [Float] {
        guard let b = states[name] else { return [] }
        return Array(UnsafeBufferPointer(start: b.pointer, count: rows * model.hidden))
    }

    /// Runs one supervision step (the schedule once) and returns its heads.
    public func step() -> NSSRHeads {
        let m = model, h = m.hidden, n = rows * h
        let sum = scratch.sum.pointer
        for pass in m.description.schedule.passes {
            guard let state = states[pass.state] else { continue }
            // sum = state + (inject[0] + inject[1] + ...), then the recursion norm, then the stack.
            if let first = pass.inject.first, let firstBuffer = states[first] {
                sum.update(from: firstBuffer.pointer, count: n)
                for name in pass.inject.dropFirst() { if let b = states[name] { recur_f32_add(sum, b.pointer, sum, Int64(n)) } }
                recur_f32_add(state.pointer, sum, sum, Int64(n))
            } else {
                sum.update(from: state.pointer, count: n)
            }
            if let norm = pass.norm, let (w, b) = m.norms[norm] {
                recur_f32_layer_norm(sum, w.pointer, b.pointer, state.pointer, Int64(rows), Int64(h), m.epsilon)
            } else {
                state.pointer.update(from: sum, count: n)
            }
            m.runStack(pass.stack, state.pointer, rows: rows, scratch: scratch)
        }
        steps += 1
        var logits: [String: [Float]] = [:]
        for c in m.classifiers {
            var pooled = [Float](repeating: 0, count: h)
            if let s = states[c.spec.state] {
                for r in 0..<rows { for i in 0..<h { pooled[i] += s.pointer[r * h + i] } }
                for i in 0..<h { pooled[i] /= Float(rows) }
            }
            var out = [Float](repeating: 0, count: c.linear.outFeatures)
            pooled.withUnsafeBufferPointer { p in
                out.withUnsafeMutableBufferPointer { o in c.linear(p.baseAddress!, o.baseAddress!, rows: 1, scratch: m.noScratch) }
            }
            logits[c.spec.tensor ?? ""] = out
        }
        return NSSRHeads(primary: logits["head_primary"] ?? [], secondary: logits["head_secondary"] ?? [],
                         tertiary: logits["head_tertiary"] ?? [], composition: logits["head_composition"] ?? [],
                         halt: logits["head_halt"]?.first ?? 0)
    }
}
