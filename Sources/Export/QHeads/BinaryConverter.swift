import Foundation
import Runtime

/// Turns a float head of any kind into the BNN format, one binary layer per matrix.
///
/// Per layer: inputs are centred and binarized (sign, 0 -> +1); weights become their signs; the
/// output is `scale * popcount-dot + bias`. Without calibration the centre is 0, the scale mean |W|
/// of the output's row and the bias the float bias. With calibration states the scale and bias
/// are refitted by least squares so the binary layer's outputs match the float head's, and the
/// centre is the calibration mean of the layer's input: one value for the whole input, or one per
/// feature when that fits better and the layer has at least `perFeatureCentreMinOutputs` outputs,
/// so that F16 centres never outweigh the layer's sign bits (a 512 -> 2 layer keeps one value:
/// 512 centres would take 8x its 128 bytes of signs).
///
/// A `linear`/`mlp` head is fitted along its own binary path: the second layer reads the binary
/// first layer's output, so the fit absorbs the first layer's error. The GRU and attention heads
/// are fitted matrix by matrix against what the float head feeds each matrix over the calibration
/// sequences (`QHeadTracer`); their gates, tanh and softmax stay float.
public enum BinaryConverter {
    public struct Layer: Sendable {
        public var inFeatures: Int, outFeatures: Int
        public var bits: [UInt64], scale: [Float], bias: [Float]
        /// `inFeatures` values, or one for every feature.
        public var center: [Float]
        /// Mean squared error of the fit on the calibration rows (nil without calibration).
        public var fitError: Double?

        public init(inFeatures: Int, outFeatures: Int, bits: [UInt64], scale: [Float], bias: [Float], center: [Float], fitError: Double? = nil) {
            self.inFeatures = inFeatures
            self.outFeatures = outFeatures
            self.bits = bits
            self.scale = scale
            self.bias = bias
            self.center = center
            self.fitError = fitError
        }

        public func center(_ j: Int) -> Float { center.count == 1 ? center[0] : center[j] }
    }

    public static let perFeatureCentreMinOutputs = 16

    /// `calibration`: rows of `hidden` floats (Q-head inputs), `steps` consecutive rows per puzzle
    /// (the order the GRU and attention heads need); may be empty (no centring, no fit).
    public static func convert(_ head: QHeadWeights, calibration: [Float], steps: Int = 1) throws -> [Layer] {
        let matrices = head.matrices()
        let hidden = matrices[0].in
        guard calibration.count % hidden == 0, steps >= 1 else {
            throw QHeadExportError.badCalibration("\(calibration.count) values are not whole rows of \(hidden)")
        }
        let rows = calibration.count / hidden
        if head.kind == .gru || head.kind == .attention {
            guard rows % steps == 0 else {
                throw QHeadExportError.badCalibration("\(rows) calibration states are not whole sequences of \(steps) steps")
            }
            guard rows > 0 else { return matrices.map { fit($0.weight, $0.bias, out: $0.out, in: $0.in, inputs: [], targets: []) } }
            let traces = try QHeadTracer.trace(try head.runtimeHead(), states: calibration, steps: steps)
            return zip(matrices, traces).map { m, t in fit(m.weight, m.bias, out: m.out, in: m.in, inputs: t.inputs, targets: t.outputs) }
        }
        var input = calibration           // binary path's input to the current layer
        var floatInput = calibration      // float path's input
        var out: [Layer] = []
        for (l, m) in matrices.enumerated() {
            let floatOut = linear(floatInput, rows: rows, m.weight, m.bias, out: m.out, in: m.in)
            let layer = fit(m.weight, m.bias, out: m.out, in: m.in, inputs: input, targets: floatOut)
            out.append(layer)
            if l < matrices.count - 1 {
                input = activate(apply(layer, input, rows: rows), head.activation)
                floatInput = activate(floatOut, head.activation)
            }
        }
        return out
    }

    /// One binary layer for W, b fitted to map `inputs` to `targets` (rows of in and out values).
    static func fit(_ weight: [Float], _ floatBias: [Float], out n: Int, in k: Int, inputs: [Float], targets: [Float]) -> Layer {
        let words = (k + 63) / 64
        var bits = [UInt64](repeating: 0, count: n * words)
        var scale = [Float](repeating: 0, count: n)
        for o in 0..<n {
            var absSum = 0.0
            for j in 0..<k {
                let w = weight[o * k + j]
                absSum += Double(abs(w))
                if w >= 0 { bits[o * words + j / 64] |= 1 << UInt64(j % 64) }
            }
            scale[o] = Float(absSum / Double(k))
        }
        let rows = inputs.count / k
        let plain = Layer(inFeatures: k, outFeatures: n, bits: bits, scale: scale, bias: floatBias, center: [0], fitError: nil)
        guard rows >= 2 else { return plain }
        var sums = [Double](repeating: 0, count: k)
        for r in 0..<rows { for j in 0..<k { sums[j] += Double(inputs[r * k + j]) } }
        // Stored as F16: round now so the fit sees the centre the runtime will use.
        let perFeature = sums.map { Float(Float16(Float($0 / Double(rows)))) }
        let perTensor = [Float(Float16(Float(sums.reduce(0, +) / Double(rows * k))))]
        let centres = n >= perFeatureCentreMinOutputs ? [perTensor, perFeature] : [perTensor]
        let candidates = centres.map { center -> Layer in
            var layer = plain
            layer.center = center
            let dots = binaryDots(inputs, rows: rows, layer)
            var error = 0.0
            for o in 0..<n {
                var sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0, syy = 0.0
                for r in 0..<rows {
                    let x = Double(dots[r * n + o]), y = Double(targets[r * n + o])
                    sx += x; sy += y; sxx += x * x; sxy += x * y; syy += y * y
                }
                let m = Double(rows), varX = sxx - sx * sx / m, varY = syy - sy * sy / m
                if varX > 1e-9 {
                    let a = (sxy - sx * sy / m) / varX
                    layer.scale[o] = Float(a)
                    layer.bias[o] = Float((sy - a * sx) / m)
                    error += max(varY - a * (sxy - sx * sy / m), 0)
                } else {
                    layer.scale[o] = 0
                    layer.bias[o] = Float(sy / m)
                    error += max(varY, 0)
                }
            }
            layer.fitError = error / Double(rows * n)
            return layer
        }
        return candidates.min { $0.fitError! < $1.fitError! }!
    }

    static func activate(_ x: [Float], _ a: QHeadActivation) -> [Float] {
        switch a {
        case .relu: return x.map { $0 > 0 ? $0 : 0 }
        case .silu: return x.map { $0 / (1 + Foundation.exp(-$0)) }
        }
    }

    static func linear(_ x: [Float], rows: Int, _ w: [Float], _ b: [Float], out n: Int, in k: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * n)
        for r in 0..<rows {
            for o in 0..<n {
                var s = 0.0
                for j in 0..<k { s += Double(x[r * k + j]) * Double(w[o * k + j]) }
                y[r * n + o] = Float(s) + b[o]
            }
        }
        return y
    }

    /// `scale * dot + bias` of a binary layer on float rows.
    static func apply(_ layer: Layer, _ x: [Float], rows: Int) -> [Float] {
        let dots = binaryDots(x, rows: rows, layer), n = layer.outFeatures
        return (0..<rows * n).map { layer.scale[$0 % n] * Float(dots[$0]) + layer.bias[$0 % n] }
    }

    static func binaryDots(_ x: [Float], rows: Int, _ layer: Layer) -> [Int32] {
        let k = layer.inFeatures, n = layer.outFeatures, words = (k + 63) / 64
        var dots = [Int32](repeating: 0, count: rows * n)
        var xb = [UInt64](repeating: 0, count: words)
        for r in 0..<rows {
            for i in 0..<words { xb[i] = 0 }
            for j in 0..<k where x[r * k + j] - layer.center(j) >= 0 { xb[j / 64] |= 1 << UInt64(j % 64) }
            for o in 0..<n {
                var mismatches = 0
                for i in 0..<words { mismatches += (xb[i] ^ layer.bits[o * words + i]).nonzeroBitCount }
                dots[r * n + o] = Int32(k - 2 * mismatches)
            }
        }
        return dots
    }

    /// Writes the BNN tensors: `qhead.bnn.<l>.bits` (I8, sign words little-endian),
    /// `.scale`, `.bias` (F32), `.center` (F16: it is only compared against; shape [1] with
    /// `qhead.bnn.<l>.in_features` when one value centres the whole input).
    public static func write(_ layers: [Layer], head: QHeadWeights, into writer: inout GGUFWriter) throws {
        head.writeMetadata(into: &writer, format: .bnn)
        for (l, layer) in layers.enumerated() {
            let words = (layer.inFeatures + 63) / 64
            var bytes = [UInt8]()
            bytes.reserveCapacity(layer.bits.count * 8)
            for w in layer.bits { withUnsafeBytes(of: w.littleEndian) { bytes.append(contentsOf: $0) } }
            if layer.center.count == 1 { writer.add(QHeadLayout.bnnInFeaturesKey(l), .uint32(UInt32(layer.inFeatures))) }
            try writer.addTensor(name: "qhead.bnn.\(l).bits", shape: [layer.outFeatures, words * 8], type: .i8, data: bytes)
            try writer.addTensor(name: "qhead.bnn.\(l).scale", shape: [layer.outFeatures], floats: layer.scale, type: .f32)
            try writer.addTensor(name: "qhead.bnn.\(l).bias", shape: [layer.outFeatures], floats: layer.bias, type: .f32)
            try writer.addTensor(name: "qhead.bnn.\(l).center", shape: [layer.center.count], floats: layer.center, type: .f16)
        }
    }
}
