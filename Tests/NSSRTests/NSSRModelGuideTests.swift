import Foundation
import NSSR
import Runtime
import TestSupport
import XCTest

/// The search guided by the shipped NSSR model (models/nssr-f32.gguf) on the noise-column
/// experiment (models/nssr/experiment, docs/nssr.md), against the PyTorch reference search
/// (tools/reference/nssr.py experiment) on the same model, data and primitives registry: the
/// same discoveries, task by task, each registered before the next.
final class NSSRModelGuideTests: XCTestCase {
    func testTheExperimentFindsWhatTheReferenceFinds() throws {
        try Reference.requireTorch()
        try Reference.requireGGUF()
        let model = Repo.root.appendingPathComponent("models/nssr-f32.gguf").path
        let registry = Repo.root.appendingPathComponent("models/nssr/registry.sqlite").path
        let data = Repo.root.appendingPathComponent("models/nssr/experiment").path
        let out = try Reference.python(["tools/reference/nssr.py", "experiment", "--gguf", model, "--registry", registry, "--data", data])
        var reference: [String: [String: Any]] = [:]
        for line in out.split(separator: "\n") {
            if let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let task = row["task"] as? String { reference[task] = row }
        }
        XCTAssertEqual(Set(reference.keys), Set(NoiseColumnExperiment.tasks))

        let dir = try Repo.temporaryDirectory("recur-nssr-experiment")
        let copy = dir.appendingPathComponent("registry.sqlite").path
        try FileManager.default.copyItem(atPath: registry, toPath: copy)
        let outcomes = try NoiseColumnExperiment.run(registry: Registry(path: copy, writable: true), data: data, guide: loadSearchGuide(path: model))
        for o in outcomes {
            let ref = try XCTUnwrap(reference[o.task])
            let a = try XCTUnwrap(o.report.answer, "\(o.task): Recur found nothing")
            XCTAssertEqual(a.taskExpression, ref["task_expression"] as? String, o.task)
            XCTAssertEqual(a.expression, ref["expression"] as? String, o.task)
            let composition = try JSONSerialization.jsonObject(with: Data(a.compositionJSON.utf8)) as? NSArray
            XCTAssertEqual(composition, ref["composition"] as? NSArray, o.task)
            XCTAssertEqual(a.constant, ref["constant"] as? Double, o.task)
            XCTAssertEqual(a.supervisionStep, ref["step"] as? Int, o.task)
            XCTAssertEqual(o.registered?.name, o.task)
            print("nssr experiment \(o.task): \(a.taskExpression) (\(a.group.rawValue), step \(a.supervisionStep ?? -1)); "
                  + String(format: "Recur %.4f s, reference %.3f s", o.report.seconds, ref["seconds"] as? Double ?? .nan))
        }
        // TOTAL_E composes the learned KE and PE.
        let table = try Registry(path: copy).table
        let total = try XCTUnwrap(table.function(named: "TOTAL_E"))
        XCTAssertEqual(Set(total.composition?.map(\.function) ?? []), Set([4, try XCTUnwrap(table.function(named: "KE")).id, try XCTUnwrap(table.function(named: "PE")).id]))
    }
}
