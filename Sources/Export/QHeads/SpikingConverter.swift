import Foundation
import Runtime

/// Turns a float `linear`/`mlp` (ReLU) head into the SNN format by threshold balancing.
///
/// The input is centred by its calibration mean; the input scale `lambda_0` is the 99.9th
/// percentile of |x - mean| over the calibration states, and a hidden layer's threshold the 99.9th
/// percentile of its positive ReLU activations (a percentile rather than the maximum, so one
/// outlier does not slow every other neuron's rate). Weights are stored transposed and multiplied
/// by the threshold of the layer that feeds them; the first layer's bias absorbs `W mean`.
public enum SpikingConverter {
    public static let percentile = 0.999

    public static func convert(_ head: QHeadWeights, calibration: [Float], timesteps: Int, leak: Float) throws
        -> (center: [Float], inputThreshold: Float, layers: [SpikingLayer]) {
        let layers = try head.feedForwardLayers()
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
        var center = [Float](repeating: 0, count: hidden)
        for j in 0..<hidden {
            var s = 0.0
            for r in 0..<rows { s += Double(calibration[r * hidden + j]) }
            center[j] = Float(s / Double(rows))
        }
        var deviations: [Float] = []
        deviations.reserveCapacity(calibration.count)
        for r in 0..<rows { for j in 0..<hidden { deviations.append(abs(calibration[r * hidden + j] - center[j])) } }
        let lambda0 = max(percentileOf(deviations), 1e-6)

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
        return (center, lambda0, out)
    }

    static func percentileOf(_ values: [Float]) -> Float {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let position = Double(sorted.count - 1) * percentile
        let lo = Int(position.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        let t = Float(position - Double(lo))
        return sorted[lo] * (1 - t) + sorted[hi] * t
    }

    /// Writes `qhead.snn.center`, `qhead.snn.<l>.weight` ([in, out], F32), `.bias`, `.threshold`.
    public static func write(_ converted: (center: [Float], inputThreshold: Float, layers: [SpikingLayer]), head: QHeadWeights,
                             timesteps: Int, leak: Float, into writer: inout GGUFWriter) throws {
        writer.add(QHeadLayout.kindKey, .string(head.kind.rawValue))
        writer.add(QHeadLayout.formatKey, .string(QHeadFormat.snn.rawValue))
        if head.kind == .mlp { writer.add(QHeadLayout.activationKey, .string(head.activation.rawValue)) }
        writer.add(QHeadLayout.snnTimestepsKey, .uint32(UInt32(timesteps)))
        writer.add(QHeadLayout.snnLeakKey, .float32(leak))
        writer.add(QHeadLayout.snnInputThresholdKey, .float32(converted.inputThreshold))
        try writer.addTensor(name: "qhead.snn.center", shape: [converted.center.count], floats: converted.center, type: .f32)
        for (l, layer) in converted.layers.enumerated() {
            try writer.addTensor(name: "qhead.snn.\(l).weight", shape: [layer.inFeatures, layer.outFeatures], floats: layer.weightT, type: .f32)
            try writer.addTensor(name: "qhead.snn.\(l).bias", shape: [layer.outFeatures], floats: layer.bias, type: .f32)
            try writer.addTensor(name: "qhead.snn.\(l).threshold", shape: [1], floats: [layer.threshold], type: .f32)
        }
    }
}
