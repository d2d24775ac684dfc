import Foundation
import Runtime

/// A trained halting head in float32, read from a PyTorch state_dict (`torch.save` zip or
/// safetensors) with the key layout of `tools/reference/recur_reference/qheads.py`.
public struct QHeadWeights: Sendable {
    public var kind: QHeadKind
    public var activation: QHeadActivation
    public var attentionHeads = QHeadLayout.attentionHeads
    public var attentionMemory = QHeadLayout.attentionMemory
    /// GGUF tensor name -> (shape, row-major values).
    public var tensors: [String: (shape: [Int], values: [Float])]

    public var hidden: Int { tensors[QHeadLayout.tensors(kind)[0].name]?.shape.last ?? 0 }

    public init(kind: QHeadKind, activation: QHeadActivation = .relu, tensors: [String: (shape: [Int], values: [Float])]) {
        self.kind = kind
        self.activation = activation
        self.tensors = tensors
    }

    public static func load(path: String, kind: QHeadKind, activation: QHeadActivation = .relu) throws -> QHeadWeights {
        let dict = try StateDict.load(path)
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        for t in QHeadLayout.tensors(kind) {
            // Accept a `torch.save(module.state_dict())` as well as one saved from a wrapper (`head.`).
            guard let source = dict[t.torchKey] ?? dict["head.\(t.torchKey)"] else {
                let found = dict.tensors.map(\.name).prefix(12).joined(separator: ", ")
                throw QHeadExportError.badHead(file: path, detail: "a \(kind.rawValue) head needs tensor '\(t.torchKey)'; the file has \(found)")
            }
            tensors[t.name] = (source.shape, try source.floats())
        }
        let known = Set(QHeadLayout.tensors(kind).flatMap { [$0.torchKey, "head.\($0.torchKey)"] })
        let extra = dict.tensors.map(\.name).filter { !known.contains($0) }
        guard extra.isEmpty else {
            throw QHeadExportError.badHead(file: path, detail: "tensors \(extra.prefix(8)) are not part of a \(kind.rawValue) head (wrong --qhead-kind?)")
        }
        let weights = QHeadWeights(kind: kind, activation: activation, tensors: tensors)
        try weights.checkShapes(file: path)
        return weights
    }

    /// Every tensor's shape against the kind's definition (names the file and tensor).
    public func checkShapes(file: String) throws {
        func shape(_ name: String) -> [Int] { tensors[name]?.shape ?? [] }
        func expect(_ name: String, _ s: [Int]) throws {
            guard shape(name) == s, tensors[name]?.values.count == s.reduce(1, *) else {
                throw QHeadExportError.badHead(file: file, detail: "tensor \(name): shape \(shape(name)), expected \(s)")
            }
        }
        let first = QHeadLayout.tensors(kind)[0].name
        guard shape(first).count == 2, shape(first).allSatisfy({ $0 > 0 }) else {
            throw QHeadExportError.badHead(file: file, detail: "tensor \(first): shape \(shape(first)), expected a matrix")
        }
        let (w, h) = (shape(first)[0], shape(first)[1])
        switch kind {
        case .linear:
            try expect("qhead.linear.weight", [2, h]); try expect("qhead.linear.bias", [2])
        case .mlp:
            try expect("qhead.fc1.bias", [w]); try expect("qhead.fc2.weight", [2, w]); try expect("qhead.fc2.bias", [2])
        case .gru:
            for part in ["ih", "hh"] { try expect("qhead.gru_\(part).weight", [3 * w, w]); try expect("qhead.gru_\(part).bias", [3 * w]) }
            try expect("qhead.gru_out.weight", [2, w]); try expect("qhead.gru_out.bias", [2])
        case .attention:
            try expect("qhead.attn_k.weight", [w, h]); try expect("qhead.attn_v.weight", [w, h])
            try expect("qhead.attn_out.weight", [2, w]); try expect("qhead.attn_out.bias", [2])
            guard w % attentionHeads == 0 else {
                throw QHeadExportError.badHead(file: file, detail: "attention width \(w) is not a multiple of \(attentionHeads) heads")
            }
        }
    }

    /// The head's matrices as (W [out, in], b [out]) in `QHeadLayout.matrices` order, a missing
    /// bias as zeros: what the BNN and SNN converters turn into layers.
    func matrices() -> [(out: Int, in: Int, weight: [Float], bias: [Float])] {
        QHeadLayout.matrices(kind).map { t in
            let w = tensors[t.name]!
            let base = t.name.dropLast(".weight".count)
            return (w.shape[0], w.shape[1], w.values, tensors["\(base).bias"]?.values ?? [Float](repeating: 0, count: w.shape[0]))
        }
    }

    /// The head in float32 as the runtime runs it, for tracing what each matrix sees.
    func runtimeHead() throws -> QHead {
        try loadBack { try write(into: &$0, type: .f32) }
    }

    /// The head as the runtime loads what `write` puts in a file.
    func loadBack(_ write: (inout GGUFWriter) throws -> Void) throws -> QHead {
        var writer = GGUFWriter()
        try write(&writer)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recur-qhead-\(UUID().uuidString).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path)
        guard let head = try QHeadLoader.load(file: GGUFFile(path: path)) else {
            throw QHeadExportError.unsupported("head \(kind.rawValue) did not load back")
        }
        return head
    }

    /// The metadata every format of this head carries.
    func writeMetadata(into writer: inout GGUFWriter, format: QHeadFormat) {
        writer.add(QHeadLayout.kindKey, .string(kind.rawValue))
        writer.add(QHeadLayout.formatKey, .string(format.rawValue))
        if kind == .mlp { writer.add(QHeadLayout.activationKey, .string(activation.rawValue)) }
        if kind == .attention {
            writer.add(QHeadLayout.attentionHeadsKey, .uint32(UInt32(attentionHeads)))
            writer.add(QHeadLayout.memoryKey, .uint32(UInt32(attentionMemory)))
        }
    }

    /// Writes metadata and tensors in float format; matrices as `type`, vectors F32. A block type
    /// whose block does not divide a row falls back to F16 for that matrix, as the model export does.
    public func write(into writer: inout GGUFWriter, type: GGMLType) throws {
        writeMetadata(into: &writer, format: .float)
        for t in QHeadLayout.tensors(kind) {
            guard let (shape, values) = tensors[t.name] else { throw QHeadExportError.unsupported("head tensor \(t.name) missing") }
            var tensorType: GGMLType = t.isMatrix ? type : .f32
            if let row = shape.last, row % tensorType.blockSize != 0 { tensorType = .f16 }
            try writer.addTensor(name: t.name, shape: shape, floats: values, type: tensorType)
        }
    }
}
