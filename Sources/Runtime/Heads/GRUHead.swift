import Foundation

/// hidden -> 128 (no bias) -> GRU cell -> 128 -> 2, with the cell's hidden state carried across a
/// sample's ACT steps. Gate order and equations are PyTorch's `nn.GRU`:
///
///     r = sigmoid(W_ir u + b_ir + W_hr h + b_hr)
///     z = sigmoid(W_iz u + b_iz + W_hz h + b_hz)
///     n = tanh(W_in u + b_in + r * (W_hn h + b_hn))
///     h' = (1 - z) * n + z * h
public final class GRUHead: QHead {
    public let kind = QHeadKind.gru
    public let format: QHeadFormat
    public let inputSize: Int
    public let byteSize: Int
    public let width: Int
    let input: any HeadLinear
    let ih: any HeadLinear
    let hh: any HeadLinear
    let output: any HeadLinear

    init(input: any HeadLinear, ih: any HeadLinear, hh: any HeadLinear, output: any HeadLinear, format: QHeadFormat, byteSize: Int) {
        self.format = format
        self.input = input
        self.ih = ih
        self.hh = hh
        self.output = output
        self.byteSize = byteSize
        inputSize = input.inFeatures
        width = input.outFeatures
    }

    public var stateSize: Int { width }
    public var summary: String { "gru(\(width)) \(headTypeName(format, input))" }

    public func makeScratch(capacity: Int) -> QHeadScratch {
        let layers: [any HeadLinear] = [input, ih, hh, output]
        return QHeadScratch(floats: capacity * width * 7, layers: layers.needs(rows: capacity))
    }

    public func evaluate(_ x: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>,
                         batch: Int, scratch: QHeadScratch) {
        let w = width
        let u = scratch.floats.pointer
        let gi = u + batch * w
        let gh = gi + batch * 3 * w
        input(x, u, rows: batch, scratch: scratch)
        ih(u, gi, rows: batch, scratch: scratch)
        hh(state, gh, rows: batch, scratch: scratch)
        for b in 0..<batch {
            let h = state + b * w, i = gi + b * 3 * w, g = gh + b * 3 * w
            for j in 0..<w {
                let r = HeadMath.sigmoid(i[j] + g[j])
                let z = HeadMath.sigmoid(i[w + j] + g[w + j])
                let n = Foundation.tanh(i[2 * w + j] + r * g[2 * w + j])
                h[j] = (1 - z) * n + z * h[j]
            }
        }
        output(state, q, rows: batch, scratch: scratch)
    }
}
