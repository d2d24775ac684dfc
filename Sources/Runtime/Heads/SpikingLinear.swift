import CKernels

/// A matrix of a spiking GRU or attention head: `y ~ W x + b` computed by rate coding.
///
/// Each decision runs `timesteps` ticks: `(x - center) / inputThreshold` drives a positive and a
/// negative integrate-and-fire encoder per input (leak, reset by subtraction), and the output
/// membranes integrate only the weight rows of the inputs that spiked (event driven) plus the
/// bias; the read-out is `v / timesteps`. `layer.weightT` is already multiplied by
/// `inputThreshold` and its bias holds `b + W center`. The cell's gates and the attention's
/// softmax stay float: they read these rates.
public struct SpikingLinear: HeadLinear {
    public let layer: SpikingLayer
    public let center: [Float]
    public let inputThreshold: Float
    public let timesteps: Int
    public let leak: Float

    public init(layer: SpikingLayer, center: [Float], inputThreshold: Float, timesteps: Int, leak: Float) throws {
        guard center.count == layer.inFeatures, inputThreshold > 0, inputThreshold.isFinite, timesteps >= 1, leak > 0, leak <= 1 else {
            throw ModelError.badInput("spiking layer \(layer.outFeatures)x\(layer.inFeatures): need \(layer.inFeatures) centres (got \(center.count)), input threshold > 0 (got \(inputThreshold)), timesteps >= 1 (got \(timesteps)), leak in (0, 1] (got \(leak))")
        }
        self.layer = layer
        self.center = center
        self.inputThreshold = inputThreshold
        self.timesteps = timesteps
        self.leak = leak
    }

    public var inFeatures: Int { layer.inFeatures }
    public var outFeatures: Int { layer.outFeatures }
    /// F32 weights, bias, centre and the input threshold.
    var byteSize: Int { 4 * (layer.weightT.count + layer.bias.count + center.count + 1) }

    func needs(rows: Int) -> HeadScratchNeeds { HeadScratchNeeds(ints: 2 * inFeatures, floats: 3 * inFeatures) }

    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, scratch: QHeadScratch) {
        let n = inFeatures, m = outFeatures
        let current = scratch.layerFloats.pointer, plus = current + n, minus = plus + n
        let plusIdx = scratch.ints, minusIdx = plusIdx + n
        let inverse = 1 / inputThreshold, readout = 1 / Float(timesteps)
        layer.weightT.withUnsafeBufferPointer { wt in
            for r in 0..<rows {
                let xr = x + r * n, v = y + r * m
                for j in 0..<n { current[j] = (xr[j] - center[j]) * inverse }
                plus.update(repeating: 0, count: n)
                minus.update(repeating: 0, count: n)
                v.update(repeating: 0, count: m)
                for _ in 0..<timesteps {
                    let (np, nm) = SpikeEncoder.tick(current, plus, minus, leak: leak, count: n, plusIndex: plusIdx, minusIndex: minusIdx)
                    for o in 0..<m { v[o] += layer.bias[o] }
                    recur_snn_add_columns(wt.baseAddress, Int64(m), plusIdx, Int64(np), v)
                    recur_snn_sub_columns(wt.baseAddress, Int64(m), minusIdx, Int64(nm), v)
                }
                for o in 0..<m { v[o] *= readout }
            }
        }
    }
}

/// The signed rate encoder of the spiking heads: per input, a positive and a negative
/// integrate-and-fire neuron driven by the input current, reset by subtraction.
enum SpikeEncoder {
    /// One tick; lists the inputs whose positive (negative) neuron fired and returns the counts.
    @inline(__always)
    static func tick(_ current: UnsafePointer<Float>, _ plus: UnsafeMutablePointer<Float>, _ minus: UnsafeMutablePointer<Float>,
                     leak: Float, count n: Int, plusIndex: UnsafeMutablePointer<Int32>, minusIndex: UnsafeMutablePointer<Int32>) -> (Int, Int) {
        var np = 0, nm = 0
        for j in 0..<n {
            let c = current[j]
            if c > 0 {
                plus[j] = leak * plus[j] + c
                if plus[j] >= 1 { plus[j] -= 1; plusIndex[np] = Int32(j); np += 1 }
            } else if c < 0 {
                minus[j] = leak * minus[j] - c
                if minus[j] >= 1 { minus[j] -= 1; minusIndex[nm] = Int32(j); nm += 1 }
            }
        }
        return (np, nm)
    }
}
