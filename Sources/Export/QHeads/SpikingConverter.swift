import Foundation
import Runtime

/// Turns a float head into the SNN format by threshold balancing.
///
/// `linear`/`mlp` (ReLU) heads become one spiking network (below). A GRU or attention head has
/// gates, tanh and softmax, which rates cannot carry; each of its matrices becomes a rate-coded
/// layer with its own signed input encoder (centre and scale from what the float head feeds that
/// matrix over the calibration sequences, `QHeadTracer`) and an integrating read-out, and the
/// cell and the attention run in float on the read-out rates.
///
/// The input is centred by its calibration mean; the input scale `lambda_0` is the 99.9th
/// percentile of |x - mean| over the calibration states, and a hidden layer's threshold the 99.9th
/// percentile of its positive ReLU activations (a percentile rather than the maximum, so one
/// outlier does not slow every other neuron's rate). Weights are stored transposed and multiplied
/// by the threshold of the layer that feeds them; the first layer's bias absorbs `W mean`.
public enum SpikingConverter {
    public static let percentile = 0.999

    public enum Conversion {
        /// A feed-forward head: one input encoder, hidden IF layers, a read-out layer.
        case network(center: [Float], inputThreshold: Float, layers: [SpikingLayer])
        /// A GRU or attention head: every matrix with its own encoder.
        case matrices([SpikingLinear])
    }

    public static func convert(_ head: QHeadWeights, calibration: [Float], steps: Int = 1, timesteps: Int, leak: Float) throws -> Conversion {
        let layers = head.matrices()
        if head.kind == .mlp && head.activation != .relu {
            throw QHeadExportError.unsupported("the SNN format needs a ReLU mlp head (integrate-and-fire rates are ReLU-shaped); this one uses \(head.activation.rawValue)")
        }
        let hidden = layers[0].in
        guard !calibration.isEmpty, calibration.count % hidden == 0 else {
            throw QHeadExportError.badCalibration("the SNN format needs calibration states (rows of \(hidden) floats); got \(calibration.count) values")
        }
        guard timesteps >= 1, leak > 0, leak <= 1 else {
            throw QHeadExportError.badCalibration("SNN timesteps must be >= 1 and leak in (0, 1]; got \(timesteps), \(leak)")
        }
        let rows = calibration.count / hidden
        if head.kind == .gru || head.kind == .attention {
            guard rows % steps == 0 else {
                throw QHeadExportError.badCalibration("\(rows) calibration states are not whole sequences of \(steps) steps")
            }
            let traces = try QHeadTracer.trace(try head.runtimeHead(), states: calibration, steps: steps)
            return .matrices(try zip(layers, traces).map { m, t in
                try encodedLayer(m.weight, m.bias, out: m.out, in: m.in, inputs: t.inputs, timesteps: timesteps, leak: leak)
            })
        }
        let (center, lambda0) = encoding(calibration, width: hidden)

        var out: [SpikingLayer] = []
        var floatInput = calibration
        var inputScale = lambda0
        for (l, layer) in layers.enumerated() {
            let last = l == layers.count - 1
            let k = layer.in, n = layer.out
            var weightT = [Float](repeating: 0, count: k * n)
            for o in 0..<n { for j in 0..<k { weightT[j * n + o] = layer.weight[o * k + j] * inputScale } }
            var bias = layer.bias
            if l == 0 {
                for o in 0..<n {
                    var s = 0.0
                    for j in 0..<k { s += Double(layer.weight[o * k + j]) * Double(center[j]) }
                    bias[o] += Float(s)
                }
            }
            var threshold: Float = 0
            if !last {
                let pre = BinaryConverter.linear(floatInput, rows: rows, layer.weight, layer.bias, out: n, in: k)
                let post = pre.map { max($0, 0) }
                let positive = post.filter { $0 > 0 }
                threshold = positive.isEmpty ? 1 : max(percentileOf(positive), 1e-6)
                floatInput = post
                inputScale = threshold
            }
            out.append(try SpikingLayer(inFeatures: k, outFeatures: n, weightT: weightT, bias: bias, threshold: threshold))
        }
        return .network(center: center, inputThreshold: lambda0, layers: out)
    }

    /// One matrix as a rate-coded layer: centre the mean input, scale the 99.9th percentile of
    /// |x - centre|, `W center` folded into the bias, integrating read-out.
    static func encodedLayer(_ weight: [Float], _ bias: [Float], out n: Int, in k: Int, inputs: [Float], timesteps: Int, leak: Float) throws -> SpikingLinear {
        let (center, lambda) = encoding(inputs, width: k)
        var weightT = [Float](repeating: 0, count: k * n)
        var folded = bias
        for o in 0..<n {
            var s = 0.0
            for j in 0..<k {
                weightT[j * n + o] = weight[o * k + j] * lambda
                s += Double(weight[o * k + j]) * Double(center[j])
            }
            folded[o] += Float(s)
        }
        let layer = try SpikingLayer(inFeatures: k, outFeatures: n, weightT: weightT, bias: folded, threshold: 0)
        return try SpikingLinear(layer: layer, center: center, inputThreshold: lambda, timesteps: timesteps, leak: leak)
    }

    /// A signed input encoder balanced on `x` (rows of `k`): the per-feature mean as centre and
    /// the 99.9th percentile of |x - centre| as threshold.
    static func encoding(_ x: [Float], width k: Int) -> (center: [Float], threshold: Float) {
        let center = BinaryConverter.columnMeans(x, width: k)
        let deviations = x.indices.map { abs(x[$0] - center[$0 % k]) }
        return (center, max(percentileOf(deviations), 1e-6))
    }

    static func percentileOf(_ values: [Float]) -> Float {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let position = Double(sorted.count - 1) * percentile
        let lo = Int(position.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        let t = Float(position - Double(lo))
        return sorted[lo] * (1 - t) + sorted[hi] * t
    }

    /// Writes a network as `qhead.snn.center`, `qhead.snn.<l>.weight` ([in, out], F32), `.bias`,
    /// `.threshold`; a GRU/attention head as `qhead.snn.<l>.weight`, `.bias`, `.center` and
    /// `.input_threshold` per matrix.
    public static func write(_ converted: Conversion, head: QHeadWeights, timesteps: Int, leak: Float, into writer: inout GGUFWriter) throws {
        head.writeMetadata(into: &writer, format: .snn)
        writer.add(QHeadLayout.snnTimestepsKey, .uint32(UInt32(timesteps)))
        writer.add(QHeadLayout.snnLeakKey, .float32(leak))
        func add(_ base: String, _ layer: SpikingLayer) throws {
            try writer.addTensor(name: "\(base).weight", shape: [layer.inFeatures, layer.outFeatures], floats: layer.weightT, type: .f32)
            try writer.addTensor(name: "\(base).bias", shape: [layer.outFeatures], floats: layer.bias, type: .f32)
        }
        switch converted {
        case let .network(center, inputThreshold, layers):
            writer.add(QHeadLayout.snnInputThresholdKey, .float32(inputThreshold))
            try writer.addTensor(name: "qhead.snn.center", shape: [center.count], floats: center, type: .f32)
            for (l, layer) in layers.enumerated() {
                try add("qhead.snn.\(l)", layer)
                try writer.addTensor(name: "qhead.snn.\(l).threshold", shape: [1], floats: [layer.threshold], type: .f32)
            }
        case let .matrices(layers):
            for (l, m) in layers.enumerated() {
                try add("qhead.snn.\(l)", m.layer)
                try writer.addTensor(name: "qhead.snn.\(l).center", shape: [m.center.count], floats: m.center, type: .f32)
                try writer.addTensor(name: "qhead.snn.\(l).input_threshold", shape: [1], floats: [m.inputThreshold], type: .f32)
            }
        }
    }
}
