import ArgumentParser
import Foundation
import Runtime

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a GGUF model's architecture, hyper-parameters and tensors.")

    @Argument(help: "The GGUF file.")
    var model: String
    @Flag(name: .customLong("check-tensors"), help: "Look through every value of every tensor (block scales included) for NaN and infinity; exit 1 on any.")
    var checkTensors = false

    func run() throws {
        let file = try GGUFFile(path: model)
        print("file: \(model)")
        print("gguf version \(file.version), alignment \(file.alignment), \(file.metadata.count) metadata keys, \(file.tensors.count) tensors")
        if let config = try? ModelConfig(gguf: file) {
            print("architecture: \(config.architecture.rawValue) (\(config.tokenMixer.rawValue), positions \(config.positionEncoding.rawValue), halting \(config.haltRule.rawValue))")
        }
        if let d = try? ModelFamilies.describe(file) {
            if d.isCausal { printLanguageModel(d, file: file) }
            if d.architecture == "nssr" { printSearchModel(d) }
        }
        print("\nmetadata:")
        for (key, value) in file.metadata { print("  \(key) = \(render(value))") }
        print("\ntensors:")
        let width = file.tensors.map(\.name.count).max() ?? 0
        var total = 0
        for t in file.tensors {
            total += t.byteCount
            let name = t.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            print("  \(name)  \(t.type.name.padding(toLength: 5, withPad: " ", startingAt: 0))  \(shape.padding(toLength: 14, withPad: " ", startingAt: 0))  \(formatBytes(t.byteCount))")
        }
        print("  total tensor data: \(formatBytes(total))")
        if checkTensors { try check(file) }
    }

    private func check(_ file: GGUFFile) throws {
        let report = TensorCheck.run(file)
        print(String(format: "\ncheck-tensors: %d tensors, %d values in %.3f s: ", report.tensors, report.values, report.seconds)
              + (report.findings.isEmpty ? "every value finite" : "\(report.findings.count) with NaN or infinity"))
        for f in report.findings { print("  \(f.tensor): \(f.value) at index \(f.index)") }
        if !report.unchecked.isEmpty { print("  not checked (types Recur cannot decode): \(report.unchecked.joined(separator: ", "))") }
        if let first = report.findings.first {
            throw CLIError("\(file.path): tensor '\(first.tensor)' holds \(first.value) at index \(first.index)")
        }
    }

    /// The NSSR description: its blocks, recursion and heads.
    private func printSearchModel(_ d: ModelDescription) {
        guard let stack = d.stacks.first, case let .attention(a) = stack.block.mixer, case let .features(width) = d.input else { return }
        let passes = d.schedule.passes, low = passes.filter { $0.state == "z" }.count, high = passes.filter { $0.state == "y" }.count
        print("search model: \(d.architecture), \(stack.layers) \(stack.block.placement.rawValue)-norm blocks, hidden \(d.hiddenSize), "
              + "\(a.heads) heads of \(a.headDim), \(stack.block.mlp.rawValue) \(stack.block.mlpWidth), "
              + "\(width / 4) values of 4 features per row, at most \(d.contextLength) rows; per supervision step T \(high) x (n \(low / max(high, 1)) z + 1 y) passes, "
              + "at most \(d.halting?.maxSteps ?? 1) steps; heads \(d.heads.map { "\($0.tensor ?? "?") \($0.width ?? 0)" }.joined(separator: ", "))")
    }

    /// The description Recur runs, then the tokenizer and chat template facts a llama.cpp user
    /// looks for.
    private func printLanguageModel(_ d: ModelDescription, file: GGUFFile) {
        for stack in d.stacks {
            guard case let .attention(a) = stack.block.mixer else { continue }
            var positions = "none"
            if case let .rope(base, dims, layout) = a.positions { positions = "RoPE base \(base), \(dims) dims, \(layout.rawValue)" }
            print("language model: \(d.architecture), \(stack.layers) \(stack.block.placement.rawValue)-norm blocks, hidden \(d.hiddenSize), "
                  + "\(a.heads) heads / \(a.kvHeads) kv heads of \(a.headDim), \(stack.block.mlp.rawValue) \(stack.block.mlpWidth), \(positions), "
                  + "context \(d.contextLength), vocab \(d.vocabSize), output \(d.tiedOutput ? "tied to the embedding" : "separate")")
        }
        do {
            let t = try Tokenizer(file: file)
            func name(_ id: Int32?) -> String {
                id.map { "\($0) \(String(decoding: t.piece($0, special: true), as: UTF8.self).debugDescription)" } ?? "none"
            }
            print("tokenizer: \(t.model) (pre-tokenizer \(t.preTokenizer)), \(t.count) tokens, BOS \(name(t.bos)), EOS \(name(t.eos)), EOT \(name(t.eot)), "
                  + "adds BOS \(t.addBOS), adds EOS \(t.addEOS)")
        } catch {
            print("tokenizer: cannot be used: \(error)")
        }
        if let source = file.value("tokenizer.chat_template")?.string {
            let status: String
            do { _ = try ChatTemplate(source: source); status = "renders" } catch { status = "cannot be rendered: \(error)" }
            print("chat template: \(source.count) characters, \(status)")
        } else {
            print("chat template: none (ChatML is used)")
        }
    }

    private func render(_ v: GGUFValue) -> String {
        switch v {
        case let .string(s): return "\"\(s)\""
        case let .array(a): return "[" + a.prefix(8).map(render).joined(separator: ", ") + (a.count > 8 ? ", ... (\(a.count) items)" : "") + "]"
        case let .bool(b): return String(b)
        default:
            if let i = v.int { return String(i) }
            if let d = v.double { return String(d) }
            return "?"
        }
    }
}
