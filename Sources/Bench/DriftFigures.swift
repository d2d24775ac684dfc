extension SolveStats {
    /// Solve figures under the history's names, optionally prefixed (`reference_`).
    public func figures(prefix: String = "") -> [String: Double] {
        ["\(prefix)valid_rate": validRate, "\(prefix)exact_rate": exactRate, "\(prefix)token_accuracy": tokenAccuracy,
         "\(prefix)mean_steps": meanSteps]
    }
}

extension DriftReport {
    /// Every figure of the report under the history's names (`kl_p99.9`, `same_top1`, ...).
    public var figures: [String: Double] {
        var f = candidate.figures()
        f.merge(reference.figures(prefix: "reference_")) { a, _ in a }
        f["kl_mean"] = klMean
        f["kl_max"] = klMax
        for (name, value) in klPercentiles { f["kl_\(name)"] = value }
        f["same_top1"] = sameTop1
        f["halting_changed"] = Double(haltingChanged)
        f["compared_cells"] = Double(comparedCells)
        f["valid_gained"] = Double(validGained)
        f["valid_lost"] = Double(validLost)
        f["valid_change_p"] = validChangeP
        return f
    }
}
