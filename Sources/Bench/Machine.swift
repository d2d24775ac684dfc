import CKernels
import Foundation
import Runtime

extension BenchMachine {
    /// This machine: CPU model from /proc/cpuinfo, the kernel tier Recur runs, logical cores;
    /// with `probeThreads`, its INT8 peak and read bandwidths measured at that thread count
    /// (about a second).
    public static func current(probeThreads: Int? = nil) -> BenchMachine {
        var cpu = "unknown"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let isa = String(cString: recur_isa_name(recur_isa_active()))
        return BenchMachine(cpu: cpu, isa: isa, cores: ProcessInfo.processInfo.activeProcessorCount,
                            figures: probeThreads.map { MachinePeak.figures(threads: $0) })
    }
}

public enum GitCommit {
    /// `git rev-parse HEAD` in the working folder, or "unknown" (no git, not a checkout).
    public static func current(in directory: String = FileManager.default.currentDirectoryPath) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "rev-parse", "HEAD"]
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return "unknown" }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return p.terminationStatus == 0 && text.count == 40 ? text : "unknown"
    }
}
