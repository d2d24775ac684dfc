import Foundation
import Runtime

/// Turns a float head of any kind into the BNN format, one binary layer per matrix.
///
/// Per layer: inputs are centred and binarized (sign, 0 -> +1); weights become their signs; the
/// output is `scale * popcount-dot + bias`. Without calibration the centre is 0, the scale mean |W|
/// of the output's row and the bias the float bias. With calibration states every matrix is
/// fitted to what it reads and writes in the float head (`QHeadTracer`): the centre is the mean
/// input, either one value or one per feature, and scale and bias are least squares. Per-feature
/// centres are only considered when all of them together (F16) take no more bytes than the head's
/// sign bits, so centres never dominate the file (the 512 -> 2 linear head keeps one value: 512
/// centres would be 8x its 128 bytes of signs). Each combination of centre choices is then run as
/// the binary head it makes, its last layer refitted on what that head feeds it, and the one whose
/// q_halt sign (the halting decision) differs from the float head's on the fewest calibration
/// states is kept (ties: the smaller squared error of the logits). The GRU gates, tanh and the
/// attention softmax stay float.
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

    /// `calibration`: rows of `hidden` floats (Q-head inputs), `steps` consecutive rows per puzzle
    /// (the order the GRU and attention heads need); may be empty (no centring, no fit).
    public static func convert(_ head: QHeadWeights, calibration: [Float], steps: Int = 1) throws -> [Layer] {
        let matrices = head.matrices()
        let hidden = matrices[0].in
        guard steps >= 1, calibration.count % (hidden * steps) == 0 else {
            throw QHeadExportError.badCalibration("\(calibration.count) values are not whole sequences of \(steps) rows of \(hidden)")
        }
        let plain = matrices.map { plainLayer($0.weight, $0.bias, out: $0.out, in: $0.in) }
        guard calibration.count / hidden >= 2 else { return plain }

        // What every matrix reads and writes in the float head over the calibration sequences.
        let traces = try QHeadTracer.trace(try head.runtimeHead(), states: calibration, steps: steps)
        let signBits = matrices.reduce(0) { $0 + $1.out * $1.in }, centreBits = matrices.reduce(0) { $0 + 16 * $1.in }
        // Per layer: the fit with one centre, and with per-feature centres where allowed.
        let candidates: [[Layer]] = zip(plain, traces).map { layer, trace in
            var options = [fit(layer, inputs: trace.inputs, targets: trace.outputs, center: [mean(trace.inputs, width: layer.inFeatures)])]
            if centreBits <= signBits {
                options.append(fit(layer, inputs: trace.inputs, targets: trace.outputs, center: featureMeans(trace.inputs, width: layer.inFeatures)))
            }
            return options
        }
        // Every combination of centre choices, run as the binary head it makes; its last layer is
        // refitted on what the binary head feeds it (absorbing the earlier layers' error), and the
        // combination that changes the fewest halting decisions wins.
        let target = traces[traces.count - 1].outputs
        var best: (layers: [Layer], error: (Int, Double))?
        let combinations = candidates.reduce(1) { $0 * $1.count }
        for index in 0..<combinations {
            var rest = index
            var layers = candidates.map { options -> Layer in
                defer { rest /= options.count }
                return options[rest % options.count]
            }
            let binary = try head.loadBack { try write(layers, head: head, into: &$0) }
            let fed = try QHeadTracer.trace(binary, states: calibration, steps: steps).last!.inputs
            let last = fit(layers[layers.count - 1], inputs: fed, targets: target, center: layers[layers.count - 1].center)
            layers[layers.count - 1] = last
            // Halting reads the sign of q_halt: count the calibration rows where it differs from the
            // float head's, and break ties by the squared error of the logits.
            let rows = fed.count / last.inFeatures
            let dots = binaryDots(fed, rows: rows, last)
            let flips = (0..<rows).filter { r in
                (last.scale[0] * Float(dots[r * 2]) + last.bias[0] > 0) != (target[r * 2] > 0)
            }.count
            let error = (flips, last.fitError ?? .infinity)
            if best == nil || error < best!.error { best = (layers, error) }
        }
        return best!.layers
    }

    /// Signs of W, scale mean |W| per output, the float bias, centre 0: the conversion without data.
    static func plainLayer(_ weight: [Float], _ floatBias: [Float], out n: Int, in k: Int) -> Layer {
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
        return Layer(inFeatures: k, outFeatures: n, bits: bits, scale: scale, bias: floatBias, center: [0])
    }

    /// Per-feature means of rows of `k` values (accumulated in double).
    static func columnMeans(_ x: [Float], width k: Int) -> [Float] {
        let rows = max(x.count / k, 1)
        var sums = [Double](repeating: 0, count: k)
        for (i, v) in x.enumerated() { sums[i % k] += Double(v) }
        return sums.map { Float($0 / Double(rows)) }
    }

    // Centres are stored as F16: rounded now so the fit sees what the runtime will use.
    static func featureMeans(_ x: [Float], width k: Int) -> [Float] {
        columnMeans(x, width: k).map { Float(Float16($0)) }
    }

    static func mean(_ x: [Float], width k: Int) -> Float {
        Float(Float16(Float(x.reduce(0.0) { $0 + Double($1) } / Double(x.count))))
    }

    /// `layer` with this centre and, per output, the least-squares scale and bias mapping its
    /// +-1 dots on `inputs` to `targets`; `fitError` the mean squared residual.
    static func fit(_ layer: Layer, inputs: [Float], targets: [Float], center: [Float]) -> Layer {
        var layer = layer
        layer.center = center
        let n = layer.outFeatures, rows = inputs.count / layer.inFeatures
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
