import Foundation
import NSSR
import TestSupport
import XCTest

/// The search of docs/nssr.md with fake guides: the noise-column tasks, constants, loops,
/// reuse of registered functions, and a guide that does not fit the registry.
final class SearchTests: XCTestCase {
    /// Runs the search and checks the answer reproduces the task (constant applied) on every row.
    func search(_ task: TaskTable, _ table: FunctionTable, _ guide: SearchGuide?, file: StaticString = #filePath, line: UInt = #line) throws -> SearchAnswer {
        let report = try NSSRSearch(table: table, task: task).run(guide: guide)
        let answer = try XCTUnwrap(report.answer, "no answer after \(report.stepsRun) steps, \(report.candidatesValidated) candidates", file: file, line: line)
        XCTAssertTrue(answer.exact, "\(answer.taskExpression) does not match every row", file: file, line: line)
        XCTAssertGreaterThan(answer.r2, 0.999_999, file: file, line: line)
        // The simplified function on the columns it reads gives the outputs.
        let probe = RegisteredFunction(id: table.count + 1, name: "PROBE", arity: answer.arity, layer: 1, composition: answer.steps,
                                       constant: answer.constant, constMode: answer.constMode ?? .multiplicative, createdAt: "")
        let t = try FunctionTable(table.functions + [probe])
        let p = try t.evaluate(probe.id, rows: task.rows.map { row in answer.columns.map { row[$0] } })
        for (i, (a, b)) in zip(p, task.outputs).enumerated() {
            XCTAssertTrue(nssrMatches(a, b), "row \(i): \(answer.expression) gives \(a), not \(b)", file: file, line: line)
        }
        XCTAssertGreaterThan(report.candidatesValidated, 0, file: file, line: line)
        return answer
    }

    func testSquareWithJunkColumns() throws {
        let guide = FixedGuide(primary: ["MUL": 5])
        let a = try search(try Tasks.square(), .primitives, guide)
        XCTAssertEqual(a.expression, "MUL(a, a)")
        XCTAssertEqual(a.taskExpression, "MUL(a, a)")
        XCTAssertEqual(a.columns, [0])
        XCTAssertEqual(a.compositionJSON, "[[6, [0, 0]]]")
        XCTAssertNil(a.constant)
        XCTAssertEqual(a.group, .depth1)
        XCTAssertEqual(a.supervisionStep, 0)
        XCTAssertEqual(guide.starts.value, 1)
    }

    func testSquareWithAUniformGuide() throws {
        // Every function's logit equal: the top 8 are ids 1...8, MUL among them.
        let a = try search(try Tasks.square(), .primitives, uniformGuide())
        XCTAssertEqual(a.expression, "MUL(a, a)")
    }

    func testForceWithInterleavedJunk() throws {
        let a = try search(try Tasks.force(), .primitives, FixedGuide(primary: ["MUL": 5]))
        XCTAssertEqual(a.expression, "MUL(a, b)")
        XCTAssertEqual(a.taskExpression, "MUL(a, c)")
        XCTAssertEqual(a.columns, [0, 2])
        XCTAssertEqual(a.compositionJSON, "[[6, [0, 1]]]")
    }

    func testKineticEnergyNeedsAConstant() throws {
        let guide = FixedGuide(primary: ["MUL": 5], secondary: ["MUL": 5], composition: [0, 0, 5, 0])
        let a = try search(try Tasks.kineticEnergy(), .primitives, guide)
        XCTAssertEqual(a.group, .nested)
        XCTAssertEqual(a.columns, [0, 2], "m and v, not the correlated column")
        XCTAssertEqual(a.constMode, .multiplicative)
        XCTAssertEqual(a.constant, 0.5)
        XCTAssertEqual(a.steps.map(\.function), [6, 6])
        XCTAssertEqual(a.taskExpression, "MUL(MUL(MUL(c, c), a), 0.5)", "as docs/nssr.md gives it")
        XCTAssertEqual(a.expression, "MUL(MUL(MUL(b, b), a), 0.5)")
        XCTAssertEqual(a.cost, 2)
    }

    func testPotentialEnergyWithJunkOnBothSides() throws {
        let a = try search(try Tasks.potentialEnergy(), .primitives, FixedGuide(primary: ["MUL": 5]))
        XCTAssertEqual(a.taskExpression, "MUL(MUL(b, c), 9.81)", "the constant is rounded to 10 significant digits")
        XCTAssertEqual(a.columns, [1, 2])
        XCTAssertEqual(a.constant, 9.81)
    }

    /// TOTAL_E = KE + PE: ADD of two registered functions, one from each of the secondary and
    /// tertiary heads (their logits are MUL's, their children's).
    func testParallelAddOfTwoRegisteredFunctions() throws {
        let (registry, _) = try scratchRegistry()
        try registry.register(name: "KE", arity: 2, steps: [CompositionStep(6, [1, 1]), CompositionStep(6, [0, 2])], constant: 0.5)
        try registry.register(name: "PE", arity: 2, steps: [CompositionStep(6, [0, 1])], constant: 9.81)
        let guide = FixedGuide(primary: ["ADD": 5], secondary: ["MUL": 5], tertiary: ["MUL": 5], composition: [0, 0, 0, 5])
        let a = try search(try Tasks.totalEnergy(), registry.table, guide)
        XCTAssertEqual(a.group, .parallel)
        XCTAssertEqual(a.taskExpression, "ADD(KE(a, b), PE(a, d))")
        XCTAssertEqual(a.expression, "ADD(KE(a, b), PE(a, c))")
        XCTAssertEqual(a.compositionJSON, "[[23, [0, 1]], [24, [0, 2]], [4, [3, 4]]]")
        XCTAssertNil(a.constant)
        XCTAssertEqual(registry.table.layer(of: a.steps), 2)
        XCTAssertEqual(a.cost, 4, "ADD + KE's two steps + PE's one")
    }

    /// The whole noise-column experiment in order, each answer registered before the next.
    func testExperimentInOrder() throws {
        let (registry, url) = try scratchRegistry()
        let guides: [(String, TaskTable, FixedGuide)] = [
            ("SQUARE", try Tasks.square(), FixedGuide(primary: ["MUL": 5])),
            ("FORCE", try Tasks.force(), FixedGuide(primary: ["MUL": 5])),
            ("KE", try Tasks.kineticEnergy(), FixedGuide(primary: ["MUL": 5], secondary: ["MUL": 5], composition: [0, 0, 5, 0])),
            ("PE", try Tasks.potentialEnergy(), FixedGuide(primary: ["MUL": 5])),
            ("TOTAL_E", try Tasks.totalEnergy(), FixedGuide(primary: ["ADD": 5], secondary: ["MUL": 5], tertiary: ["MUL": 5], composition: [0, 0, 0, 5])),
        ]
        for (name, task, guide) in guides {
            let a = try search(task, registry.table, guide)
            let f = try registry.register(name: name, arity: a.arity, steps: a.steps, constant: a.constant, constMode: a.constMode ?? .multiplicative)
            XCTAssertEqual(f.arity, a.columns.count)
        }
        let r = try Registry(path: url.path)
        XCTAssertEqual(r.functions.suffix(5).map(\.name), ["SQUARE", "FORCE", "KE", "PE", "TOTAL_E"])
        XCTAssertEqual(r.functions.suffix(5).map(\.layer), [1, 1, 1, 1, 2])
        XCTAssertEqual(r.functions.last!.arity, 3, "TOTAL_E reads m, v and h")
    }

    func testReuseComesFirst() throws {
        let (registry, _) = try scratchRegistry()
        try registry.register(name: "SQUARE", arity: 1, steps: [CompositionStep(6, [0, 0])])
        // x is the second column; a guide pointing elsewhere does not matter.
        let rows = try Tasks.square().rows.map { [$0[1], $0[0], $0[3]] }
        let guide = FixedGuide(primary: ["OR": 9])
        let report = try NSSRSearch(table: registry.table, task: try TaskTable(rows: rows)).run(guide: guide)
        let a = try XCTUnwrap(report.answer)
        XCTAssertEqual(a.group, .reuse)
        XCTAssertEqual(a.taskExpression, "SQUARE(b)")
        XCTAssertEqual(report.stepsRun, 0)
        XCTAssertEqual(report.candidatesValidated, 2, "SQUARE(a), then SQUARE(b)")
        // Without any guide only reuse runs.
        XCTAssertEqual(try NSSRSearch(table: registry.table, task: try TaskTable(rows: rows)).run(guide: nil).answer?.taskExpression, "SQUARE(b)")
        XCTAssertNil(try NSSRSearch(table: .primitives, task: try TaskTable(rows: rows)).run(guide: nil).answer)
    }

    func testLoopBody() throws {
        // y = n * x for small non-negative integers n: LOOP[ADD](a, 0, b)
        let rows = Tasks.rows(20, seed: 9) { r in
            let n = Tasks.int(&r, 0...9), x = Tasks.int(&r, -20...20)
            return [n, x, n * x]
        }
        let guide = FixedGuide(primary: ["LOOP": 20], secondary: ["ADD": 20])
        let a = try search(try TaskTable(rows: rows), .primitives, guide)
        XCTAssertEqual(a.group, .loop)
        XCTAssertEqual(a.expression, "LOOP[ADD](a, 0, b)")
        XCTAssertEqual(a.compositionJSON, "[[19, [0, -1, 1], 4]]")
    }

    func testSequential() throws {
        // y = (x + 1)^2 over (j, x): MUL(INC(b), INC(b))
        let rows = Tasks.rows(seed: 10) { r in
            let x = Tasks.int(&r, -20...20)
            return [Tasks.int(&r, -50...50), x, (x + 1) * (x + 1)]
        }
        let guide = FixedGuide(primary: ["INC": 20], secondary: ["MUL": 20], composition: [0, 5, 0, 0])
        let a = try search(try TaskTable(rows: rows), .primitives, guide)
        XCTAssertEqual(a.group, .sequential)
        XCTAssertEqual(a.taskExpression, "MUL(INC(b), INC(b))")
        XCTAssertEqual(a.compositionJSON, "[[7, [0]], [6, [1, 1]]]")
    }

    func testAdditiveConstant() throws {
        // y = a * b + 37.25
        let rows = Tasks.rows(seed: 11) { r in
            let a = Tasks.int(&r, -20...20), b = Tasks.int(&r, -20...20)
            return [a, b, a * b + 37.25]
        }
        let a = try search(try TaskTable(rows: rows), .primitives, FixedGuide(primary: ["MUL": 20]))
        XCTAssertEqual(a.constMode, .additive)
        XCTAssertEqual(a.constant, 37.25)
        XCTAssertEqual(a.taskExpression, "ADD(MUL(a, b), 37.25)")
    }

    func testNoSolutionRetriesAndStops() throws {
        // y = sin-like noise no composition fits
        let rows = Tasks.rows(12, seed: 12) { r in [Tasks.int(&r, -9...9), Double(Int.random(in: -1000...1000, using: &r)) / 7] }
        let guide = FixedGuide(steps: 3, primary: ["MUL": 5], composition: [1, 1, 1, 1])
        let report = try NSSRSearch(table: .primitives, task: try TaskTable(rows: rows)).run(guide: guide)
        XCTAssertNil(report.answer)
        XCTAssertEqual(report.stepsRun, 9, "3 steps, 2 retries")
        XCTAssertEqual(guide.starts.value, 1, "the model runs each step once; retries reuse its heads")
    }

    func testGuideMismatchIsRefused() throws {
        let (registry, _) = try scratchRegistry()
        let task = try Tasks.square()
        var names = Primitive.allCases.map(\.name)
        XCTAssertThrows(try NSSRSearch(table: registry.table, task: task).run(guide: FixedGuide(functions: names + ["SQUARE"])),
                        mentioning: ["22 functions", "trained for 23", "'SQUARE'"])
        names[5] = "TIMES"
        XCTAssertThrows(try NSSRSearch(table: registry.table, task: task).run(guide: FixedGuide(functions: names)),
                        mentioning: ["id 6", "'MUL'", "'TIMES'"])
        // A model that knows fewer functions than the registry holds is fine.
        XCTAssertNoThrow(try NSSRSearch(table: registry.table, task: task).run(guide: FixedGuide(functions: Array(names.prefix(5)), primary: ["OR": 1])))
    }

    func testTooManyColumnsAreRefused() throws {
        let rows = Tasks.rows(5, seed: 14) { r in (0..<18).map { _ in Tasks.int(&r, -5...5) } }
        XCTAssertThrows(try NSSRSearch(table: .primitives, task: try TaskTable(rows: rows)).run(guide: uniformGuide()),
                        mentioning: ["17 input columns", "at most 16"])
    }

    func testASearchRunsAgain() throws {
        let search = NSSRSearch(table: .primitives, task: try Tasks.square())
        let first = try search.run(guide: FixedGuide(primary: ["MUL": 5]))
        let second = try search.run(guide: FixedGuide(primary: ["MUL": 5]))
        XCTAssertEqual(first.answer?.taskExpression, "MUL(a, a)")
        XCTAssertEqual(second.answer?.taskExpression, "MUL(a, a)")
        XCTAssertEqual(first.candidatesValidated, second.candidatesValidated)
    }

    func testLearnedLogitsAreTheirChildrensBest() throws {
        let (registry, _) = try scratchRegistry()
        try registry.register(name: "SQUARE", arity: 1, steps: [CompositionStep(6, [0, 0])])
        try registry.register(name: "LOOPY", arity: 2, steps: [CompositionStep(19, [0, -1, 1], body: 9)])
        try registry.register(name: "QUARTIC", arity: 1, steps: [CompositionStep(23, [0]), CompositionStep(23, [1])])
        let search = NSSRSearch(table: registry.table, task: try Tasks.square())
        var head = [Float](repeating: 0, count: 22)
        head[5] = 3  // MUL
        head[8] = 4  // DIV, LOOPY's body
        head[18] = 1  // LOOP
        let logits = search.extendedLogits(head)
        XCTAssertEqual(logits.count, 25)
        XCTAssertEqual(logits[22], 3, "SQUARE: MUL's")
        XCTAssertEqual(logits[23], 4, "LOOPY: the larger of LOOP's and its body DIV's")
        XCTAssertEqual(logits[24], 3, "QUARTIC: SQUARE's, itself MUL's")
    }

    func testSimplify() {
        // inputs (a, b, c, d); step 4 unused; reads a and c
        let steps = [CompositionStep(6, [2, 2]), CompositionStep(4, [1, 3]), CompositionStep(6, [0, 4]), CompositionStep(19, [4, -1, 0], body: 4)]
        let (kept, columns) = NSSRSearch.simplify(Array(steps.prefix(3)) + [CompositionStep(5, [6, -1])], inputs: 4)
        XCTAssertEqual(columns, [0, 2])
        XCTAssertEqual(kept, [CompositionStep(6, [1, 1]), CompositionStep(6, [0, 2]), CompositionStep(5, [3, -1])])
        XCTAssertEqual(FunctionTable.primitives.expression(kept, arity: 2), "SUB(MUL(a, MUL(b, b)), 0)")
        XCTAssertEqual(FunctionTable.primitives.expression(kept, arity: 2, constant: 0.5, mode: .multiplicative), "MUL(SUB(MUL(a, MUL(b, b)), 0), 0.5)")
        XCTAssertEqual(FunctionTable.primitives.expression(kept, arity: 2, constant: -3, mode: .additive), "ADD(SUB(MUL(a, MUL(b, b)), 0), -3.0)")
        XCTAssertEqual(FunctionTable.primitives.expression([steps[3]], arity: 5), "LOOP[ADD](e, 0, a)")
    }

    /// A wide task the search must still finish quickly (candidates are cached and pruned).
    func testWideTaskIsFast() throws {
        let rows = Tasks.rows(40, seed: 13) { r in
            let v = (0..<6).map { _ in Tasks.int(&r, -30...30) }
            return v + [v[4] * v[1] + v[2]]
        }
        let guide = FixedGuide(steps: 3, primary: ["ADD": 3], secondary: ["MUL": 3], tertiary: ["MUL": 3], composition: [0, 0, 0, 3])
        let start = Date()
        let report = try NSSRSearch(table: .primitives, task: try TaskTable(rows: rows)).run(guide: guide)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
        XCTAssertNotNil(report.answer, "found: \(report.candidatesValidated) candidates")
    }
}

/// The noise-column experiment on the shipped data (models/nssr/experiment/*.csv), guided by fake
/// heads that favour the functions each task needs: the answers docs/nssr.md gives.
final class ExperimentDataTests: XCTestCase {
    func testShippedExperiment() throws {
        let folder = Repo.root.appendingPathComponent("models/nssr/experiment")
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("TOTAL_E.csv").path) else {
            throw XCTSkip("models/nssr/experiment/*.csv is not in this checkout")
        }
        let (registry, _) = try scratchRegistry()
        let runs: [(String, FixedGuide, String)] = [
            ("SQUARE", FixedGuide(primary: ["MUL": 5]), "MUL(a, a)"),
            ("FORCE", FixedGuide(primary: ["MUL": 5]), "MUL(a, c)"),
            ("KE", FixedGuide(primary: ["MUL": 5], secondary: ["MUL": 5], composition: [0, 0, 5, 0]), "MUL(MUL(MUL(c, c), a), 0.5)"),
            ("PE", FixedGuide(primary: ["MUL": 5]), "MUL(MUL(b, c), 9.81)"),
            ("TOTAL_E", FixedGuide(primary: ["ADD": 5], secondary: ["MUL": 5], tertiary: ["MUL": 5], composition: [0, 0, 0, 5]), "ADD(KE(a, b), PE(a, d))"),
        ]
        for (name, guide, expected) in runs {
            let task = try TaskTable.read(path: folder.appendingPathComponent("\(name).csv").path)
            XCTAssertEqual(task.rowCount, 30, name)
            XCTAssertNotNil(task.header, name)
            let report = try NSSRSearch(table: registry.table, task: task).run(guide: guide)
            let a = try XCTUnwrap(report.answer, name)
            XCTAssertEqual(a.taskExpression, expected, name)
            XCTAssertTrue(a.exact, name)
            try registry.register(name: name, arity: a.arity, steps: a.steps, constant: a.constant, constMode: a.constMode ?? .multiplicative)
        }
        let ke = try XCTUnwrap(registry.table.function(named: "KE"))
        XCTAssertEqual(registry.table.expression(of: ke), "MUL(MUL(MUL(b, b), a), 0.5)", "registered over its renumbered inputs")
        XCTAssertEqual(ke.arity, 2)
        XCTAssertEqual(CompositionJSON.encode(ke.composition ?? []), "[[6, [1, 1]], [6, [2, 0]]]")
        XCTAssertEqual(registry.functions.suffix(5).map(\.id), Array(23...27))
        XCTAssertEqual(registry.table.expression(of: registry.functions[26]), "ADD(KE(a, b), PE(a, c))")
    }
}
