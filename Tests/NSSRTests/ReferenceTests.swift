import Foundation
import NSSR
import TestSupport
import XCTest

/// The primitives and the search against the Python reference (tools/reference/recur_reference/nssr.py):
/// `nssr_gguf.py primitives` cases bit for bit, and the reference's Searcher driven by the same fixed
/// head logits as the Swift search. Skipped when python3, numpy or the reference is missing.
final class ReferenceTests: XCTestCase {
    static let fixture = "tools/reference/nssr_gguf.py"
    static let module = "tools/reference/recur_reference/nssr.py"

    func requireReference(_ file: String) throws {
        guard FileManager.default.fileExists(atPath: Repo.root.appendingPathComponent(file).path) else {
            throw Reference.unavailable("\(file) is missing")
        }
        try Reference.requirePython(["numpy", "torch"])
    }

    /// A number of the reference's JSON: a number, or "nan", "inf", "-inf". Decoded with JSONDecoder:
    /// JSONSerialization hands long decimals back as NSDecimalNumber, which loses the last bits.
    struct Number: Decodable {
        let value: Double
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let d = try? c.decode(Double.self) {
                value = d
                return
            }
            switch try c.decode(String.self) {
            case "nan": value = .nan
            case "inf": value = .infinity
            case "-inf": value = -.infinity
            case let other: throw NSSRError("not a number: \(other)")
            }
        }
    }

    struct PrimitiveCase: Decodable {
        let name: String
        let args: [Number]
        let result: Number
        let body: String?
    }

    struct PrimitiveFixture: Decodable {
        let cases: [PrimitiveCase]
    }

    struct Step: Decodable, Equatable {
        let step: CompositionStep
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            let f = try c.decode(Int.self), args = try c.decode([Int].self)
            step = CompositionStep(f, args, body: c.isAtEnd ? nil : try c.decode(Int.self))
        }
    }

    /// The reference's SearchResult.to_json().
    struct SearchResult: Decodable {
        let found: Bool
        let expression: String?
        let task_expression: String?
        let composition: [Step]?
        let columns: [Int]?
        let constant: Double?
        let const_mode: String?
        let r2: Double?
        let exact: Bool
        let group: String?
        let attempt: Int?
        let step: Int?
        let steps: Int
    }

    func testPrimitivesMatchTheReference() throws {
        try requireReference(Self.fixture)
        let r = try Reference.runPython([Self.fixture, "primitives", "--cases", "40", "--seed", "7"])
        guard r.status == 0 else {
            if r.stderr.contains("invalid choice") { throw Reference.unavailable("\(Self.fixture) has no primitives command") }
            throw NSSRError("python3 \(Self.fixture) primitives failed with status \(r.status): \(r.stderr)")
        }
        let cases = try JSONDecoder().decode(PrimitiveFixture.self, from: Data(r.stdout.utf8)).cases
        XCTAssertGreaterThan(cases.count, 22 * 40)
        let table = FunctionTable.primitives
        var checked = 0
        for c in cases {
            let p = try XCTUnwrap(Primitive(name: c.name), c.name)
            let args = c.args.map(\.value), expected = c.result.value
            let body = try c.body.map { try XCTUnwrap(Primitive(name: $0), $0).rawValue }
            let got = try table.evaluate(p.rawValue, body: body, rows: [args])[0]
            let same = got.isNaN ? expected.isNaN : got.bitPattern == expected.bitPattern || (got == 0 && expected == 0)
            XCTAssertTrue(same, "\(c.name)\(c.body.map { "[\($0)]" } ?? "")(\(args)) = \(got), the reference gives \(expected)")
            checked += 1
        }
        XCTAssertEqual(checked, cases.count)
    }

    /// One search task for the reference: rows, learned functions, fixed heads.
    struct Spec {
        var name: String
        var task: TaskTable
        var learned: [RegisteredFunction] = []
        var guide: FixedGuide

        var json: [String: Any] {
            [
                "rows": task.rows,
                "learned": learned.map { f -> [String: Any] in
                    ["id": f.id, "name": f.name, "arity": f.arity, "layer": f.layer,
                     "steps": (f.composition ?? []).map { s -> [Any] in [s.function, s.args] + (s.body.map { [$0] } ?? []) },
                     "constant": f.constant ?? NSNull(), "const_mode": f.constMode.rawValue]
                },
                "steps": guide.supervisionSteps,
                "heads": ["primary": guide.heads.primary.map(Double.init), "secondary": guide.heads.secondary.map(Double.init),
                          "tertiary": guide.heads.tertiary.map(Double.init), "composition": guide.heads.composition.map(Double.init)],
            ]
        }
    }

    static let searchScript = """
    import json, sys
    sys.path.insert(0, "tools/reference")
    import numpy as np
    from recur_reference import nssr
    out = []
    for spec in json.load(open(sys.argv[1])):
        funcs = nssr.primitive_functions()
        for f in spec["learned"]:
            steps = tuple(nssr.Step(s[0], tuple(s[1]), s[2] if len(s) > 2 else None) for s in f["steps"])
            funcs.append(nssr.Function(f["id"], f["name"], f["arity"], f["layer"], steps, f["constant"], f["const_mode"]))
        lib = nssr.Library(funcs)
        lib.validate()
        s = nssr.Searcher(spec["rows"], lib, None, steps=spec["steps"])
        heads = {k: np.array(v, dtype=np.float64) for k, v in spec["heads"].items()}
        s.model = True
        s.heads = lambda step, s=s, heads=heads: s.extend(heads)
        out.append(s.run().to_json())
    print(json.dumps(out))
    """

    func testSearchMatchesTheReference() throws {
        try requireReference(Self.module)
        let (registry, _) = try scratchRegistry()
        try registry.register(name: "KE", arity: 2, steps: [CompositionStep(6, [1, 1]), CompositionStep(6, [0, 2])], constant: 0.5)
        try registry.register(name: "PE", arity: 2, steps: [CompositionStep(6, [0, 1])], constant: 9.81)
        let learned = Array(registry.functions.suffix(2))
        var specs: [Spec] = [
            Spec(name: "square", task: try Tasks.square(), guide: FixedGuide(primary: ["MUL": 5])),
            Spec(name: "square-uniform", task: try Tasks.square(), guide: uniformGuide()),
            Spec(name: "force", task: try Tasks.force(), guide: FixedGuide(primary: ["MUL": 5])),
            Spec(name: "ke", task: try Tasks.kineticEnergy(), guide: FixedGuide(primary: ["MUL": 5], secondary: ["MUL": 5], composition: [0, 0, 5, 0])),
            Spec(name: "pe", task: try Tasks.potentialEnergy(), guide: FixedGuide(primary: ["MUL": 5])),
            Spec(name: "total", task: try Tasks.totalEnergy(), learned: learned,
                 guide: FixedGuide(primary: ["ADD": 5], secondary: ["MUL": 5], tertiary: ["MUL": 5], composition: [0, 0, 0, 5])),
            Spec(name: "loop", task: try TaskTable(rows: Tasks.rows(20, seed: 9) { r in
                let n = Tasks.int(&r, 0...9), x = Tasks.int(&r, -20...20)
                return [n, x, n * x]
            }), guide: FixedGuide(primary: ["LOOP": 20], secondary: ["ADD": 20])),
        ]
        // Random small tasks under random logits: whatever each side finds, the other must find too.
        var rng = SplitMix64(seed: 2024)
        let table = registry.table
        for n in 0..<9 {
            let columns = 1 + n % 3
            let a = Int.random(in: 1...table.count, using: &rng)
            let rows = Tasks.rows(9, seed: UInt64(100 + n)) { r in (0..<columns).map { _ in Tasks.int(&r, -6...6) } }
            var steps: [CompositionStep] = []
            let f = table[a]
            if f.isIteration {
                steps = [CompositionStep(a, (0..<f.arity).map { _ in Int.random(in: 0..<columns, using: &rng) }, body: f.primitive == .loop4 ? 16 : 4)]
            } else {
                steps = [CompositionStep(a, (0..<f.arity).map { _ in Int.random(in: 0..<columns, using: &rng) })]
            }
            let probe = RegisteredFunction(id: table.count + 1, name: "P", arity: columns, layer: 1, composition: steps, constant: nil,
                                           constMode: .multiplicative, createdAt: "")
            let y = try FunctionTable(table.functions + [probe]).evaluate(probe.id, rows: rows)
            var guide = FixedGuide(steps: 2)
            func random(_ count: Int) -> [Float] { (0..<count).map { _ in rng.float(-3, 3) } }
            guide.heads = GuideHeads(primary: random(22), secondary: random(22), tertiary: random(22), composition: random(4), halt: 0)
            specs.append(Spec(name: "random-\(n)", task: try TaskTable(rows: zip(rows, y).map { $0 + [$1] }), learned: learned, guide: guide))
        }
        // Two-step compositions (a learned child, a constant sometimes) and pure noise, under random logits
        // that favour the functions used.
        for n in 0..<10 {
            let columns = 2 + n % 3
            let plain = table.functions.filter { !$0.isIteration && $0.arity <= 2 }.map(\.id)
            let f = plain[Int.random(in: 0..<plain.count, using: &rng)], g = plain[Int.random(in: 0..<plain.count, using: &rng)]
            let col = { Int.random(in: 0..<columns, using: &rng) }
            let inner = CompositionStep(g, (0..<table[g].arity).map { _ in col() })
            var outerArgs = (0..<table[f].arity).map { _ in col() }
            outerArgs[Int.random(in: 0..<outerArgs.count, using: &rng)] = columns
            let constant: Double? = n % 4 == 3 ? 2.5 : nil
            let probe = RegisteredFunction(id: table.count + 1, name: "P", arity: columns, layer: 1, composition: [inner, CompositionStep(f, outerArgs)],
                                           constant: constant, constMode: .multiplicative, createdAt: "")
            let rows = Tasks.rows(12, seed: UInt64(200 + n)) { r in (0..<columns).map { _ in Tasks.int(&r, -6...6) } }
            let y = try FunctionTable(table.functions + [probe]).evaluate(probe.id, rows: rows)
            var guide = FixedGuide(steps: 2)
            func random(_ favour: Int) -> [Float] {
                (0..<22).map { $0 + 1 == favour ? 3 : rng.float(-1, 1) }
            }
            guide.heads = GuideHeads(primary: random(f), secondary: random(g), tertiary: random(g), composition: [0, 1, 2, 1].map { $0 + rng.float(-1, 1) }, halt: 0)
            specs.append(Spec(name: "two-step-\(n)", task: try TaskTable(rows: zip(rows, y).map { $0 + [$1] }), learned: learned, guide: guide))
        }
        for n in 0..<1 {
            let rows = Tasks.rows(10, seed: UInt64(300 + n)) { r in (0..<3).map { _ in Tasks.int(&r, -9...9) } + [Double(Int.random(in: -999...999, using: &r)) / 7] }
            specs.append(Spec(name: "noise-\(n)", task: try TaskTable(rows: rows), guide: FixedGuide(steps: 2, primary: ["MUL": 2], composition: [1, 1, 1, 1])))
        }
        let dir = try Repo.temporaryDirectory("recur-nssr-ref")
        let specFile = dir.appendingPathComponent("specs.json")
        try JSONSerialization.data(withJSONObject: specs.map(\.json)).write(to: specFile)
        let stdout = try Reference.python(["-c", Self.searchScript, specFile.path])
        let results = try JSONDecoder().decode([SearchResult].self, from: Data(stdout.utf8))
        XCTAssertEqual(results.count, specs.count)
        var found = 0
        for (spec, ref) in zip(specs, results) {
            let t = try FunctionTable(Array(table.functions.prefix(22)) + spec.learned)
            let report = try NSSRSearch(table: t, task: spec.task).run(guide: spec.guide)
            XCTAssertEqual(report.answer != nil, ref.found, "\(spec.name): found")
            XCTAssertEqual(report.stepsRun, ref.steps, "\(spec.name): steps run")
            guard let a = report.answer, ref.found else { continue }
            found += 1
            XCTAssertEqual(a.expression, ref.expression, "\(spec.name): expression")
            XCTAssertEqual(a.taskExpression, ref.task_expression, "\(spec.name): task expression")
            XCTAssertEqual(a.steps, ref.composition?.map(\.step), "\(spec.name): composition")
            XCTAssertEqual(a.columns, ref.columns, "\(spec.name): columns")
            XCTAssertEqual(a.constant, ref.constant, "\(spec.name): constant")
            XCTAssertEqual(a.constMode?.rawValue, ref.const_mode, "\(spec.name): const_mode")
            XCTAssertEqual(a.exact, ref.exact, "\(spec.name): exact")
            XCTAssertEqual(a.group.rawValue, ref.group, "\(spec.name): group")
            XCTAssertEqual(a.retry, ref.attempt, "\(spec.name): attempt")
            XCTAssertEqual(a.supervisionStep, ref.step, "\(spec.name): step")
            XCTAssertEqual(a.r2, try XCTUnwrap(ref.r2), accuracy: 1e-12, "\(spec.name): r2")
        }
        XCTAssertGreaterThanOrEqual(found, 7, "the named tasks are all found")
    }
}
