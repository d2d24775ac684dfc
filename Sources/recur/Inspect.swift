import ArgumentParser
import Bench
import CKernels
import Foundation
import Runtime

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a GGUF model's architecture, hyper-parameters and tensors, or (--kernels) the kernels this CPU runs.")

    @Argument(help: "The GGUF file.")
    var model: String?
    @Flag(name: .customLong("check-tensors"), help: "Look through every value of every tensor (block scales included) for NaN and infinity; exit 1 on any.")
    var checkTensors = false
    @Flag(name: .long, help: "Print the kernel tier, threads, and each quantized type's micro-kernel shape with the timings that chose it and the tier's measured INT8 peak.")
    var kernels = false

    func validate() throws {
        if model == nil && !kernels { throw ValidationError("give a GGUF file, or --kernels") }
        if model == nil && checkTensors { throw ValidationError("--check-tensors needs a GGUF file") }
    }

    func run() throws {
        if kernels { printKernels() }
        guard let model else { return }
        if kernels { print("") }
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

    /// The tier, the threads and the micro-kernel shapes the quantized linears run, with the
    /// timings that chose them against the tier's INT8 peak at the same thread count.
    private func printKernels() {
        let machine = BenchMachine.current()
        let active = recur_isa_active(), best = recur_isa_best()
        let tiers = [RECUR_ISA_SCALAR, RECUR_ISA_AVX2, RECUR_ISA_AVXVNNI, RECUR_ISA_AVX512, RECUR_ISA_AMX]
        print("kernels on \(machine.cpu), \(machine.cores) logical cores")
        print("  tier in use: \(String(cString: recur_isa_name(active)))"
              + (active == best ? " (the best this CPU runs; RECUR_ISA forces another)" : " (forced by RECUR_ISA; best here: \(String(cString: recur_isa_name(best))))"))
        print("  tiers here: " + tiers.map { "\(String(cString: recur_isa_name($0))) \(recur_isa_supported($0) != 0 ? "yes" : "no")" }.joined(separator: ", "))
        print(recur_openmp_enabled() != 0
              ? "  threads: OpenMP, \(recur_get_num_threads()) by default (--threads, OMP_NUM_THREADS)"
              : "  threads: one (this build has no OpenMP: libomp-dev was missing when it was compiled)")
        print("  FP32 linears: Recur's packed-panel kernels; attention products: OpenBLAS, \(String(cString: recur_blas_core())) kernels"
              + " (recur pins Haswell unless OPENBLAS_CORETYPE is set)")
        print("  quantized micro-kernels (rows x 16-column weight panels): the fastest through a whole linear at first use"
              + " (RECUR_QKERNEL=<shape> forces one):")
        var peaks: [Int: Double?] = [:]
        for choice in KernelShapes.choices() {
            var peak: Double?
            if choice.shapes.contains(where: { $0.gops > 0 }) {
                peak = peaks[choice.threads] ?? MachinePeak.int8GOPS(threads: max(choice.threads, 1))
                peaks[choice.threads] = .some(peak)
            }
            let timed = choice.shapes.map { shape -> String in
                guard shape.gops > 0 else { return shape.name }
                let share = peak.map { String(format: " (%.0f%%)", 100 * shape.gops / $0) } ?? ""
                return String(format: "%@ %.0f GOP/s", shape.name, shape.gops) + share
            }
            let how = choice.shapes.count == 1 ? "the tier's only shape"
                : choice.shapes.allSatisfy({ $0.gops == 0 }) ? "forced (RECUR_QKERNEL); the tier has " + timed.joined(separator: ", ")
                : timed.joined(separator: ", ") + " at \(choice.threads) thread\(choice.threads == 1 ? "" : "s")"
            print("    \(choice.type)  \(choice.chosenName)   " + how)
        }
        for (threads, peak) in peaks.sorted(by: { $0.key < $1.key }) {
            if let peak { print(String(format: "  INT8 peak of the tier (recur bench probe): %.1f GOP/s at %d thread%@", peak, threads, threads == 1 ? "" : "s")) }
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
