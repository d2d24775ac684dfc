import Bench
import Foundation
import Runtime
import TestSupport
import XCTest

/// `recur bench ...` run as a user runs it, on a tiny random model so each call takes seconds.
final class BenchCLITests: XCTestCase {
    var dir: URL!
    var model: String { dir.appendingPathComponent("tiny-f16.gguf").path }
    var puzzles: String { dir.appendingPathComponent("puzzles.txt").path }
    var history: String { dir.appendingPathComponent("history.sqlite").path }

    override func setUpWithError() throws {
        dir = try BenchTestSupport.temporaryDirectory()
        try BenchTestSupport.tinyModel(at: URL(fileURLWithPath: model))
        try BenchTestSupport.puzzles(at: URL(fileURLWithPath: puzzles))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    static var binary: URL { Repo.recurExecutable }

    func launch(_ args: [String]) throws -> Subprocess {
        try Subprocess(Self.binary.path, args, directory: BenchTestSupport.repoRoot)
    }

    func recur(_ args: [String]) throws -> Subprocess.Result { try launch(args).wait() }

    func testThroughputDriftHistoryCompareReport() throws {
        let json = dir.appendingPathComponent("run.json").path
        let r = try recur(["bench", "--model", model, "--types", "f16,q8_0", "--threads", "1", "--batch", "1,2", "--repetitions", "2",
                           "--no-baseline", "--input", puzzles, "--history", history, "--json", json])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("ms/step median"), r.stdout)
        XCTAssertEqual(r.stdout.split(separator: "\n").filter { $0.hasPrefix("Q8_0") }.count, 4, r.stdout)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let run = try decoder.decode(BenchRun.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        XCTAssertEqual(run.measurements.count, 8)
        XCTAssertFalse(run.interrupted)
        let f16 = try XCTUnwrap(run.measurements.first { $0.modelType == "F16" })
        let expected = try Reference.python(["-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", model])
        XCTAssertEqual(f16.modelSHA256, expected.trimmingCharacters(in: .whitespacesAndNewlines))
        for m in run.measurements {
            let f = m.figures
            XCTAssertEqual(m.puzzles, max(3, m.batch).roundedUp(m.batch))
            XCTAssertLessThanOrEqual(f["ms_per_step_min"]!, f["ms_per_step_median"]!)
            XCTAssertLessThanOrEqual(f["ms_per_step_median"]!, f["ms_per_step_max"]!)
            XCTAssertEqual(f["tokens_per_s_median"]!, 81 * f["puzzles_per_s_median"]!, accuracy: 1e-6 * f["tokens_per_s_median"]!)
            if m.halt == "max" { XCTAssertEqual(f["mean_steps"], 4, "the tiny model's halt_max_steps") }
        }

        let d = try recur(["bench", "drift", "--model", model, "--types", "q8_0,q4_0", "--input", puzzles, "--history", history, "--batch", "2"])
        XCTAssertEqual(d.status, 0, d.stderr)
        for word in ["KL p99.9", "F16 (reference)", "Q8_0", "Q4_0", "same-top1"] { XCTAssertTrue(d.stdout.contains(word), d.stdout) }

        let runs = try HistoryStore(path: history).runs()
        XCTAssertEqual(runs.map(\.kind), ["throughput", "drift"])
        let drift = runs[1].measurements
        XCTAssertEqual(drift.map(\.modelType), ["F16", "Q8_0", "Q4_0"])
        for name in ["kl_mean", "kl_p50", "kl_p90", "kl_p95", "kl_p99", "kl_p99.9", "kl_max", "same_top1", "token_accuracy", "exact_rate",
                     "valid_rate", "halting_changed", "mean_steps"] {
            XCTAssertNotNil(drift[2].figures[name], name)
        }
        XCTAssertGreaterThan(drift[2].figures["kl_mean"]!, drift[1].figures["kl_mean"]!, "Q4_0 drifts more than Q8_0")

        let h = try recur(["bench", "history", "--history", history])
        XCTAssertEqual(h.status, 0, h.stderr)
        XCTAssertTrue(h.stdout.contains("throughput") && h.stdout.contains("drift"), h.stdout)
        let c = try recur(["bench", "compare", "1", "1", "--history", history])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertTrue(c.stdout.contains("0 regression(s) of 8"), c.stdout)
        let out = dir.appendingPathComponent("report").path
        let rep = try recur(["bench", "report", "--history", history, "--output", out])
        XCTAssertEqual(rep.status, 0, rep.stderr)
        for file in ["report.md", "drift-kl.svg", "throughput-b1-max.svg", "throughput-b2-qhead.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(file)"), file)
        }
    }

    func testTwoProcessesShareOneHistory() throws {
        let args = ["bench", "--model", model, "--threads", "1", "--batch", "1", "--repetitions", "1", "--halt", "max", "--no-baseline",
                    "--input", puzzles, "--history", history]
        let a = try launch(args), b = try launch(args)
        let ra = a.wait(), rb = b.wait()
        XCTAssertEqual(ra.status, 0, ra.stderr)
        XCTAssertEqual(rb.status, 0, rb.stderr)
        let runs = try HistoryStore(path: history).runs()
        XCTAssertEqual(runs.count, 2)
        XCTAssertEqual(runs.map(\.measurements.count), [1, 1])
    }

    func testCorruptHistoryIsAnErrorNotDataLoss() throws {
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: history))
        let r = try recur(["bench", "history", "--history", history])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(history) && r.stderr.contains("not a Recur benchmark history"), r.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: history)), Data(repeating: 0x5A, count: 4096))
    }

    func testCtrlCStoresThePartialRun() throws {
        let p = try launch(["bench", "--model", model, "--threads", "1", "--batch", "1", "--repetitions", "100000", "--halt", "max",
                            "--no-baseline", "--input", puzzles, "--history", history])
        // Long enough for the machine probe, the model load and a first repetition on a loaded
        // 2-core machine (3 s was not, with other work running).
        Thread.sleep(forTimeInterval: 10)
        kill(p.pid, SIGINT)
        let r = p.wait()
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertTrue(r.stderr.contains("interrupted"), r.stderr)
        let runs = try HistoryStore(path: history).runs()
        XCTAssertEqual(runs.count, 1)
        XCTAssertTrue(runs[0].interrupted)
        let m = try XCTUnwrap(runs[0].measurements.first)
        XCTAssertGreaterThan(m.repetitions, 0)
        XCTAssertLessThan(m.repetitions, 100000)
    }

    /// Ctrl-C during a drift run stops the model that is running within a step, rather than after
    /// the whole puzzle file; with the reference unfinished there is nothing to report or keep.
    /// The shipped model on 320 puzzles takes many seconds, so the reference is mid-run at Ctrl-C.
    func testCtrlCStopsDriftPartWay() throws {
        let shipped = Repo.root.appendingPathComponent("models/trm-sudoku-att-q8_0.gguf").path
        let samples = try String(contentsOf: Repo.root.appendingPathComponent("models/sudoku-samples.txt"), encoding: .utf8)
        let many = dir.appendingPathComponent("many.txt")
        try String(repeating: samples, count: 40).write(to: many, atomically: true, encoding: .utf8)
        let p = try launch(["bench", "drift", "--reference", shipped, "--model", shipped, "--threads", "1", "--input", many.path,
                            "--history", history])
        Thread.sleep(forTimeInterval: 2)
        kill(p.pid, SIGINT)
        let r = p.wait()
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertTrue(r.stderr.contains("interrupted"), r.stderr)
        XCTAssertTrue(r.stdout.contains("on 320 puzzles"), r.stdout)
        XCTAssertFalse(r.stdout.contains("(reference)"), "the reference ran to the end after Ctrl-C:\n\(r.stdout)")
        if FileManager.default.fileExists(atPath: history) {
            XCTAssertEqual(try HistoryStore(path: history).runs().count, 0, "an unfinished reference leaves no run")
        }
    }

    func testSameRunPyTorchBaseline() throws {
        try Reference.requirePython(["torch", "gguf", "yaml"])
        let r = try recur(["bench", "--model", model, "--threads", "1", "--batch", "2", "--repetitions", "2", "--halt", "max",
                           "--input", puzzles, "--history", history])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("PyTorch eager F32 (t1b2)"), r.stdout)
        let run = try XCTUnwrap(try HistoryStore(path: history).runs().first)
        let torch = try XCTUnwrap(run.measurements.first { $0.engine == "pytorch" })
        XCTAssertEqual(torch.batch, 2)
        let recurRow = try XCTUnwrap(run.measurements.first { $0.engine == "recur" })
        let ratio = try XCTUnwrap(recurRow.figures["speedup_vs_pytorch"])
        XCTAssertEqual(ratio, torch.figures["ms_per_step_median"]! / recurRow.figures["ms_per_step_median"]!, accuracy: 1e-9 * ratio)
    }

    /// `--peers` times PyTorch BF16 and ONNX Runtime INT8 in the same run and prints Recur against each,
    /// or says which peer was skipped and why; a missing peer never fails the bench.
    func testPeersPrintRatiosOrSaySkipped() throws {
        try Reference.requirePython(["torch", "gguf", "yaml"])
        let r = try recur(["bench", "--model", model, "--threads", "1", "--batch", "1", "--repetitions", "1", "--warmup", "0",
                           "--halt", "max", "--no-baseline", "--peers", "--input", puzzles, "--limit", "1", "--history", history])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("(peer/Recur)"), r.stdout)
        let run = try XCTUnwrap(try HistoryStore(path: history).runs().first)
        let recurRow = try XCTUnwrap(run.measurements.first { $0.engine == "recur" })
        for (label, engine, key) in [("PyTorch eager BF16", "pytorch-bf16", "pytorch_bf16"), ("ONNX Runtime INT8", "onnxruntime-int8", "onnxruntime_int8")] {
            if r.stdout.contains("\(label) peer skipped: ") { continue }
            XCTAssertTrue(r.stdout.contains("\(label) (t1b1): "), r.stdout)
            let peer = try XCTUnwrap(run.measurements.first { $0.engine == engine }, r.stdout)
            XCTAssertNotNil(peer.figures["argmax_agreement"])
            let ratio = try XCTUnwrap(recurRow.figures["speedup_vs_\(key)"])
            XCTAssertEqual(ratio, peer.figures["ms_per_step_median"]! / recurRow.figures["ms_per_step_median"]!, accuracy: 1e-9 * ratio)
        }
        XCTAssertNil(run.measurements.first { $0.engine == "pytorch" }, "--no-baseline still skips the FP32 baseline")
    }

    /// The baseline's GGUF loader runs the same network as the official checkpoint: an F32 export
    /// loaded back into PyTorch gives the checkpoint's own logits and Q-logits.
    func testBaselineLoadsTheSameNetworkAsTheCheckpoint() throws {
        let checkpointDir = try Reference.requireShared("checkpoints/trm-sudoku-att")
        let data = try Reference.requireShared("data/sudoku_eval_2000.txt")
        try Reference.requirePython(["torch", "gguf", "yaml"])
        let gguf = dir.appendingPathComponent("trm-f32.gguf").path
        let export = try recur(["export", checkpointDir.appendingPathComponent("step_10788").path, "-o", gguf, "--type", "f32"])
        XCTAssertEqual(export.status, 0, export.stderr)
        let check = try Reference.runPython(["tools/reference/check_gguf_loader.py", "--gguf", gguf, "--checkpoint", checkpointDir.path,
                                             "--data", data.path, "--puzzles", "2", "--steps", "2", "--tol", "1e-5"])
        XCTAssertEqual(check.status, 0, "largest differences: \(check.stdout) \(check.stderr)")
        XCTAssertTrue(check.stdout.contains("logits"), check.stdout)
    }
}

extension Int {
    func roundedUp(_ m: Int) -> Int { (self + m - 1) / m * m }
}
