import Foundation

/// Resident memory of this process, from the kernel's accounting (`/proc/self/status`).
///
/// Benchmarks report it per weight type: what a user's machine must hold, including mapped model
/// pages the loader touched, the repacked weights, the state buffers and the runtime's own code.
public enum ProcessMemory {
    /// Resident set size now, in bytes (`VmRSS`), or nil where /proc is not available.
    public static func residentBytes() -> Int? { field("VmRSS:") }

    /// The largest resident set size so far (`VmHWM`): model loading included.
    public static func peakResidentBytes() -> Int? { field("VmHWM:") }

    private static func field(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            // "VmRSS:	   12345 kB"
            let parts = line.dropFirst(key.count).split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let kib = parts.first.flatMap({ Int($0) }) { return kib * 1024 }
        }
        return nil
    }
}
