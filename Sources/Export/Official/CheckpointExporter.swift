import CKernels
import Foundation
import Runtime

/// `recur export`: an official TRM/HRM checkpoint, a recursive causal LM in the same style
/// (PyTorch zip or safetensors, plus `all_config.yaml`, and for a language model the run's
/// `tokenizer.json`), a rule-latent (UZR) run, or an attention controller's run (its companion
/// file), to one GGUF file.
public enum CheckpointExporter {
    public struct Summary: Sendable {
        public var output: String
        /// `general.architecture` of the file written: trm, hrm, rlm, uzr or attn_controller.
        public var architecture: String
        public var hiddenSize: Int
        public var tensorCount: Int
        public var fileBytes: Int
        public var notes: [String]
    }

    public static var supportedTypes: [GGMLType] { TypePolicy.supportedTypes }

    public static func export(
        checkpoint: String, config configPath: String?, output: String, type: GGMLType,
        rules: [TypePolicy.Rule] = [], overrides: OfficialArchitecture.Overrides = .init(), allowNonFinite: Bool = false,
        tokenizerFile: String? = nil
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
        let plan: [OfficialArchitecture.TensorPlan], metadata: [(key: String, value: GGUFValue)], notes: [String]
        let architecture: String, hidden: Int
        var isSudoku = false
        var tokenizer: [(key: String, value: GGUFValue)] = []
        if RecursiveLMArchitecture.matches(yaml) {
            let arch = try RecursiveLMArchitecture(shapes: shapes, config: yaml, checkpointPath: checkpoint, overrides: overrides)
            (plan, metadata, notes) = (arch.tensors, arch.config.metadata, arch.notes)
            (architecture, hidden) = (RecursiveLMConfig.architecture, arch.config.hiddenSize)
            let folder = URL(fileURLWithPath: yamlPath).deletingLastPathComponent()
            let tokenizerPath = tokenizerFile ?? folder.appendingPathComponent("tokenizer.json").path
            if FileManager.default.fileExists(atPath: tokenizerPath) || tokenizerFile != nil {
                let imported = try TokenizerImport.load(tokenizerPath, configPath: URL(fileURLWithPath: tokenizerPath).deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path)
                guard imported.count == arch.config.vocabSize else {
                    throw ExportError.badConfig(file: tokenizerPath, detail: "the tokenizer has \(imported.count) tokens, the model's vocabulary \(arch.config.vocabSize)")
                }
                tokenizer = imported.metadata
            }
        } else if ControllerArchitecture.matches(yaml) {
            let arch = try ControllerArchitecture(shapes: shapes, config: yaml, checkpointPath: checkpoint)
            (plan, metadata, notes) = (arch.tensors, arch.metadata, [])
            (architecture, hidden) = (ControllerArchitecture.architecture, arch.hiddenSize)
        } else if RuleLatentArchitecture.matches(yaml) {
            let arch = try RuleLatentArchitecture(shapes: shapes, config: yaml, checkpointPath: checkpoint)
            (plan, metadata, notes) = (arch.tensors, arch.metadata, [])
            (architecture, hidden) = (RuleLatentArchitecture.architecture, arch.hiddenSize)
        } else if NSSRArchitecture.matches(yaml) {
            let arch = try NSSRArchitecture(shapes: shapes, config: yaml, checkpointPath: checkpoint)
            (plan, metadata, notes) = (arch.tensors, arch.metadata, [])
            (architecture, hidden) = (NSSRArchitecture.architecture, arch.hiddenSize)
        } else {
            let arch = try OfficialArchitecture(shapes: shapes, config: yaml, checkpointPath: checkpoint, overrides: overrides)
            (plan, metadata, notes) = (arch.tensors, arch.config.metadata, arch.notes)
            (architecture, hidden) = (arch.config.architecture.rawValue, arch.config.hiddenSize)
            isSudoku = arch.config.vocabSize == 11 && arch.config.seqLen == 81
        }
        let policy = TypePolicy(weights: type, rules: rules)
        try policy.checkRules(against: plan)
        let types = try plan.map { try policy.type(for: $0) }

        var writer = GGUFWriter()
        for (key, value) in metadata + tokenizer { writer.add(key, value) }
        let runName = yaml.root["run_name"]?.string ?? URL(fileURLWithPath: checkpoint).lastPathComponent
        writer.add("general.name", .string(runName))
        writer.add("general.file_type", .uint32(fileType(type)))
        writer.add("recur.source.checkpoint", .string(URL(fileURLWithPath: checkpoint).lastPathComponent))
        writer.add("recur.source.key_prefix", .string(prefix))
        writer.add("recur.quantization.policy", .string(policy.description))
        if isSudoku { writer.add("recur.task", .string("sudoku")) }

        for (plan, tensorType) in zip(plan, types) {
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
        return Summary(output: output, architecture: architecture, hiddenSize: hidden, tensorCount: plan.count, fileBytes: bytes,
                       notes: notes + (architecture == RecursiveLMConfig.architecture && tokenizer.isEmpty
                                       ? ["no tokenizer.json beside the checkpoint: the file has no tokenizer, so `recur generate` cannot run it on text"] : []))
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
