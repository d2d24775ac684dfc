/// `linear` (hidden -> 2) and `mlp` (hidden -> h -> act -> 2) heads with standard ggml weights.
public final class FeedForwardHead: QHead {
    public let kind: QHeadKind
    public let format = QHeadFormat.float
    public let inputSize: Int
    public let byteSize: Int
    let layers: [HeadMatrix]
    let activation: QHeadActivation

    init(kind: QHeadKind, layers: [HeadMatrix], activation: QHeadActivation, byteSize: Int) {
        self.kind = kind
        self.layers = layers
        self.activation = activation
        self.byteSize = byteSize
        inputSize = layers[0].inFeatures
    }

    public var summary: String {
        let type = layers[0].type.name
        return kind == .mlp ? "mlp(\(layers[0].outFeatures), \(activation.rawValue)) \(type)" : "linear \(type)"
    }

    public func makeScratch(capacity: Int) -> QHeadScratch {
        let widest = layers.map(\.outFeatures).max() ?? 2
        let quant = layers.map { $0.scratchBytes(rows: capacity) }.max() ?? 0
        return QHeadScratch(floats: capacity * widest, quantBytes: quant)
    }

    public func evaluate(_ x: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>,
                         batch: Int, scratch: QHeadScratch) {
        if layers.count == 1 {
            layers[0](x, q, rows: batch, scratch: scratch.quant)
            return
        }
        let h = scratch.floats.pointer
        layers[0](x, h, rows: batch, scratch: scratch.quant)
        HeadMath.apply(activation, h, count: batch * layers[0].outFeatures)
        layers[1](h, q, rows: batch, scratch: scratch.quant)
    }
}
