import ArgumentParser
import CKernels
import Foundation
import Runtime

/// `recur bench probe`: what this machine can do at most, the yardstick of the profile's rates.
struct BenchProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Measure this CPU's INT8 multiply-add peak per kernel tier and its L2 and memory read bandwidth.",
        discussion: """
            The INT8 peak runs each tier's own instruction sequence (vpmaddubsw + vpmaddwd for AVX2, \
            vpdpbusd ymm for AVX-VNNI, zmm for AVX-512) in independent chains on registers only, at one \
            thread and at --threads; GOP/s counts 2 per multiply-add, as `--profile` does. Tiers this CPU \
            lacks are listed as skipped. `recur bench`, `bench lm` and `bench rlm` store the active \
            tier's figures with every run.
            """)

    @Option(name: .long, help: "Threads for the all-threads figures.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        guard threads >= 1, threads <= 1024 else { throw CLIError("--threads must be between 1 and 1024") }
        let active = recur_isa_active()
        for isa in [RECUR_ISA_SCALAR, RECUR_ISA_AVX2, RECUR_ISA_AVXVNNI, RECUR_ISA_AVX512, RECUR_ISA_AMX] {
            let name = String(cString: recur_isa_name(isa)).padding(toLength: 8, withPad: " ", startingAt: 0)
            guard recur_isa_supported(isa) == 1 else {
                print("\(name) skipped: not on this CPU")
                continue
            }
            let one = recur_probe_int8_gops(isa, 1, 0.2)
            guard one > 0 else {
                print("\(name) no probe for this tier")
                continue
            }
            let all = recur_probe_int8_gops(isa, Int32(threads), 0.2)
            print("\(name) INT8 peak " + String(format: "%8.1f GOP/s at 1 thread, %8.1f at %d threads", one, all, threads)
                  + (isa == active ? "  (the tier in use)" : ""))
        }
        let l2 = MachinePeak.readGBs(cache: true, threads: threads, seconds: 0.2)
        let dram = MachinePeak.readGBs(cache: false, threads: threads, seconds: 0.5)
        print(String(format: "read bandwidth at %d threads: %.1f GB/s from L2 (256 KiB per thread), %.1f GB/s from memory (256 MiB)", threads, l2, dram))
    }
}
