import Foundation
import Runtime

/// Turns a float `linear`/`mlp` head into the BNN format.
///
/// Per layer: inputs are centred by their calibration mean and binarized (sign, 0 -> +1); weights
/// become their signs; the output is `scale * popcount-dot + bias`. The scale starts as mean |W|
/// of the output's row (bias: the float bias) and, with calibration states, both are refitted by
/// least squares so the binary layer's outputs match the float head's: the pre-activations for a
/// hidden layer, the final Q logits for the last one (fed with the binary hidden layer, so the
/// fit also absorbs the first layer's error).
public enum BinaryConverter {
    public struct Layer: Sendable {
        public var inFeatures: Int, outFeatures: Int
        public var bits: [UInt64], scale: [Float], bias: [Float], center: [Float]
    }

    /// `calibration`: rows of `hidden` floats (Q-head inputs); may be empty (no centring, no fit).
    public static func convert(_ head: QHeadWeights, calibration: [Float]) throws -> [Layer] {
        let layers = try head.feedForwardLayers()
        let hidden = layers[0].in
        guard calibration.count % hidden == 0 else {
            throw QHeadExportError.badCalibration("\(calibration.count) values are not whole rows of \(hidden)")
        }
        let rows = calibration.count / hidden
        var input = calibration           // binary path's input to the current layer
        var floatInput = calibration      // float path's input
        var out: [Layer] = []
        for (l, layer) in layers.enumerated() {
            let last = l == layers.count - 1
            let k = layer.in, n = layer.out
            let words = (k + 63) / 64
            var center = [Float](repeating: 0, count: k)
            if rows > 0 {
                var sums = [Double](repeating: 0, count: k)
                for r in 0..<rows { for j in 0..<k { sums[j] += Double(input[r * k + j]) } }
                // Stored as F16: round now so the fit sees the centre the runtime will use.
                center = sums.map { Float(Float16(Float($0 / Double(rows)))) }
            }
            var bits = [UInt64](repeating: 0, count: n * words)
            var scale = [Float](repeating: 0, count: n)
            for o in 0..<n {
                var absSum = 0.0
                for j in 0..<k {
                    let w = layer.weight[o * k + j]
                    absSum += Double(abs(w))
                    if w >= 0 { bits[o * words + j / 64] |= 1 << UInt64(j % 64) }
                }
                scale[o] = Float(absSum / Double(k))
            }
            var bias = layer.bias
            // Float targets: this layer's float output on the float path's input.
            let floatOut = linear(floatInput, rows: rows, layer.weight, layer.bias, out: n, in: k)
            let dots = binaryDots(input, rows: rows, center: center, bits: bits, out: n, in: k)
            if rows >= 2 {
                // The float path's output of this layer: pre-activations, or the Q logits for the last.
                let target = floatOut
                for o in 0..<n {
                    var sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
                    for r in 0..<rows {
                        let x = Double(dots[r * n + o]), y = Double(target[r * n + o])
                        sx += x; sy += y; sxx += x * x; sxy += x * y
                    }
                    let m = Double(rows), varX = sxx - sx * sx / m
                    if varX > 1e-9 {
                        let a = (sxy - sx * sy / m) / varX
                        scale[o] = Float(a)
                        bias[o] = Float((sy - a * sx) / m)
                    } else {
                        scale[o] = 0
                        bias[o] = Float(sy / m)
                    }
                }
            }
            out.append(Layer(inFeatures: k, outFeatures: n, bits: bits, scale: scale, bias: bias, center: center))
            if !last {
                var next = [Float](repeating: 0, count: rows * n)
                for r in 0..<rows { for o in 0..<n { next[r * n + o] = scale[o] * Float(dots[r * n + o]) + bias[o] } }
                input = activate(next, head.activation)
                floatInput = activate(floatOut, head.activation)
            }
        }
        return out
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

    static func binaryDots(_ x: [Float], rows: Int, center: [Float], bits: [UInt64], out n: Int, in k: Int) -> [Int32] {
        let words = (k + 63) / 64
        var dots = [Int32](repeating: 0, count: rows * n)
        var xb = [UInt64](repeating: 0, count: words)
        for r in 0..<rows {
            for i in 0..<words { xb[i] = 0 }
            for j in 0..<k where x[r * k + j] - center[j] >= 0 { xb[j / 64] |= 1 << UInt64(j % 64) }
            for o in 0..<n {
                var mismatches = 0
                for i in 0..<words { mismatches += (xb[i] ^ bits[o * words + i]).nonzeroBitCount }
                dots[r * n + o] = Int32(k - 2 * mismatches)
            }
        }
        return dots
    }

    /// Writes the BNN tensors: `qhead.bnn.<l>.bits` (I8, sign words little-endian),
    /// `.scale`, `.bias` (F32), `.center` (F16: it is only compared against).
    public static func write(_ layers: [Layer], head: QHeadWeights, into writer: inout GGUFWriter) throws {
        writer.add(QHeadLayout.kindKey, .string(head.kind.rawValue))
        writer.add(QHeadLayout.formatKey, .string(QHeadFormat.bnn.rawValue))
        if head.kind == .mlp { writer.add(QHeadLayout.activationKey, .string(head.activation.rawValue)) }
        for (l, layer) in layers.enumerated() {
            let words = (layer.inFeatures + 63) / 64
            var bytes = [UInt8]()
            bytes.reserveCapacity(layer.bits.count * 8)
            for w in layer.bits { withUnsafeBytes(of: w.littleEndian) { bytes.append(contentsOf: $0) } }
            try writer.addTensor(name: "qhead.bnn.\(l).bits", shape: [layer.outFeatures, words * 8], type: .i8, data: bytes)
            try writer.addTensor(name: "qhead.bnn.\(l).scale", shape: [layer.outFeatures], floats: layer.scale, type: .f32)
            try writer.addTensor(name: "qhead.bnn.\(l).bias", shape: [layer.outFeatures], floats: layer.bias, type: .f32)
            try writer.addTensor(name: "qhead.bnn.\(l).center", shape: [layer.inFeatures], floats: layer.center, type: .f16)
        }
    }
}
