import Foundation
import Bench
import Rules
import Runtime
import TestSupport
import XCTest

/// Rule-latent sessions (docs/rule-latent.md) on a tiny random model: turn by turn equal to the
/// PyTorch reference's Session (answers, gate, retrieval, memory size, eviction); the SQLite
/// memory survives a restart, stays bounded, serves concurrent readers, and refuses foreign files
/// without touching them.
final class RuleSessionTests: XCTestCase {
    private var dir: URL!
    private var modelPath: String!

    override func setUpWithError() throws {
        dir = try Reference.temporaryDirectory("rules")
        modelPath = dir.appendingPathComponent("tiny.gguf").path
        try TinyRuleModel().write(to: URL(fileURLWithPath: modelPath))
    }

    /// Three contexts visited in turn, so later turns retrieve earlier sketches.
    private static let turns: [(examples: [(String, String)], queries: [String])] = {
        let contexts: [[(String, String)]] = [[("ab", "AB"), ("cd", "CD")], [("x1", "1x"), ("y22", "22y")], [("hi", "hi!"), ("yo", "yo!"), ("ok", "ok!")]]
        return (0..<8).map { t in (contexts[t % 3], ["q\(t)", "zz"]) }
    }()

    private func fitter(steps: Int = 5, gate: Float = 0, capacity: Int = 3) throws -> RuleFitter {
        var s = RuleFitSettings()
        s.steps = steps
        s.gate = gate
        s.capacity = capacity
        return RuleFitter(model: try RuleModel(path: modelPath), settings: s)
    }

    private func pairs(_ t: [(String, String)]) -> [RulePair] { t.map { RulePair(input: Array($0.0.utf8), output: Array($0.1.utf8)) } }

    func testSessionMatchesReferenceTurnByTurn() throws {
        try Reference.requireTorch()
        try Reference.requireGGUF()
        let turnsFile = dir.appendingPathComponent("turns.jsonl")
        let lines = try Self.turns.map { t in
            String(decoding: try JSONSerialization.data(withJSONObject: ["examples": t.examples.map { [$0.0, $0.1] }, "queries": t.queries]), as: UTF8.self)
        }
        try (lines.joined(separator: "\n") + "\n").write(to: turnsFile, atomically: true, encoding: .utf8)
        let out = try Reference.python(["tools/reference/uzr_gguf.py", "session", "--gguf", modelPath, "--turns", turnsFile.path,
                                        "--steps", "5", "--gate", "0", "--capacity", "3", "--replay", "2", "--seed", "4"])
        let expected = try out.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(expected.count, Self.turns.count)

        let memory = try RuleMemory(path: dir.appendingPathComponent("memory.sqlite").path, hidden: TinyRuleModel.hidden, latent: TinyRuleModel.latent, capacity: 3)
        let session = try RuleSession(fitter: try fitter(), memory: memory, seed: 4)
        var retrievals = 0
        for (i, (t, e)) in zip(Self.turns, expected).enumerated() {
            let r = try session.turn(examples: pairs(t.examples), queries: t.queries.map { Array($0.utf8) })
            let answers = try XCTUnwrap(e["answers"] as? [String]).map { $0.unicodeScalars.map { UInt8($0.value) } }
            XCTAssertEqual(r.answers, answers, "turn \(i): answers")
            XCTAssertEqual(Double(r.confidence ?? -1), try XCTUnwrap(e["conf"] as? Double), accuracy: 1e-4, "turn \(i): confidence")
            XCTAssertEqual(r.zSlowUpdated, e["z_slow_updated"] as? Bool, "turn \(i): gate")
            XCTAssertEqual(r.retrieved, e["retrieved"] as? Bool, "turn \(i): retrieval")
            XCTAssertEqual(r.memorySketches, e["memory"] as? Int, "turn \(i): memory size")
            XCTAssertEqual(r.evicted.map(Int.init), e["evicted"] as? Int, "turn \(i): evicted sketch")
            if r.retrieved { retrievals += 1 }
        }
        XCTAssertGreaterThan(retrievals, 0, "revisited contexts warm-start from the memory")
    }

    func testMemorySurvivesRestartAndStaysBounded() throws {
        let path = dir.appendingPathComponent("m.sqlite").path
        var zSlow: [Float] = []
        do {
            let memory = try RuleMemory(path: path, hidden: TinyRuleModel.hidden, latent: TinyRuleModel.latent, capacity: 2)
            let session = try RuleSession(fitter: try fitter(capacity: 2), memory: memory)
            for t in Self.turns.prefix(5) { _ = try session.turn(examples: pairs(t.examples), queries: []) }
            XCTAssertEqual(memory.sketches.count, 2, "capacity 2 after 5 confident turns")
            zSlow = session.zSlow
        }
        let reopened = try RuleMemory(path: path, hidden: TinyRuleModel.hidden, latent: TinyRuleModel.latent, capacity: 2)
        XCTAssertEqual(reopened.sketches.count, 2)
        let resumed = try RuleSession(fitter: try fitter(capacity: 2), memory: reopened)
        XCTAssertEqual(resumed.zSlow, zSlow, "z_slow resumes from the memory")
        XCTAssertEqual(resumed.turns, 5)
        // A second connection reads while the first is open.
        let reader = try RuleMemory(path: path, hidden: TinyRuleModel.hidden, latent: TinyRuleModel.latent, capacity: 2)
        XCTAssertEqual(reader.sketches, reopened.sketches)
    }

    func testForeignFilesAreRefusedUntouched() throws {
        let h = TinyRuleModel.hidden, k = TinyRuleModel.latent
        // Not SQLite.
        let text = dir.appendingPathComponent("notes.txt")
        try "just some notes\n".write(to: text, atomically: true, encoding: .utf8)
        // Another Recur file (a bench history).
        let history = dir.appendingPathComponent("bench.sqlite").path
        _ = try HistoryStore(path: history)
        // A memory of another model.
        let other = dir.appendingPathComponent("other.sqlite").path
        _ = try RuleMemory(path: other, hidden: h * 2, latent: k, capacity: 4)
        for (path, says) in [(text.path, "not a Recur rule memory"), (history, "another program"), (other, "hidden size \(h * 2)")] {
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try RuleMemory(path: path, hidden: h, latent: k, capacity: 4)) { XCTAssertTrue("\($0)".contains(says), "\($0)") }
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "\(path) unchanged")
        }
    }

    func testBadInputIsRefused() throws {
        let f = try fitter()
        XCTAssertThrowsError(try f.fit([])) { XCTAssertTrue("\($0)".contains("no examples"), "\($0)") }
        XCTAssertThrowsError(try f.fit(pairs([("abc", "d")]), start: [0, 1])) { XCTAssertTrue("\($0)".contains("z has 2 values"), "\($0)") }
        XCTAssertThrowsError(try f.fit(pairs([(String(repeating: "a", count: 9), "d")]))) { XCTAssertTrue("\($0)".contains("longer than the model's 8"), "\($0)") }
        XCTAssertThrowsError(try f.model.logits(tokens: [Int32](repeating: 300, count: TinyRuleModel.length), z: [Float](repeating: 0, count: 8))) {
            XCTAssertTrue("\($0)".contains("outside the vocabulary"), "\($0)")
        }
    }
}
