import Foundation
import Runtime

/// The same weights in PyTorch eager FP32, timed in the same invocation by
/// tools/reference/time_steps.py: a speed figure means little without a same-run yardstick.
/// The same script also runs the peers of `recur bench --peers` (PyTorch eager BF16 and
/// ONNX Runtime with dynamic INT8 quantization).
public enum PyTorchBaseline {
    /// What runs the step in time_steps.py (`--engine`).
    public enum Engine: String, CaseIterable, Sendable {
        case torchFP32 = "torch-fp32", torchBF16 = "torch-bf16", ortInt8 = "ort-int8"

        /// The engine name stored in the history.
        public var historyName: String {
            switch self {
            case .torchFP32: return "pytorch"
            case .torchBF16: return "pytorch-bf16"
            case .ortInt8: return "onnxruntime-int8"
            }
        }

        /// The weight type stored in the history.
        public var modelType: String {
            switch self {
            case .torchFP32: return "F32"
            case .torchBF16: return "BF16"
            case .ortInt8: return "INT8"
            }
        }

        public var label: String {
            switch self {
            case .torchFP32: return "PyTorch eager F32"
            case .torchBF16: return "PyTorch eager BF16"
            case .ortInt8: return "ONNX Runtime INT8"
            }
        }

        /// The Python modules the engine needs.
        var modules: [String] { self == .ortInt8 ? ["torch", "gguf", "yaml", "onnxruntime", "onnx"] : ["torch", "gguf", "yaml"] }
    }

    /// One engine's figures: per batch size, ms per ACT step, and any extra figures (drift, export check).
    public struct Result: Sendable {
        public var steps: [Int: Spread] = [:]
        public var figures: [Int: [String: Double]] = [:]
        /// The largest |logit| difference of the ONNX float32 export against PyTorch (ort-int8).
        public var exportCheck: Double?
    }

    /// True when `python3` can import what the reference needs.
    public static func isAvailable() -> Bool { missing(.torchFP32) == nil }

    /// Nil when `python3` can import what `engine` needs, otherwise why not (the import error).
    public static func missing(_ engine: Engine) -> String? {
        let code = engine.modules.map { "import \($0)" }.joined(separator: "; ")
        guard let r = try? runPython(["-c", code]) else { return "python3 not found" }
        if r.status == 0 { return nil }
        let last = r.stderr.split(separator: "\n").last.map(String.init) ?? "exit \(r.status)"
        return last.trimmingCharacters(in: .whitespaces)
    }

    /// Milliseconds per ACT step (fixed batch, no halting) for each batch size.
    public static func measure(script: String, model: String, puzzles: String, batches: [Int], threads: Int,
                               steps: Int, warmup: Int, stop: StopFlag? = nil) throws -> [Int: Spread] {
        try measure(engine: .torchFP32, script: script, model: model, puzzles: puzzles, batches: batches, threads: threads,
                    steps: steps, warmup: warmup, stop: stop).steps
    }

    /// One engine's ms per ACT step for each batch size, with its drift against float32 where it has one.
    public static func measure(engine: Engine, script: String, model: String, puzzles: String, batches: [Int], threads: Int,
                               steps: Int, warmup: Int, stop: StopFlag? = nil) throws -> Result {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("recur-baseline-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: json) }
        let r = try runPython([script, "--engine", engine.rawValue, "--gguf", model, "--data", puzzles,
                               "--batch", batches.map(String.init).joined(separator: ","),
                               "--threads", String(threads), "--steps", String(max(steps, 1)), "--warmup", String(max(warmup, 0)),
                               "--json", json.path], stop: stop)
        guard r.status == 0, let data = FileManager.default.contents(atPath: json.path) else {
            throw HistoryError("\(script): the \(engine.label) baseline failed (exit \(r.status)): \(r.stderr.suffix(600))")
        }
        struct Doc: Decodable {
            struct Drift: Decodable { var steps: Int; var argmax_agreement: Double; var max_abs_logit_diff: Double }
            struct Row: Decodable { var batch: Int; var times_ms: [Double]; var drift: Drift? }
            struct Check: Decodable { var max_abs_diff: [String: Double] }
            var results: [Row]
            var onnx_fp32_check: Check?
        }
        let doc: Doc
        do { doc = try JSONDecoder().decode(Doc.self, from: data) } catch {
            throw HistoryError("\(script): unexpected JSON from the \(engine.label) baseline: \(error)")
        }
        var out = Result()
        out.exportCheck = doc.onnx_fp32_check?.max_abs_diff["logits"]
        for row in doc.results {
            out.steps[row.batch] = Spread(row.times_ms)
            var f: [String: Double] = [:]
            if let d = row.drift {
                f["drift_steps"] = Double(d.steps)
                f["argmax_agreement"] = d.argmax_agreement
                f["max_abs_logit_diff"] = d.max_abs_logit_diff
            }
            if let c = out.exportCheck { f["onnx_fp32_max_abs_logit_diff"] = c }
            out.figures[row.batch] = f
        }
        return out
    }

    /// Runs python3; when `stop` is set while it runs, the child is terminated at once (it
    /// inherits the ignored SIGINT, so Ctrl-C alone would not stop it).
    static func runPython(_ args: [String], stop: StopFlag? = nil) throws -> Subprocess.Result {
        let child = try Subprocess("/usr/bin/env", ["python3"] + args)
        let pid = child.pid
        let token = stop?.onSet { kill(pid, SIGTERM) }
        defer { if let token { stop?.remove(token) } }
        return child.wait()
    }
}
