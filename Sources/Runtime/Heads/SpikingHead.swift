import CKernels

/// One spiking layer. `weightT` is `[inFeatures, outFeatures]` (one row per presynaptic neuron, so
/// a spike adds one contiguous row) and already multiplied by the threshold of the layer feeding
/// it, so a spike carries the activation it stands for. `threshold` is 0 for the read-out layer,
/// which integrates without firing.
public struct SpikingLayer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weightT: [Float]
    public let bias: [Float]
    public let threshold: Float

    public init(inFeatures: Int, outFeatures: Int, weightT: [Float], bias: [Float], threshold: Float) throws {
        guard weightT.count == inFeatures * outFeatures, bias.count == outFeatures, threshold.isFinite, threshold >= 0 else {
            throw ModelError.badInput("spiking layer \(outFeatures)x\(inFeatures): expected \(inFeatures * outFeatures) weights, \(outFeatures) biases and a finite threshold >= 0; got \(weightT.count), \(bias.count), \(threshold)")
        }
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weightT = weightT
        self.bias = bias
        self.threshold = threshold
    }
}

/// A `linear` or `mlp` (ReLU) head run as a rate-coded spiking network (SNN format).
///
/// Each ACT decision runs `timesteps` ticks. The input `x - center`, divided by `inputThreshold`,
/// drives a positive and a negative integrate-and-fire encoder per feature; every layer's membrane
/// is `v = leak * v + bias + sum of the rows of the inputs that spiked`; a neuron fires when v
/// reaches its threshold and then subtracts it (reset by subtraction, so no charge is lost). The
/// read-out layer only integrates: q = v / timesteps. With leak 1 the spike rates approximate the
/// ReLU network, the better the more ticks.
public final class SpikingHead: QHead {
    public let kind: QHeadKind
    public let format = QHeadFormat.snn
    public let layers: [SpikingLayer]
    let center: [Float]
    public let inputThreshold: Float
    public let timesteps: Int
    public let leak: Float
    // The layers' numbers as raw buffers, so the tick loop touches no Swift arrays.
    private let weights: [FloatBuffer]
    private let biases: [FloatBuffer]

    public init(kind: QHeadKind, center: [Float], inputThreshold: Float, layers: [SpikingLayer], timesteps: Int, leak: Float) throws {
        guard !layers.isEmpty, layers[0].inFeatures == center.count, layers.last?.outFeatures == 2,
              zip(layers, layers.dropFirst()).allSatisfy({ $0.outFeatures == $1.inFeatures }) else {
            throw ModelError.badInput("spiking head: layer sizes do not chain from \(center.count) inputs to 2 outputs")
        }
        guard timesteps >= 1, inputThreshold > 0, inputThreshold.isFinite, leak > 0, leak <= 1 else {
            throw ModelError.badInput("spiking head: need timesteps >= 1 (got \(timesteps)), input threshold > 0 (got \(inputThreshold)), leak in (0, 1] (got \(leak))")
        }
        self.kind = kind
        self.center = center
        self.inputThreshold = inputThreshold
        self.layers = layers
        self.timesteps = timesteps
        self.leak = leak
        weights = layers.map { FloatBuffer($0.weightT) }
        biases = layers.map { FloatBuffer($0.bias) }
    }

    public var inputSize: Int { center.count }
    public var byteSize: Int { 4 * (center.count + 1 + layers.reduce(0) { $0 + $1.weightT.count + $1.bias.count + 1 }) }
    public var summary: String { "\(kind.rawValue) SNN (T \(timesteps), leak \(leak))" }

    public func makeScratch(capacity: Int) -> QHeadScratch {
        let n = inputSize, hidden = layers.reduce(0) { $0 + $1.outFeatures }
        return QHeadScratch(floats: 3 * n + hidden, layers: HeadScratchNeeds(ints: 2 * n + hidden))
    }

    public func evaluate(_ x: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>,
                         batch: Int, scratch: QHeadScratch) {
        let n = inputSize
        let current = scratch.floats.pointer, plus = current + n, minus = plus + n
        var membranes: [UnsafeMutablePointer<Float>] = []
        var offset = minus + n
        for layer in layers { membranes.append(offset); offset += layer.outFeatures }
        let plusIdx = scratch.ints, minusIdx = plusIdx + n, hiddenIdx = minusIdx + n
        let inverse = 1 / inputThreshold
        let w = weights.map(\.pointer), bias = biases.map(\.pointer)
        let widths = layers.map(\.outFeatures), thresholds = layers.map(\.threshold)
        let depth = layers.count
        for b in 0..<batch {
            let xb = x + b * n
            center.withUnsafeBufferPointer { cs in for j in 0..<n { current[j] = (xb[j] - cs[j]) * inverse } }
            plus.update(repeating: 0, count: n)
            minus.update(repeating: 0, count: n)
            for l in 0..<depth { membranes[l].update(repeating: 0, count: widths[l]) }
            for _ in 0..<timesteps {
                let (np, nm) = SpikeEncoder.tick(current, plus, minus, leak: leak, count: n, plusIndex: plusIdx, minusIndex: minusIdx)
                var spikes = 0
                for l in 0..<depth {
                    let v = membranes[l], m = widths[l], bl = bias[l]
                    let readout = l == depth - 1
                    let decay: Float = readout ? 1 : leak
                    for o in 0..<m { v[o] = decay * v[o] + bl[o] }
                    if l == 0 {
                        recur_snn_add_columns(w[l], Int64(m), plusIdx, Int64(np), v)
                        recur_snn_sub_columns(w[l], Int64(m), minusIdx, Int64(nm), v)
                    } else {
                        recur_snn_add_columns(w[l], Int64(m), hiddenIdx, Int64(spikes), v)
                    }
                    if readout { break }
                    spikes = 0
                    let theta = thresholds[l]
                    for o in 0..<m where v[o] >= theta {
                        v[o] -= theta
                        hiddenIdx[spikes] = Int32(o)
                        spikes += 1
                    }
                }
            }
            let out = membranes[layers.count - 1], scale = 1 / Float(timesteps)
            q[2 * b] = out[0] * scale
            q[2 * b + 1] = out[1] * scale
        }
    }
}
