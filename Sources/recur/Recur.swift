import ArgumentParser
import CKernels
import Foundation

@main
struct Recur: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recur",
        abstract: "Run tiny recursive reasoning models (TRM, HRM) and small language models on the CPU.",
        discussion: "RECUR_ISA=scalar|avx2|avxvnni|avx512|amx forces a kernel tier (default: the best this CPU runs).",
        subcommands: [Solve.self, Generate.self, Chat.self, RulesCommand.self, NssrCommand.self, ServeCommand.self, Export.self, Inspect.self, BenchCommand.self, QHeadEval.self],
        defaultSubcommand: nil)

    static func main() {
        if recur_isa_env_rejected() != 0 {
            let asked = ProcessInfo.processInfo.environment["RECUR_ISA"] ?? ""
            let used = String(cString: recur_isa_name(recur_isa_active()))
            FileHandle.standardError.write(Data(
                "recur: RECUR_ISA=\(asked) is not a tier this CPU runs (scalar, avx2, avxvnni, avx512, amx); using \(used)\n".utf8))
        }
        if recur_openmp_enabled() == 0 && ProcessInfo.processInfo.activeProcessorCount > 1 {
            FileHandle.standardError.write(Data(("recur: built without OpenMP (libomp-dev was missing when the package was built), "
                + "so every kernel runs on one thread; run scripts/setup.sh, then rebuild from scratch "
                + "(rm -rf .build ~/.cache/org.swift.swiftpm/manifests)\n").utf8))
        }
        main(nil)
    }
}
