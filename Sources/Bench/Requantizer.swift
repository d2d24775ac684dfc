import Export
import Foundation
import Runtime

/// Makes Q8_0 / Q4_0 / ... variants of an F32 or F16 GGUF, so `recur bench --types` can measure
/// every type from the one file a user has, with the exporter's default type policy.
public enum Requantizer {
    public static let supportedTypes: [GGMLType] = CheckpointExporter.supportedTypes

    /// The weight type of a model file: the type holding most block-stack linear weight elements.
    public static func weightType(of file: GGUFFile) -> GGMLType {
        var count: [GGMLType: Int] = [:]
        for t in file.tensors where isStackLinear(t.name, shape: t.shape) { count[t.type, default: 0] += t.elementCount }
        return count.max { $0.value < $1.value }?.key ?? .f32
    }

    static func isStackLinear(_ name: String, shape: [Int]) -> Bool {
        shape.count == 2 && (name.hasPrefix("memory.") || name.hasSuffix(".weight") && (name.hasPrefix("L.blk.") || name.hasPrefix("H.blk.")))
    }

    /// Writes `source` re-encoded as `type` to `output` (temporary file, then rename).
    public static func requantize(_ source: String, to type: GGMLType, output: String) throws {
        guard supportedTypes.contains(type) else {
            throw HistoryError("\(source): cannot requantize to \(type.name); supported: \(supportedTypes.map(\.name).joined(separator: ", "))")
        }
        let file = try GGUFFile(path: source)
        let have = weightType(of: file)
        if have != .f32 && have != .f16 && have != .bf16 && have != type {
            throw HistoryError("\(source): weights are \(have.name); requantizing needs an F32 or F16 model (quantizing twice adds error the bench would measure), or pass each type's file with --model")
        }
        var writer = GGUFWriter()
        for (key, value) in file.metadata where key != "general.file_type" && key != "recur.quantization.policy" {
            writer.add(key, value)
        }
        let policy = TypePolicy(weights: type)
        writer.add("recur.quantization.policy", .string(policy.description))
        writer.add("recur.bench.requantized_from", .string(URL(fileURLWithPath: source).lastPathComponent))
        for t in file.tensors {
            let values = try file.floats(t.name)
            let linear = isStackLinear(t.name, shape: t.shape) || t.name == "output.weight"
            let target = try policy.type(name: t.name, shape: t.shape, isLinearWeight: linear)
            try writer.addTensor(name: t.name, shape: t.shape, floats: values, type: target)
        }
        try writer.write(to: output)
    }
}
