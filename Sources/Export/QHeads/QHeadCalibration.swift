import Foundation
import Runtime

/// Q-head input states for calibrating binary and spiking heads: the float model run for a fixed
/// number of ACT steps on a few puzzles, every step's `z_H[:, 0]` kept.
public enum QHeadCalibration {
    /// Rows of `hidden` floats, puzzle-major then step.
    public static func record(model: RecursiveModel, inputs: [ModelInput], steps: Int, batch: Int = 8, threads: Int = 1) throws -> [Float] {
        let runner = try ACTRunner(model: model, batchSize: max(1, min(batch, inputs.count)), policy: .maxSteps, maxSteps: steps,
                                   threads: threads, qhead: .official)
        runner.recordHeadInputs = true
        var byIndex: [Int: [[Float]]] = [:]
        try runner.run(inputs) { byIndex[$0.index] = $0.headInputs }
        return (0..<inputs.count).flatMap { (byIndex[$0] ?? []).flatMap { $0 } }
    }

    /// States from a safetensors file with a `states` tensor `[N, T, hidden]` or `[M, hidden]`
    /// (what tools/reference/record_qhead_states.py writes); at most `limit` rows of the first axis.
    /// `steps`: consecutive states per puzzle (T, or 1 for unordered rows).
    public static func load(path: String, hidden: Int, limit: Int? = nil) throws -> (values: [Float], steps: Int) {
        let dict = try StateDict.load(path)
        guard let t = dict["states"] else { throw QHeadExportError.badCalibration("\(path): no 'states' tensor") }
        guard t.shape.last == hidden, t.shape.count == 2 || t.shape.count == 3 else {
            throw QHeadExportError.badCalibration("\(path): 'states' has shape \(t.shape), expected [N, T, \(hidden)] or [M, \(hidden)]")
        }
        let values = try t.floats()
        let steps = t.shape.count == 3 ? t.shape[1] : 1
        guard let limit, limit < t.shape[0] else { return (values, steps) }
        let per = t.shape.dropFirst().reduce(1, *)
        return (Array(values[0..<limit * per]), steps)
    }
}
