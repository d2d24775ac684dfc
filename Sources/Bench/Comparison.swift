import Foundation

/// Run B against run A, configuration by configuration.
///
/// Speed rule: with B's spread `s = max_B - min_B` of ms per ACT step, B is a regression when
/// `median_B > max_A + s`, an improvement when `median_B < min_A - s`, otherwise within noise.
/// A's whole measured range, widened by B's own noise, is what B must leave to count.
///
/// Drift rule: drift figures of one file on one puzzle set are deterministic, so B is a regression
/// when its exact or valid rate or token accuracy is lower, or its mean KL more than 1% higher.
public struct ComparisonRow: Sendable, Equatable {
    public enum Verdict: String, Sendable { case regression, improvement, same }
    public var configuration: String
    public var figure: String
    public var a: Double
    public var b: Double
    public var verdict: Verdict

    /// (b - a) / a.
    public var relativeChange: Double { a == 0 ? 0 : (b - a) / a }
}

public enum Comparison {
    public static let rule = "speed: regression if median_B > max_A + (max_B - min_B), improvement if median_B < min_A - (max_B - min_B); drift: regression if exact/valid/token accuracy drops or mean KL rises > 1%"

    public static func compare(_ a: BenchRun, _ b: BenchRun) -> [ComparisonRow] {
        var byKey: [String: BenchMeasurement] = [:]
        for m in a.measurements { byKey[m.configurationKey] = m }
        var rows: [ComparisonRow] = []
        for mb in b.measurements {
            guard let ma = byKey[mb.configurationKey] else { continue }
            let name = describe(mb)
            if let medB = mb.figures["ms_per_step_median"], let minA = ma.figures["ms_per_step_min"], let maxA = ma.figures["ms_per_step_max"],
               let medA = ma.figures["ms_per_step_median"] {
                let spread = (mb.figures["ms_per_step_max"] ?? medB) - (mb.figures["ms_per_step_min"] ?? medB)
                let verdict: ComparisonRow.Verdict = medB > maxA + spread ? .regression : medB < minA - spread ? .improvement : .same
                rows.append(ComparisonRow(configuration: name, figure: "ms_per_step_median", a: medA, b: medB, verdict: verdict))
            }
            for (figure, higherIsBetter) in [("exact_rate", true), ("valid_rate", true), ("token_accuracy", true), ("kl_mean", false)] {
                guard let va = ma.figures[figure], let vb = mb.figures[figure] else { continue }
                let verdict: ComparisonRow.Verdict
                if higherIsBetter {
                    verdict = vb < va ? .regression : vb > va ? .improvement : .same
                } else {
                    verdict = vb > va * 1.01 ? .regression : vb < va / 1.01 ? .improvement : .same
                }
                rows.append(ComparisonRow(configuration: name, figure: figure, a: va, b: vb, verdict: verdict))
            }
        }
        return rows
    }

    static func describe(_ m: BenchMeasurement) -> String {
        m.halt.isEmpty ? "\(m.engine) \(m.modelType) t\(m.threads) b\(m.batch)" : "\(m.engine) \(m.modelType) t\(m.threads) b\(m.batch) \(m.halt)"
    }
}
