import Foundation

/// `recur bench report`: the latest throughput and drift runs of a history as Markdown with SVG
/// plots (throughput against threads per type; mean KL per type).
public enum BenchReport {
    /// Writes `report.md` and the SVG files into `directory`; returns the paths written.
    @discardableResult
    public static func write(runs: [BenchRun], to directory: String) throws -> [String] {
        let dir = URL(fileURLWithPath: directory)
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw HistoryError("\(directory): cannot create the report folder: \(error.localizedDescription)")
        }
        var written: [String] = []
        func save(_ text: String, _ name: String) throws {
            let url = dir.appendingPathComponent(name)
            do { try Data(text.utf8).write(to: url, options: .atomic) } catch {
                throw HistoryError("\(url.path): cannot write: \(error.localizedDescription)")
            }
            written.append(url.path)
        }
        var md = "# Recur benchmark report\n\n"
        guard !runs.isEmpty else {
            md += "The history holds no runs yet: run `recur bench` first.\n"
            try save(md, "report.md")
            return written
        }
        if let run = runs.last(where: { $0.kind == "throughput" && !$0.measurements.isEmpty }) {
            md += section(run, title: "Throughput")
            md += "| engine | type | threads | batch | halt | ms/step median | min | max | puzzles/s | tokens/s | mean steps | vs PyTorch |\n"
            md += "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
            for m in run.measurements {
                let f = m.figures
                md += "| \(m.engine) | \(m.modelType) | \(m.threads) | \(m.batch) | \(m.halt) | \(n(f["ms_per_step_median"])) | \(n(f["ms_per_step_min"])) | \(n(f["ms_per_step_max"])) | \(n(f["puzzles_per_s_median"])) | \(n(f["tokens_per_s_median"])) | \(n(f["mean_steps"])) | \(f["speedup_vs_pytorch"].map { String(format: "%.2fx", $0) } ?? "") |\n"
            }
            md += "\n"
            let recur = run.measurements.filter { $0.engine == "recur" }
            let groups = Set(recur.map { "\($0.batch)|\($0.halt)" }).sorted()
            for g in groups {
                let parts = g.split(separator: "|"), batch = String(parts[0]), halt = parts.count > 1 ? String(parts[1]) : ""
                let rows = recur.filter { "\($0.batch)|\($0.halt)" == g }
                let types = unique(rows.map(\.modelType))
                let series = types.map { type in
                    SVGChart.Series(name: type, points: rows.filter { $0.modelType == type }.compactMap { m in
                        guard let y = m.figures["puzzles_per_s_median"] else { return nil }
                        return (Double(m.threads), y, m.figures["puzzles_per_s_min"] ?? y, m.figures["puzzles_per_s_max"] ?? y)
                    })
                }
                let name = "throughput-b\(batch)-\(halt).svg"
                try save(SVGChart.lines(title: "Puzzles/s, batch \(batch), halting \(halt)", xLabel: "threads",
                                        yLabel: "puzzles per second (median, min-max)", series: series), name)
                md += "![throughput, batch \(batch), \(halt)](\(name))\n\n"
            }
        }
        if let run = runs.last(where: { $0.kind == "drift" && !$0.measurements.isEmpty }) {
            md += section(run, title: "Drift")
            md += "| type | valid | exact | token acc. | mean steps | KL mean | KL p50 | KL p90 | KL p95 | KL p99 | KL p99.9 | KL max | same top-1 | halting changed |\n"
            md += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
            for m in run.measurements {
                let f = m.figures
                md += "| \(m.modelType) | \(pct(f["valid_rate"])) | \(pct(f["exact_rate"])) | \(pct(f["token_accuracy"])) | \(n(f["mean_steps"])) | \(e(f["kl_mean"])) | \(e(f["kl_p50"])) | \(e(f["kl_p90"])) | \(e(f["kl_p95"])) | \(e(f["kl_p99"])) | \(e(f["kl_p99.9"])) | \(e(f["kl_max"])) | \(pct(f["same_top1"])) | \(f["halting_changed"].map { String(Int($0)) } ?? "") |\n"
            }
            md += "\n"
            let bars = run.measurements.compactMap { m in m.figures["kl_mean"].map { (name: m.modelType, value: $0) } }
            if !bars.isEmpty {
                try save(SVGChart.logBars(title: "Mean KL divergence against the reference", yLabel: "KL mean (nats, log scale)", bars: bars), "drift-kl.svg")
                md += "![mean KL per type](drift-kl.svg)\n\n"
            }
        }
        try save(md, "report.md")
        return written
    }

    static func section(_ run: BenchRun, title: String) -> String {
        let date = HistoryStore.dateFormat.string(from: run.startedAt)
        return "## \(title)\n\nRun \(run.id.map(String.init) ?? "?") (\(date)\(run.interrupted ? ", interrupted" : "")): \(run.machine.cpu), \(run.machine.isa) kernels, \(run.machine.cores) cores, commit \(run.gitCommit.prefix(12)).\n\n"
    }

    static func unique(_ xs: [String]) -> [String] {
        var seen: Set<String> = []
        return xs.filter { seen.insert($0).inserted }
    }

    static func n(_ v: Double?) -> String { v.map { String(format: $0 >= 100 ? "%.0f" : "%.2f", $0) } ?? "" }
    static func e(_ v: Double?) -> String { v.map { String(format: "%.3g", $0) } ?? "" }
    static func pct(_ v: Double?) -> String { v.map { String(format: "%.2f%%", 100 * $0) } ?? "" }
}
