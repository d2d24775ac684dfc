import Foundation

// Plain Swift references for the causal-decoder kernels (decoder.c). The double-precision ones
// define the mathematics; the float ones repeat the kernels' (and llama.cpp's) operations in the
// same order, so a kernel that follows its documented definition matches them bit for bit.

/// Causal multi-head attention (GQA) in double precision. Query i sits at position pos0 + i and
/// sees keys 0 ... pos0 + i; query head h reads kv head h / (heads / kvHeads). q row i starts at
/// `q[qOffset + i * qStride]`, cache row j of k and v at `k[kOffset + j * kvStride]` and
/// `v[vOffset + j * kvStride]`. Returns the packed result, [n, heads * headDim].
func referenceCausalAttention(q: [Float], qOffset: Int, qStride: Int,
                              k: [Float], kOffset: Int, v: [Float], vOffset: Int, kvStride: Int,
                              n: Int, pos0: Int, heads: Int, kvHeads: Int, headDim: Int,
                              scale: Float) -> [Double] {
    let group = heads / kvHeads
    var out = [Double](repeating: 0, count: n * heads * headDim)
    var scores = [Double](repeating: 0, count: pos0 + n)
    var acc = [Double](repeating: 0, count: headDim)
    q.withUnsafeBufferPointer { q in
        k.withUnsafeBufferPointer { k in
            v.withUnsafeBufferPointer { v in
                out.withUnsafeMutableBufferPointer { out in
                    for i in 0..<n {
                        let seen = pos0 + i + 1
                        for h in 0..<heads {
                            let g = h / group
                            let qRow = qOffset + i * qStride + h * headDim
                            var best = -Double.infinity
                            for j in 0..<seen {
                                let kRow = kOffset + j * kvStride + g * headDim
                                var dot = 0.0
                                for d in 0..<headDim { dot += Double(q[qRow + d]) * Double(k[kRow + d]) }
                                scores[j] = Double(scale) * dot
                                best = max(best, scores[j])
                            }
                            var sum = 0.0
                            for j in 0..<seen {
                                scores[j] = Foundation.exp(scores[j] - best)
                                sum += scores[j]
                            }
                            for d in 0..<headDim { acc[d] = 0 }
                            for j in 0..<seen {
                                let vRow = vOffset + j * kvStride + g * headDim
                                let p = scores[j]
                                for d in 0..<headDim { acc[d] += p * Double(v[vRow + d]) }
                            }
                            let o = (i * heads + h) * headDim
                            for d in 0..<headDim { out[o + d] = acc[d] / sum }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// llama.cpp's rms_norm then mul, repeated in float: the sum of the float squares in double,
/// scale = 1 / sqrtf(mean + eps) in float, y = (x * scale) * w with two roundings.
func floatRMSNormWeighted(_ x: [Float], _ w: [Float]?, rows: Int, dim: Int, eps: Float) -> [Float] {
    var y = x
    for r in 0..<rows {
        var ss = 0.0
        for i in 0..<dim {
            let v = x[r * dim + i]
            ss += Double(v * v)
        }
        let scale: Float = 1 / (Float(ss / Double(dim)) + eps).squareRoot()
        for i in 0..<dim {
            let t = x[r * dim + i] * scale
            y[r * dim + i] = w.map { t * $0[i] } ?? t
        }
    }
    return y
}

/// RMS norm in double precision: x / sqrt(mean(x^2) + eps) * w.
func doubleRMSNormWeighted(_ x: [Float], _ w: [Float]?, rows: Int, dim: Int, eps: Float) -> [Double] {
    var y = [Double](repeating: 0, count: rows * dim)
    for r in 0..<rows {
        var ss = 0.0
        for i in 0..<dim { ss += Double(x[r * dim + i]) * Double(x[r * dim + i]) }
        let inv = 1 / (ss / Double(dim) + Double(eps)).squareRoot()
        for i in 0..<dim { y[r * dim + i] = Double(x[r * dim + i]) * inv * (w.map { Double($0[i]) } ?? 1) }
    }
    return y
}

/// LayerNorm in double precision: (x - mean) / sqrt(var + eps) * w + b (biased variance).
func doubleLayerNorm(_ x: [Float], _ w: [Float]?, _ b: [Float]?, rows: Int, dim: Int, eps: Float) -> [Double] {
    var y = [Double](repeating: 0, count: rows * dim)
    for r in 0..<rows {
        var sum = 0.0
        for i in 0..<dim { sum += Double(x[r * dim + i]) }
        let mean = sum / Double(dim)
        var ss = 0.0
        for i in 0..<dim { ss += (Double(x[r * dim + i]) - mean) * (Double(x[r * dim + i]) - mean) }
        let inv = 1 / (ss / Double(dim) + Double(eps)).squareRoot()
        for i in 0..<dim {
            var t = (Double(x[r * dim + i]) - mean) * inv
            if let w { t *= Double(w[i]) }
            if let b { t += Double(b[i]) }
            y[r * dim + i] = t
        }
    }
    return y
}

/// LayerNorm as the kernel documents it, in float: the sum and the sum of squared float deviations
/// in double, mean and scale rounded to float, ((x - mean) * scale) * w + b.
func floatLayerNorm(_ x: [Float], _ w: [Float]?, _ b: [Float]?, rows: Int, dim: Int, eps: Float) -> [Float] {
    var y = x
    for r in 0..<rows {
        var sum = 0.0
        for i in 0..<dim { sum += Double(x[r * dim + i]) }
        let mean = Float(sum / Double(dim))
        var ss = 0.0
        for i in 0..<dim {
            let d = x[r * dim + i] - mean
            ss += Double(d * d)
        }
        let scale: Float = 1 / (Float(ss / Double(dim)) + eps).squareRoot()
        for i in 0..<dim {
            var t = (x[r * dim + i] - mean) * scale
            if let w { t = t * w[i] }
            if let b { t = t + b[i] }
            y[r * dim + i] = t
        }
    }
    return y
}

/// ggml's rope cache and rotation in float: theta starts at the position and is multiplied by
/// powf(base, -2 / n_dims) once per pair; cosf / sinf of it; products rounded separately.
/// neox pairs element i with i + nDims / 2, otherwise 2i with 2i + 1. Only the first nDims
/// elements of each head change.
func ggmlRoPE(_ x: [Float], rows: Int, heads: Int, headDim: Int, nDims: Int, rowStride: Int,
              positions: [Int32], base: Float, neox: Bool) -> [Float] {
    var y = x
    let pairs = nDims / 2
    let thetaScale = powf(base, -2 / Float(nDims))
    var cs = [Float](repeating: 0, count: pairs), sn = cs
    for r in 0..<rows {
        var theta = Float(positions[r])
        for i in 0..<pairs {
            cs[i] = cosf(theta)
            sn[i] = sinf(theta)
            theta *= thetaScale
        }
        for h in 0..<heads {
            let o = r * rowStride + h * headDim
            for i in 0..<pairs {
                let a = o + (neox ? i : 2 * i), b = o + (neox ? i + pairs : 2 * i + 1)
                let x0 = y[a], x1 = y[b]
                y[a] = x0 * cs[i] - x1 * sn[i]
                y[b] = x0 * sn[i] + x1 * cs[i]
            }
        }
    }
    return y
}

/// RoPE from the closed form in double: pair i is rotated by pos * base^(-2i / nDims). Elements
/// the rotation does not reach are returned as they are.
func closedFormRoPE(_ x: [Float], rows: Int, heads: Int, headDim: Int, nDims: Int, rowStride: Int,
                    positions: [Int32], base: Double, neox: Bool) -> [Double] {
    var y = x.map(Double.init)
    let pairs = nDims / 2
    for r in 0..<rows {
        for h in 0..<heads {
            let o = r * rowStride + h * headDim
            for i in 0..<pairs {
                let angle = Double(positions[r]) * Foundation.pow(base, -2 * Double(i) / Double(nDims))
                let c = Foundation.cos(angle), s = Foundation.sin(angle)
                let a = o + (neox ? i : 2 * i), b = o + (neox ? i + pairs : 2 * i + 1)
                let x0 = Double(x[a]), x1 = Double(x[b])
                y[a] = x0 * c - x1 * s
                y[b] = x0 * s + x1 * c
            }
        }
    }
    return y
}
