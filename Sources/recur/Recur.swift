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
        pinBLASKernels()
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

    /// OpenBLAS picks its kernels for the CPU when it loads, and their rounding differs: with its
    /// AVX-512 kernels (e.g. "Cooperlake" on Zen 4) a row's FP32 result depends on how many rows the
    /// call has, so a prompt evaluated in one batch and the same prompt served from the reuse cache
    /// (its last token run alone) could part at a near tie. Recur pins the AVX2 kernels every AVX2
    /// CPU runs ("Haswell"), the ones its figures were measured with, by running itself once more
    /// with OPENBLAS_CORETYPE set; a value the user set is kept.
    private static func pinBLASKernels() {
        #if os(Linux)
        let avx2 = UInt32(RECUR_CPU_AVX2 | RECUR_CPU_FMA)
        guard getenv("OPENBLAS_CORETYPE") == nil, recur_cpu_features() & avx2 == avx2,
              String(cString: recur_blas_core()) != "Haswell" else { return }
        setenv("OPENBLAS_CORETYPE", "Haswell", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // exec failed (no /proc): go on with OpenBLAS's own choice.
        #endif
    }
}
