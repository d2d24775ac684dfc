import Foundation
import Runtime

/// The same weights in PyTorch eager FP32, timed in the same invocation by
/// tools/reference/time_steps.py: a speed figure means little without a same-run yardstick.
public enum PyTorchBaseline {
    /// True when `python3` can import what the reference needs.
    public static func isAvailable() -> Bool {
        (try? runPython(["-c", "import torch, gguf, yaml"]).status) == 0
    }

    /// Milliseconds per ACT step (fixed batch, no halting) for each batch size.
    public static func measure(script: String, model: String, puzzles: String, batches: [Int], threads: Int,
                               steps: Int, warmup: Int, stop: StopFlag? = nil) throws -> [Int: Spread] {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("recur-baseline-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: json) }
        let r = try runPython([script, "--gguf", model, "--data", puzzles, "--batch", batches.map(String.init).joined(separator: ","),
                               "--threads", String(threads), "--steps", String(max(steps, 1)), "--warmup", String(max(warmup, 0)),
                               "--json", json.path], stop: stop)
        guard r.status == 0, let data = FileManager.default.contents(atPath: json.path) else {
            throw HistoryError("\(script): the PyTorch baseline failed (exit \(r.status)): \(r.stderr.suffix(600))")
        }
        struct Doc: Decodable { struct Row: Decodable { var batch: Int; var times_ms: [Double] }; var results: [Row] }
        let doc: Doc
        do { doc = try JSONDecoder().decode(Doc.self, from: data) } catch {
            throw HistoryError("\(script): unexpected JSON from the PyTorch baseline: \(error)")
        }
        var out: [Int: Spread] = [:]
        for row in doc.results { out[row.batch] = Spread(row.times_ms) }
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
