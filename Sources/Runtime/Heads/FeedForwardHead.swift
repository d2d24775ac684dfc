/// `linear` (hidden -> 2) and `mlp` (hidden -> h -> act -> 2) heads, float/quantized or binary.
public final class FeedForwardHead: QHead {
    public let kind: QHeadKind
    public let format: QHeadFormat
    public let inputSize: Int
    public let byteSize: Int
    let layers: [any HeadLinear]
    let activation: QHeadActivation

    init(kind: QHeadKind, format: QHeadFormat, layers: [any HeadLinear], activation: QHeadActivation, byteSize: Int) {
        self.kind = kind
        self.format = format
        self.layers = layers
        self.activation = activation
        self.byteSize = byteSize
        inputSize = layers[0].inFeatures
    }

    public var summary: String {
        let type = headTypeName(format, layers[0])
        return kind == .mlp ? "mlp(\(layers[0].outFeatures), \(activation.rawValue)) \(type)" : "linear \(type)"
    }

    public func makeScratch(capacity: Int) -> QHeadScratch {
        let widest = layers.map(\.outFeatures).max() ?? 2
        return QHeadScratch(floats: capacity * widest, layers: layers.needs(rows: capacity))
    }

    public func evaluate(_ x: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>,
                         batch: Int, scratch: QHeadScratch) {
        if layers.count == 1 {
            layers[0](x, q, rows: batch, scratch: scratch)
            return
        }
        let h = scratch.floats.pointer
        layers[0](x, h, rows: batch, scratch: scratch)
        HeadMath.apply(activation, h, count: batch * layers[0].outFeatures)
        layers[1](h, q, rows: batch, scratch: scratch)
    }
}

/// "Q8_0", "BNN", "SNN (T 32, leak 1.0)": how a head's matrices are stored, for summaries.
func headTypeName(_ format: QHeadFormat, _ layer: any HeadLinear) -> String {
    switch format {
    case .float: return (layer as? HeadMatrix)?.type.name ?? "float"
    case .bnn: return "BNN"
    case .snn:
        guard let s = layer as? SpikingLinear else { return "SNN" }
        return "SNN (T \(s.timesteps), leak \(s.leak))"
    }
}
