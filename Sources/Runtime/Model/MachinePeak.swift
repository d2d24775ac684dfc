import CKernels
import Foundation

/// This machine's limits, measured once per process (recur_probe_*): the active tier's INT8
/// multiply-add peak, and the read bandwidth of L2 and of memory.
public enum MachinePeak {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var int8: [Int: Double] = [:]

    /// GOP/s (2 per multiply-add) of the active kernel tier's INT8 instruction sequence on
    /// `threads` threads at once; nil where the tier has no probe (AMX) or the probe failed.
    public static func int8GOPS(threads: Int) -> Double? {
        lock.lock()
        defer { lock.unlock() }
        if let known = int8[threads] { return known > 0 ? known : nil }
        let gops = recur_probe_int8_gops(recur_isa_active(), Int32(threads), 0.1)
        int8[threads] = gops
        return gops > 0 ? gops : nil
    }

    /// The figures a benchmark run stores with its machine: the INT8 peak at one thread and at
    /// `threads`, and the streaming read bandwidth from a per-thread buffer in L2 (256 KiB) and
    /// from memory (256 MiB across the threads), GB/s.
    public static func figures(threads: Int) -> [String: Double] {
        var out: [String: Double] = [:]
        if let one = int8GOPS(threads: 1) { out["int8_peak_gops_1t"] = one }
        if let all = int8GOPS(threads: threads) { out["int8_peak_gops"] = all }
        out["threads"] = Double(threads)
        let l2 = readGBs(cache: true, threads: threads, seconds: 0.1)
        if l2 > 0 { out["l2_read_gbs"] = l2 }
        let dram = readGBs(cache: false, threads: threads, seconds: 0.3)
        if dram > 0 { out["dram_read_gbs"] = dram }
        return out
    }

    /// Streaming read bandwidth, GB/s: from a 256 KiB buffer per thread (L2) or from 256 MiB
    /// split across the threads (memory); -1 when the buffers cannot be allocated.
    public static func readGBs(cache: Bool, threads: Int, seconds: Double) -> Double {
        recur_probe_read_gbs(cache ? 256 << 10 : Int64((256 << 20) / max(threads, 1)), Int32(threads), seconds)
    }
}
