import CKernels
import Foundation
import Runtime

/// `recur export`: an official TRM/HRM checkpoint (PyTorch zip or safetensors, plus
/// `all_config.yaml`) to one GGUF file.
public enum CheckpointExporter {
    public struct Summary: Sendable {
        public var output: String
        public var config: ModelConfig
        public var tensorCount: Int
        public var fileBytes: Int
        public var notes: [String]
    }

    public static var supportedTypes: [GGMLType] { TypePolicy.supportedTypes }

    public static func export(
        checkpoint: String, config configPath: String?, output: String, type: GGMLType,
        rules: [TypePolicy.Rule] = [], overrides: OfficialArchitecture.Overrides = .init(), allowNonFinite: Bool = false
    ) throws -> Summary {
        guard supportedTypes.contains(type) else {
            throw ExportError.unsupportedType("export type \(type.name) is not one of \(supportedTypes.map(\.name).joined(separator: ", "))")
        }
        let yamlPath = configPath ?? (URL(fileURLWithPath: checkpoint).deletingLastPathComponent().appendingPathComponent("all_config.yaml").path)
        guard FileManager.default.fileExists(atPath: yamlPath) else {
            throw ExportError.missingConfig("\(yamlPath): no training configuration found; pass --config all_config.yaml")
        }
        let yaml = try TrainingConfig.load(yamlPath)
        let stateDict = try StateDict.load(checkpoint)
        let (prefix, keys) = OfficialArchitecture.stripPrefix(stateDict.tensors.map(\.name))
        var shapes: [String: [Int]] = [:]
        for (key, tensor) in zip(keys, stateDict.tensors) { shapes[key] = tensor.shape }
        let arch = try OfficialArchitecture(shapes: shapes, config: yaml, checkpointPath: checkpoint, overrides: overrides)
        let policy = TypePolicy(weights: type, rules: rules)
        try policy.checkRules(against: arch.tensors)
        let types = try arch.tensors.map { try policy.type(for: $0) }

        var writer = GGUFWriter()
        for (key, value) in arch.config.metadata { writer.add(key, value) }
        let runName = yaml.root["run_name"]?.string ?? URL(fileURLWithPath: checkpoint).lastPathComponent
        writer.add("general.name", .string(runName))
        writer.add("general.file_type", .uint32(fileType(type)))
        writer.add("recur.source.checkpoint", .string(URL(fileURLWithPath: checkpoint).lastPathComponent))
        writer.add("recur.source.key_prefix", .string(prefix))
        writer.add("recur.quantization.policy", .string(policy.description))
        if arch.config.vocabSize == 11 && arch.config.seqLen == 81 { writer.add("recur.task", .string("sudoku")) }

        for (plan, tensorType) in zip(arch.tensors, types) {
            guard let source = stateDict[prefix + plan.source] else {
                throw ExportError.missingTensor(file: checkpoint, name: prefix + plan.source)
            }
            var values = try source.floats()
            if !allowNonFinite {
                let bad = Int(values.withUnsafeBufferPointer { recur_f32_first_non_finite($0.baseAddress, Int64($0.count)) })
                if bad >= 0 { throw ExportError.nonFinite(file: checkpoint, name: prefix + plan.source, index: bad, value: values[bad]) }
            }
            if let rows = plan.rows {
                let width = plan.shape.dropFirst().reduce(1, *)
                values = Array(values[rows.lowerBound * width..<rows.upperBound * width])
            }
            try writer.addTensor(name: plan.name, shape: plan.shape, floats: values, type: tensorType)
        }
        try writer.write(to: output)
        let bytes = ((try? FileManager.default.attributesOfItem(atPath: output))?[.size] as? Int) ?? 0
        return Summary(output: output, config: arch.config, tensorCount: arch.tensors.count, fileBytes: bytes, notes: arch.notes)
    }

    /// llama.cpp's `general.file_type` (LLAMA_FTYPE_*) for the dominant weight type.
    static func fileType(_ type: GGMLType) -> UInt32 {
        switch type {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        default: return 0
        }
    }
}
