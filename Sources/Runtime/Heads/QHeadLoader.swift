import CKernels

/// Reads the attached halting head of a GGUF file (see `QHeadLayout` and docs/qheads.md).
public enum QHeadLoader {
    /// The attached head, or nil when the file carries only the official `qhead.weight`/`qhead.bias`.
    public static func load(file: GGUFFile, hidden: Int? = nil) throws -> QHead? {
        guard let kindValue = file.value(QHeadLayout.kindKey) else { return nil }
        func bad(_ detail: String) -> ModelError { .badMetadata(file: file.path, detail: detail) }
        guard let kindName = kindValue.string, let kind = QHeadKind(rawValue: kindName) else {
            throw bad("\(QHeadLayout.kindKey) is \(kindValue), expected one of \(QHeadKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let formatName = file.value(QHeadLayout.formatKey)?.string ?? QHeadFormat.float.rawValue
        guard let format = QHeadFormat(rawValue: formatName) else {
            throw bad("\(QHeadLayout.formatKey) is '\(formatName)', expected one of \(QHeadFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let activationName = file.value(QHeadLayout.activationKey)?.string ?? QHeadActivation.relu.rawValue
        guard let activation = QHeadActivation(rawValue: activationName) else {
            throw bad("\(QHeadLayout.activationKey) is '\(activationName)', expected relu or silu")
        }
        let reader = Reader(file: file)
        let head: QHead
        switch format {
        case .float: head = try floatHead(kind, activation: activation, reader: reader)
        case .bnn: head = try binaryHead(kind, activation: activation, reader: reader)
        case .snn: head = try spikingHead(kind, reader: reader)
        }
        if let hidden, head.inputSize != hidden {
            throw bad("the attached \(kind.rawValue) head reads \(head.inputSize) features, the model's z_H has \(hidden)")
        }
        return head
    }

    /// Tensor access with shape checks that name the file and tensor.
    struct Reader {
        let file: GGUFFile
        var loader: WeightLoader { WeightLoader(file: file) }

        func info(_ name: String) throws -> GGUFTensorInfo {
            guard let t = file.tensor(name) else { throw ModelError.missingTensor(file: file.path, name: name) }
            return t
        }
        func matrix(_ name: String) throws -> (out: Int, in: Int) {
            let t = try info(name)
            guard t.shape.count == 2, t.shape[0] > 0, t.shape[1] > 0 else {
                throw ModelError.badShape(file: file.path, name: name, expected: [-1, -1], found: t.shape)
            }
            return (t.shape[0], t.shape[1])
        }
        func linear(_ base: String, bias: Bool, out: Int? = nil, in inFeatures: Int? = nil) throws -> HeadMatrix {
            let (o, i) = try matrix("\(base).weight")
            return HeadMatrix(try loader.linear(base, out: out ?? o, in: inFeatures ?? i, bias: bias))
        }
        func floats(_ name: String, count: Int) throws -> [Float] {
            try loader.floats(name, shape: [count]).array
        }
        func words(_ name: String, rows: Int, columns: Int) throws -> [UInt64] {
            let words = Int(recur_bnn_words(Int64(columns)))
            let t = try info(name)
            guard t.type == .i8, t.shape == [rows, words * 8] else {
                throw ModelError.badShape(file: file.path, name: name, expected: [rows, words * 8], found: t.shape)
            }
            let raw = file.bytes(t)
            guard raw.count == rows * words * 8 else {
                throw ModelError.badShape(file: file.path, name: name, expected: [rows, words * 8], found: [raw.count])
            }
            var out = [UInt64](repeating: 0, count: rows * words)
            out.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
            return out.map { UInt64(littleEndian: $0) }
        }
        func bytes(_ names: [String]) -> Int { names.compactMap { file.tensor($0)?.byteCount }.reduce(0, +) }
    }

    /// A head of `kind` from its matrices in `QHeadLayout.matrices` order, shapes checked.
    static func assemble(_ kind: QHeadKind, format: QHeadFormat, layers: [any HeadLinear], activation: QHeadActivation,
                         byteSize: Int, reader r: Reader) throws -> QHead {
        let shapes = layers.map { "\($0.inFeatures)->\($0.outFeatures)" }
        func bad() -> ModelError {
            .badMetadata(file: r.file.path, detail: "the \(kind.rawValue) head's layers \(shapes) do not have its shapes (see docs/qheads.md)")
        }
        guard layers.count == QHeadLayout.matrices(kind).count, let last = layers.last, last.outFeatures == 2 else { throw bad() }
        let hidden = layers[0].inFeatures, w = layers[0].outFeatures
        switch kind {
        case .linear:
            return FeedForwardHead(kind: kind, format: format, layers: layers, activation: activation, byteSize: byteSize)
        case .mlp:
            guard last.inFeatures == w else { throw bad() }
            return FeedForwardHead(kind: kind, format: format, layers: layers, activation: activation, byteSize: byteSize)
        case .gru:
            guard layers[1].inFeatures == w, layers[1].outFeatures == 3 * w, layers[2].inFeatures == w, layers[2].outFeatures == 3 * w,
                  last.inFeatures == w else { throw bad() }
            return GRUHead(input: layers[0], ih: layers[1], hh: layers[2], output: last, format: format, byteSize: byteSize)
        case .attention:
            guard layers[1...2].allSatisfy({ $0.inFeatures == hidden && $0.outFeatures == w }), last.inFeatures == w else { throw bad() }
            let heads = r.file.value(QHeadLayout.attentionHeadsKey)?.int ?? QHeadLayout.attentionHeads
            let memory = r.file.value(QHeadLayout.memoryKey)?.int ?? QHeadLayout.attentionMemory
            guard heads >= 1, w % heads == 0, memory >= 1, memory <= 4096 else {
                throw ModelError.badMetadata(file: r.file.path, detail: "attention head: width \(w) with \(heads) heads and memory \(memory) (heads must divide the width; memory 1...4096)")
            }
            return AttentionHead(wq: layers[0], wk: layers[1], wv: layers[2], output: last, heads: heads, memory: memory,
                                 format: format, byteSize: byteSize)
        }
    }

    static func floatHead(_ kind: QHeadKind, activation: QHeadActivation, reader r: Reader) throws -> QHead {
        let layers: [any HeadLinear] = try QHeadLayout.matrices(kind).map { t in
            let base = String(t.name.dropLast(".weight".count))
            return try r.linear(base, bias: r.file.tensor("\(base).bias") != nil)
        }
        return try assemble(kind, format: .float, layers: layers, activation: activation,
                            byteSize: r.bytes(QHeadLayout.tensors(kind).map(\.name)), reader: r)
    }

    static func binaryHead(_ kind: QHeadKind, activation: QHeadActivation, reader r: Reader) throws -> QHead {
        var layers: [BinaryLayer] = []
        for l in QHeadLayout.matrices(kind).indices {
            let base = "qhead.bnn.\(l)"
            let scale = try r.info("\(base).scale")
            let center = try r.info("\(base).center")
            guard scale.shape.count == 1, center.shape.count == 1 else {
                throw ModelError.badShape(file: r.file.path, name: "\(base).scale", expected: [-1], found: scale.shape)
            }
            let out = scale.shape[0]
            // The input width: metadata when the centre is one value for the whole input.
            let columns = r.file.value(QHeadLayout.bnnInFeaturesKey(l))?.int ?? center.shape[0]
            guard columns > 0, center.shape[0] == 1 || center.shape[0] == columns else {
                throw ModelError.badShape(file: r.file.path, name: "\(base).center", expected: [columns], found: center.shape)
            }
            do {
                layers.append(try BinaryLayer(inFeatures: columns, outFeatures: out,
                                              bits: try r.words("\(base).bits", rows: out, columns: columns),
                                              scale: try r.floats("\(base).scale", count: out), bias: try r.floats("\(base).bias", count: out),
                                              center: try r.floats("\(base).center", count: center.shape[0])))
            } catch let e as ModelError {
                throw ModelError.badMetadata(file: r.file.path, detail: "\(base): \(e.description)")
            }
        }
        return try assemble(kind, format: .bnn, layers: layers, activation: activation, byteSize: layers.reduce(0) { $0 + $1.byteSize }, reader: r)
    }

    static func spikingHead(_ kind: QHeadKind, reader r: Reader) throws -> QHead {
        let t = r.file.value(QHeadLayout.snnTimestepsKey)?.int ?? 32
        let leak = Float(r.file.value(QHeadLayout.snnLeakKey)?.double ?? 1)
        func layer(_ base: String) throws -> SpikingLayer {
            let (inFeatures, out) = try r.matrix("\(base).weight")
            let weight = try r.loader.floats("\(base).weight", shape: [inFeatures, out]).array
            let threshold = r.file.tensor("\(base).threshold") == nil ? 0 : try r.floats("\(base).threshold", count: 1)[0]
            do {
                return try SpikingLayer(inFeatures: inFeatures, outFeatures: out, weightT: weight,
                                        bias: try r.floats("\(base).bias", count: out), threshold: threshold)
            } catch let e as ModelError {
                throw ModelError.badMetadata(file: r.file.path, detail: "\(base): \(e.description)")
            }
        }
        if kind == .gru || kind == .attention {
            // Every matrix a rate-coded layer with its own input encoder; gates and softmax float.
            var layers: [SpikingLinear] = []
            for l in QHeadLayout.matrices(kind).indices {
                let base = "qhead.snn.\(l)", spiking = try layer(base)
                do {
                    layers.append(try SpikingLinear(layer: spiking, center: try r.floats("\(base).center", count: spiking.inFeatures),
                                                    inputThreshold: try r.floats("\(base).input_threshold", count: 1)[0],
                                                    timesteps: t, leak: leak))
                } catch let e as ModelError {
                    throw ModelError.badMetadata(file: r.file.path, detail: "\(base): \(e.description)")
                }
            }
            return try assemble(kind, format: .snn, layers: layers, activation: .relu, byteSize: layers.reduce(0) { $0 + $1.byteSize }, reader: r)
        }
        let centerInfo = try r.info("qhead.snn.center")
        guard centerInfo.shape.count == 1 else { throw ModelError.badShape(file: r.file.path, name: "qhead.snn.center", expected: [-1], found: centerInfo.shape) }
        let center = try r.floats("qhead.snn.center", count: centerInfo.shape[0])
        let layers = try (0..<QHeadLayout.matrices(kind).count).map { try layer("qhead.snn.\($0)") }
        let lambda = Float(r.file.value(QHeadLayout.snnInputThresholdKey)?.double ?? 1)
        do {
            return try SpikingHead(kind: kind, center: center, inputThreshold: lambda, layers: layers, timesteps: t, leak: leak)
        } catch let e as ModelError {
            throw ModelError.badMetadata(file: r.file.path, detail: e.description)
        }
    }
}

extension QHeadLoader {
    /// The file's official linear head (`qhead.weight`, `qhead.bias`) as a `QHead`.
    public static func official(file: GGUFFile) throws -> QHead {
        let r = Reader(file: file)
        let linear = try r.linear("qhead", bias: true, out: 2)
        return FeedForwardHead(kind: .linear, format: .float, layers: [linear], activation: .relu, byteSize: r.bytes(["qhead.weight", "qhead.bias"]))
    }

    /// The head a run of this file uses by default: the attached one, else the official.
    public static func effective(file: GGUFFile) throws -> QHead {
        try load(file: file) ?? official(file: file)
    }
}
