import ArgumentParser
import Export
import Foundation
import Runtime
import Tasks

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export an official TRM/HRM checkpoint (torch.save zip or safetensors) to GGUF.")

    @Argument(help: "The checkpoint file (e.g. step_10788); omit with --from-gguf.")
    var checkpoint: String?

    @Option(name: .long, help: "Start from this GGUF model instead of a checkpoint (to attach a Q-head to it).")
    var fromGguf: String?

    @Option(name: .long, help: "Attach a halting head: a state_dict (.pt or .safetensors) in the layout of docs/qheads.md.")
    var qhead: String?

    @Option(name: .long, help: "Kind of the --qhead: linear, mlp, gru, attention.")
    var qheadKind: String?

    @Option(name: .long, help: "Hidden activation of an mlp head: relu or silu.")
    var qheadActivation: String = "relu"

    @Option(name: .long, help: "Storage of the head: f32, f16, q8_0, bnn (binary), snn (spiking).")
    var qheadFormat: String = "f32"

    @Option(name: .long, help: "Calibration puzzles for bnn/snn heads: the model runs them and records the head's inputs.")
    var calibrate: String?

    @Option(name: .long, help: "Puzzles of --calibrate to run.")
    var calibrateLimit: Int = 16

    @Option(name: .long, help: "ACT steps per calibration puzzle.")
    var calibrateSteps: Int = 16

    @Option(name: .long, help: "Calibration states recorded earlier (safetensors 'states' [N, T, hidden]) instead of --calibrate.")
    var calibrationStates: String?

    @Option(name: .long, help: "SNN ticks per decision.")
    var snnTimesteps: Int = 32

    @Option(name: .long, help: "SNN membrane leak per tick (1 = pure integrate-and-fire).")
    var snnLeak: Float = 1

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

    @Option(name: .long, help: "A recursive LM's tokenizer.json (default: the one beside all_config.yaml, if any).")
    var tokenizer: String?

    @Flag(name: .customLong("allow-non-finite"), help: "Export a checkpoint even when a tensor holds NaN or infinity (refused by default).")
    var allowNonFinite = false

    func run() throws {
        try refuseOverwritingAnInput()
        if qhead == nil {
            guard fromGguf == nil else { throw CLIError("--from-gguf copies a model to attach a Q-head: pass --qhead HEAD too") }
            guard let checkpoint else { throw CLIError("pass the checkpoint file to export (or --from-gguf MODEL.gguf --qhead HEAD)") }
            return try exportModel(checkpoint: checkpoint, output: output)
        }
        guard let qhead else { return }
        guard let kindName = qheadKind, let kind = QHeadKind(rawValue: kindName.lowercased()) else {
            throw CLIError("--qhead needs --qhead-kind: one of \(QHeadKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let activation = QHeadActivation(rawValue: qheadActivation.lowercased()) else {
            throw CLIError("unknown --qhead-activation '\(qheadActivation)': use relu or silu")
        }
        let storage: QHeadStorage
        switch qheadFormat.lowercased() {
        case "bnn": storage = .bnn
        case "snn": storage = .snn(timesteps: snnTimesteps, leak: snnLeak)
        case let name:
            guard let t = [GGMLType.f32, .f16, .q8_0].first(where: { $0.name.lowercased() == name }) else {
                throw CLIError("unknown --qhead-format '\(qheadFormat)': use f32, f16, q8_0, bnn or snn")
            }
            storage = .float(t)
        }
        let head = try QHeadWeights.load(path: qhead, kind: kind, activation: activation)

        // The model to attach to: the given GGUF, or the checkpoint exported to a temporary file first.
        var base = fromGguf
        var temporary: String?
        defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
        if base == nil {
            guard let checkpoint else { throw CLIError("pass the checkpoint file to export, or --from-gguf MODEL.gguf") }
            let path = output + ".model-\(ProcessInfo.processInfo.processIdentifier).tmp"
            try exportModel(checkpoint: checkpoint, output: path)
            temporary = path
            base = path
        } else if checkpoint != nil {
            throw CLIError("pass either a checkpoint or --from-gguf, not both")
        }
        guard let base else { return }

        var calibration: [Float] = []
        var steps = 1
        if let calibrationStates {
            (calibration, steps) = try QHeadCalibration.load(path: calibrationStates, hidden: head.hidden, limit: calibrateLimit)
        } else if let calibrate {
            let text = String(decoding: FileManager.default.contents(atPath: calibrate) ?? Data(), as: UTF8.self)
            let lines = try SudokuLine.parseFile(text, name: calibrate, limit: Swift.max(calibrateLimit, 1))
            guard !lines.isEmpty else { throw CLIError("\(calibrate): no puzzles found") }
            let model = try RecursiveModel(path: base)
            calibration = try QHeadCalibration.record(model: model, inputs: lines.map { ModelInput(tokens: $0.puzzle.tokens) },
                                                      steps: calibrateSteps, threads: ProcessInfo.processInfo.activeProcessorCount)
            steps = calibrateSteps
        }
        if case .float = storage {} else if calibration.isEmpty, case .snn = storage {
            throw CLIError("--qhead-format snn needs --calibrate PUZZLES or --calibration-states FILE")
        }
        let summary = try QHeadAttacher.attach(model: base, output: output, head: head, storage: storage, calibration: calibration,
                                               steps: steps)
        print("wrote \(summary.output): \(kind.rawValue) Q-head as \(qheadFormat.lowercased()), \(summary.headBytes) bytes of head tensors, \(calibration.count / Swift.max(head.hidden, 1)) calibration states, \(formatBytes(summary.fileBytes))")
    }

    /// The GGUF is written to a temporary file and renamed over `output`, so an output that is one
    /// of the inputs (the same file, a link to it) would replace that input: refuse it up front.
    private func refuseOverwritingAnInput() throws {
        var target = stat()
        guard stat(output, &target) == 0 else { return } // a new file can be no input
        var inputs = [checkpoint, fromGguf, qhead, calibrate, calibrationStates, config, tokenizer].compactMap { $0 }
        if config == nil, let checkpoint {
            inputs.append(URL(fileURLWithPath: checkpoint).deletingLastPathComponent().appendingPathComponent("all_config.yaml").path)
        }
        for input in inputs {
            var source = stat()
            if stat(input, &source) == 0, source.st_dev == target.st_dev, source.st_ino == target.st_ino {
                throw CLIError("-o \(output) is the input \(input): writing there would replace it; choose another output file")
            }
        }
    }

    private func exportModel(checkpoint: String, output: String) throws {
        guard let ggmlType = CheckpointExporter.supportedTypes.first(where: { $0.name.lowercased() == type.lowercased() }) else {
            throw CLIError("unknown --type '\(type)': use one of \(CheckpointExporter.supportedTypes.map { $0.name.lowercased() }.joined(separator: ", "))")
        }
        let rules = try tensorType.map { try TypePolicy.Rule(parsing: $0) }
        let summary = try CheckpointExporter.export(
            checkpoint: checkpoint, config: config, output: output, type: ggmlType, rules: rules,
            overrides: .init(seqLen: seqLen, haltMaxSteps: haltMaxSteps), allowNonFinite: allowNonFinite, tokenizerFile: tokenizer)
        for note in summary.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        print("wrote \(summary.output): \(summary.architecture), hidden \(summary.hiddenSize), \(summary.tensorCount) tensors, \(ggmlType.name), \(formatBytes(summary.fileBytes))")
    }
}

func formatBytes(_ n: Int) -> String {
    if n >= 1 << 20 { return String(format: "%.2f MiB", Double(n) / Double(1 << 20)) }
    if n >= 1 << 10 { return String(format: "%.1f KiB", Double(n) / Double(1 << 10)) }
    return "\(n) B"
}
