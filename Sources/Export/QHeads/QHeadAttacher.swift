import Foundation
import Runtime

/// How an attached head is stored.
public enum QHeadStorage: Sendable, Equatable {
    /// Standard ggml tensors of this type for the matrices (F32, F16, Q8_0, ...).
    case float(GGMLType)
    case bnn
    case snn(timesteps: Int, leak: Float)
}

/// Writes a model GGUF with a halting head attached: every tensor and metadata pair of the source
/// file is copied byte for byte (the official `qhead.weight`/`qhead.bias` included) except a head
/// attached before, which is replaced.
public enum QHeadAttacher {
    public struct Summary: Sendable {
        public var output: String
        public var headBytes: Int
        public var fileBytes: Int
    }

    /// True for the names of an attached head (not the official head's two tensors).
    static func isAttached(tensor name: String) -> Bool {
        name.hasPrefix("qhead.") && name != "qhead.weight" && name != "qhead.bias"
    }

    /// `calibration`: Q-head input states, `steps` consecutive ones per puzzle.
    public static func attach(model: String, output: String, head: QHeadWeights, storage: QHeadStorage, calibration: [Float],
                              steps: Int = 1) throws -> Summary {
        let source = try GGUFFile(path: model)
        if let hidden = source.value("\(source.value("general.architecture")?.string ?? "trm").hidden_size")?.int, hidden != head.hidden {
            throw QHeadExportError.badHead(file: model, detail: "the model's hidden size is \(hidden), the head reads \(head.hidden) features")
        }
        var writer = GGUFWriter(alignment: source.alignment)
        for (key, value) in source.metadata where !key.hasPrefix("qhead.") {
            writer.add(key, value)
        }
        for info in source.tensors where !isAttached(tensor: info.name) {
            try writer.addTensor(name: info.name, shape: info.shape, type: info.type, data: Array(source.bytes(info)))
        }
        try add(head, storage: storage, calibration: calibration, steps: steps, to: &writer)
        try writer.write(to: output)
        let written = try GGUFFile(path: output)
        let headBytes = written.tensors.filter { isAttached(tensor: $0.name) }.reduce(0) { $0 + $1.byteCount }
        let bytes = ((try? FileManager.default.attributesOfItem(atPath: output))?[.size] as? Int) ?? 0
        return Summary(output: output, headBytes: headBytes, fileBytes: bytes)
    }

    /// Adds the head's metadata and tensors in the chosen storage.
    public static func add(_ head: QHeadWeights, storage: QHeadStorage, calibration: [Float], steps: Int = 1,
                           to writer: inout GGUFWriter) throws {
        switch storage {
        case let .float(type): try head.write(into: &writer, type: type)
        case .bnn: try BinaryConverter.write(try BinaryConverter.convert(head, calibration: calibration, steps: steps), head: head, into: &writer)
        case let .snn(timesteps, leak):
            let converted = try SpikingConverter.convert(head, calibration: calibration, steps: steps, timesteps: timesteps, leak: leak)
            try SpikingConverter.write(converted, head: head, timesteps: timesteps, leak: leak, into: &writer)
        }
    }
}
