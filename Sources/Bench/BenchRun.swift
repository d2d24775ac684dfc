import Foundation

/// The machine a run was measured on: figures from different machines are not comparable.
public struct BenchMachine: Sendable, Codable, Equatable {
    /// CPU model string (`model name` in /proc/cpuinfo).
    public var cpu: String
    /// Kernel tier Recur chose (`scalar`, `avx2`, `avxvnni`, `avx512`, `amx`).
    public var isa: String
    public var cores: Int
    /// What the machine can do at most, measured at the start of the run (`MachinePeak.figures`:
    /// `int8_peak_gops_1t`, `int8_peak_gops`, `threads`, `l2_read_gbs`, `dram_read_gbs`); nil for
    /// runs that do not probe (drift) and runs stored before the probe existed.
    public var figures: [String: Double]?

    public init(cpu: String, isa: String, cores: Int, figures: [String: Double]? = nil) {
        self.cpu = cpu
        self.isa = isa
        self.cores = cores
        self.figures = figures
    }

    /// One line for a report, e.g. "avx2 INT8 peak 98.1 GOP/s (1 thread), 190.4 (2 threads);
    /// read 120.5 GB/s from L2, 20.3 GB/s from memory".
    public var probeSummary: String? {
        guard let f = figures, !f.isEmpty else { return nil }
        var parts: [String] = []
        if let one = f["int8_peak_gops_1t"] {
            var peak = String(format: "\(isa) INT8 peak %.1f GOP/s (1 thread)", one)
            if let all = f["int8_peak_gops"], let t = f["threads"], t > 1 { peak += String(format: ", %.1f (%.0f threads)", all, t) }
            parts.append(peak)
        }
        if let l2 = f["l2_read_gbs"], let dram = f["dram_read_gbs"] { parts.append(String(format: "read %.1f GB/s from L2, %.1f GB/s from memory", l2, dram)) }
        return parts.joined(separator: "; ")
    }
}

/// One configuration measured in a run, with every figure by name.
///
/// Figure names: throughput rows use `ms_per_step_{median,min,max,q1,q3}`,
/// `puzzles_per_s_{median,min,max}`, `tokens_per_s_{median,min,max}`, `mean_steps` and, where a
/// same-run PyTorch baseline ran, `pytorch_ms_per_step_median` and `speedup_vs_pytorch`; drift
/// rows use `kl_mean`, `kl_p50` ... `kl_p99.9`, `kl_max`, `same_top1`, `token_accuracy`,
/// `exact_rate`, `valid_rate`, `halting_changed`, `mean_steps` (and the reference's figures as
/// `reference_*`).
public struct BenchMeasurement: Sendable, Codable, Equatable {
    /// `recur` or `pytorch`.
    public var engine: String
    public var modelPath: String
    public var modelSHA256: String
    /// Dominant weight type, e.g. `F16`, `Q8_0`.
    public var modelType: String
    public var threads: Int
    public var batch: Int
    /// `qhead` or `max`.
    public var halt: String
    public var puzzles: Int
    public var repetitions: Int
    public var figures: [String: Double]

    public init(engine: String, modelPath: String, modelSHA256: String, modelType: String, threads: Int, batch: Int,
                halt: String, puzzles: Int, repetitions: Int, figures: [String: Double]) {
        self.engine = engine
        self.modelPath = modelPath
        self.modelSHA256 = modelSHA256
        self.modelType = modelType
        self.threads = threads
        self.batch = batch
        self.halt = halt
        self.puzzles = puzzles
        self.repetitions = repetitions
        self.figures = figures
    }

    /// What makes two measurements comparable across runs: the same weights, type, engine and
    /// settings. The file path is left out, since the same file may be measured from anywhere.
    public var configurationKey: String {
        "\(engine)|\(modelType)|\(modelSHA256)|t\(threads)|b\(batch)|\(halt)"
    }
}

/// One invocation of `recur bench` (or `recur bench drift`), as stored in the history.
public struct BenchRun: Sendable, Codable, Equatable {
    /// Row id in the history; nil until stored.
    public var id: Int64?
    /// `throughput` or `drift`.
    public var kind: String
    public var startedAt: Date
    public var machine: BenchMachine
    public var gitCommit: String
    public var command: String
    /// True when Ctrl-C stopped the run: the measurements are what finished before it.
    public var interrupted: Bool
    public var measurements: [BenchMeasurement]

    public init(id: Int64? = nil, kind: String, startedAt: Date, machine: BenchMachine, gitCommit: String, command: String,
                interrupted: Bool = false, measurements: [BenchMeasurement] = []) {
        self.id = id
        self.kind = kind
        self.startedAt = startedAt
        self.machine = machine
        self.gitCommit = gitCommit
        self.command = command
        self.interrupted = interrupted
        self.measurements = measurements
    }
}
