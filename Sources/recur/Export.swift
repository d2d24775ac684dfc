import ArgumentParser
import Export
import Foundation
import Runtime

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export an official TRM/HRM checkpoint (torch.save zip or safetensors) to GGUF.")

    @Argument(help: "The checkpoint file (e.g. step_10788).")
    var checkpoint: String

    @Option(name: .shortAndLong, help: "The GGUF file to write.")
    var output: String

    @Option(name: .long, help: "Weight type of the linear layers: f32, f16, q8_0, q4_0, q4_1.")
    var type: String = "f16"

    @Option(name: .long, help: ArgumentHelp(
        "Type of the tensors whose GGUF name matches PATTERN (glob: * and ?), overriding the default policy; repeatable, first match wins.",
        valueName: "PATTERN=TYPE"))
    var tensorType: [String] = []

    @Option(name: .long, help: "Training configuration (default: all_config.yaml beside the checkpoint).")
    var config: String?

    @Option(name: .long, help: "Tokens per input, for RoPE/no-position attention models whose tensors do not pin it.")
    var seqLen: Int?

    @Option(name: .long, help: "ACT step cap to store instead of the training run's halt_max_steps.")
    var haltMaxSteps: Int?

    func run() throws {
        guard let ggmlType = CheckpointExporter.supportedTypes.first(where: { $0.name.lowercased() == type.lowercased() }) else {
            throw CLIError("unknown --type '\(type)': use one of \(CheckpointExporter.supportedTypes.map { $0.name.lowercased() }.joined(separator: ", "))")
        }
        let rules = try tensorType.map { try TypePolicy.Rule(parsing: $0) }
        let summary = try CheckpointExporter.export(
            checkpoint: checkpoint, config: config, output: output, type: ggmlType, rules: rules,
            overrides: .init(seqLen: seqLen, haltMaxSteps: haltMaxSteps))
        for note in summary.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        let c = summary.config
        print("wrote \(summary.output): \(c.architecture.rawValue), hidden \(c.hiddenSize), \(summary.tensorCount) tensors, \(ggmlType.name), \(formatBytes(summary.fileBytes))")
    }
}

func formatBytes(_ n: Int) -> String {
    if n >= 1 << 20 { return String(format: "%.2f MiB", Double(n) / Double(1 << 20)) }
    if n >= 1 << 10 { return String(format: "%.1f KiB", Double(n) / Double(1 << 10)) }
    return "\(n) B"
}
