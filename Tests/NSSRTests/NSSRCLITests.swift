import Bench
import Foundation
import NSSR
import Runtime
import Storage
import TestSupport
import XCTest

/// `recur nssr init | list | eval | search` through the built binary: output, JSON, and bad input
/// refused with a message and a non-zero exit (never a crash, a hang, or a half-written registry).
final class NSSRCLITests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try Repo.temporaryDirectory("recur-nssr-cli")
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var exited: Bool
    }

    /// Runs `recur ARGS` in the scratch folder, killed after `seconds` (a hang guard).
    func recur(_ args: [String], seconds: Double = 120) throws -> Run {
        let child = try Subprocess(Repo.recurExecutable.path, args, directory: dir)
        let guardItem = DispatchWorkItem { if child.process.isRunning { kill(child.pid, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: guardItem)
        let r = child.wait()
        guardItem.cancel()
        return Run(status: r.status, stdout: r.stdout, stderr: r.stderr, exited: child.process.terminationReason == .exit)
    }

    func succeeds(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let r = try recur(args)
        XCTAssertTrue(r.exited, "\(args): killed", file: file, line: line)
        XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)", file: file, line: line)
        return r
    }

    func refuses(_ args: [String], _ mentions: [String], status: Int32? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try recur(args)
        XCTAssertTrue(r.exited, "\(args): killed by a signal (a crash or the hang guard): \(r.stderr)", file: file, line: line)
        XCTAssertNotEqual(r.status, 0, "\(args) must fail", file: file, line: line)
        if let status { XCTAssertEqual(r.status, status, "\(args)", file: file, line: line) }
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "\(args): stderr does not mention '\(m)': \(r.stderr)", file: file, line: line) }
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func csv(_ task: TaskTable, header: String? = nil) -> String {
        var lines: [String] = header.map { [$0] } ?? []
        for row in task.rows { lines.append(row.map { formatNumber($0) }.joined(separator: ",")) }
        return lines.joined(separator: "\n") + "\n"
    }

    func testInitListEval() throws {
        let db = dir.appendingPathComponent("reg.sqlite").path
        let created = try succeeds(["nssr", "init", db])
        XCTAssertTrue(created.stdout.contains("22 primitives"), created.stdout)
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        try refuses(["nssr", "init", db], ["already exists"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: db)), before, "init never overwrites")

        let registry = try Registry(path: db, writable: true)
        try registry.register(name: "SQUARE", arity: 1, steps: [CompositionStep(6, [0, 0])])
        try registry.register(name: "HALFSQ", arity: 1, steps: [CompositionStep(23, [0])], constant: 0.5)
        let list = try succeeds(["nssr", "list", db]).stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(list.count, 1 + 24, list.joined(separator: "\n"))
        XCTAssertTrue(list[1].contains("OR") && list[1].contains("primitive"), list[1])
        XCTAssertTrue(list[23].contains("SQUARE") && list[23].hasSuffix("MUL(a, a)"), list[23])
        XCTAssertTrue(list[24].contains("HALFSQ") && list[24].hasSuffix("MUL(SQUARE(a), 0.5)"), list[24])

        let examples = try write("sq.csv", "x,y\n1,1\n-3,9\n2.5,6.25\n4,15\n")
        let json = try succeeds(["nssr", "eval", db, "SQUARE", "--examples", examples, "--json"])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["exact"] as? Int, 3)
        XCTAssertEqual(object["rows"] as? Int, 4)
        let r2 = try XCTUnwrap(object["r2"] as? Double)
        XCTAssertEqual(r2, NSSRSearch.r2([1, 9, 6.25, 16], [1, 9, 6.25, 15]), accuracy: 1e-12)
        let plain = try succeeds(["nssr", "eval", db, "HALFSQ", "--examples", examples])
        XCTAssertTrue(plain.stdout.contains("0 of 4 rows exact"), plain.stdout)
        XCTAssertEqual(try succeeds(["nssr", "eval", db, "ADD", "--examples", try write("add.csv", "1,2,3\n4,5,9\n")]).stdout,
                       "ADD: 2 of 2 rows exact, R^2 1.0\n")
    }

    func testBadInputIsRefused() throws {
        let db = dir.appendingPathComponent("reg.sqlite").path
        _ = try succeeds(["nssr", "init", db])
        let good = try write("good.csv", "x,y\n1,1\n2,4\n3,9\n")
        let foreign = dir.appendingPathComponent("foreign.sqlite")
        do {
            let other = try SQLiteDatabase(path: foreign.path, kind: "test", hint: "")
            try other.execute("PRAGMA application_id = 77; CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        }
        let foreignBefore = try Data(contentsOf: foreign)
        let text = try write("text.sqlite", "hello\n")
        let missing = dir.appendingPathComponent("missing.sqlite").path
        let cases: [([String], [String])] = [
            (["nssr", "list", missing], ["no such registry", "recur nssr init"]),
            (["nssr", "list", foreign.path], ["another program"]),
            (["nssr", "list", text], ["not an SQLite database"]),
            (["nssr", "init", foreign.path], ["already exists"]),
            (["nssr", "eval", db, "CUBE", "--examples", good], ["no function named 'CUBE'"]),
            (["nssr", "eval", db, "ADD", "--examples", good], ["ADD takes 2 inputs", "1 input column"]),
            (["nssr", "eval", db, "LOOP", "--examples", try write("l.csv", "1,2,3,4\n1,2,3,4\n")], ["needs a body"]),
            (["nssr", "eval", db, "INC", "--examples", try write("ragged.csv", "x,y\n1,2\n3\n")], ["ragged.csv:3", "1 field"]),
            (["nssr", "eval", db, "INC", "--examples", try write("text.csv", "x,y\n1,2\n3,four\n")], ["text.csv:3", "column 2", "'four'"]),
            (["nssr", "eval", db, "INC", "--examples", try write("nan.csv", "1,nan\n2,3\n")], ["nan.csv:1", "not a finite number"]),
            (["nssr", "eval", db, "INC", "--examples", try write("one.csv", "x,y\n1,2\n")], ["at least 2"]),
            (["nssr", "eval", db, "INC", "--examples", try write("col.csv", "1\n2\n")], ["at least 1 input column"]),
            (["nssr", "eval", db, "INC", "--examples", missing + ".csv"], ["cannot read"]),
            (["nssr", "search", "--examples", good, "--register", "SQ"], ["--register needs an explicit --registry"]),
            (["nssr", "search", "--examples", try write("bad.csv", "1,2\n3\n"), "--registry", db], ["bad.csv:2"]),
            (["nssr", "search", "--examples", good, "--registry", foreign.path], ["another program"]),
            (["nssr", "search", "--examples", good, "--registry", db, "--model", missing + ".gguf"], ["gguf"]),
            (["nssr", "search", "--examples", good, "--registry", db, "--register", "ADD", "--model", missing + ".gguf"], ["'ADD' already exists"]),
            (["nssr", "search", "--examples", good, "--registry", db, "--register", "9LIVES", "--model", missing + ".gguf"], ["not a function name"]),
        ]
        let registryBefore = try Data(contentsOf: URL(fileURLWithPath: db))
        for (args, mentions) in cases { try refuses(args, mentions) }
        XCTAssertEqual(try Data(contentsOf: foreign), foreignBefore, "the foreign file was left untouched")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: db)), registryBefore, "the registry was not written")
        XCTAssertEqual(try Registry(path: db).functions.count, 22)
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "nothing creates a missing registry")
    }

    /// A search through the binary with a tiny random model: reuse finds SQUARE whatever the model
    /// says, and --register stores the answer; an unfitting task ends with status 2.
    func testSearchWithATinyModel() throws {
        let model = dir.appendingPathComponent("tiny-nssr.gguf")
        try TinyNSSRModel().write(to: model)
        let db = dir.appendingPathComponent("reg.sqlite").path
        let registry = try Registry.create(path: db)
        try registry.register(name: "SQUARE", arity: 1, steps: [CompositionStep(6, [0, 0])])
        // x is the second column
        let task = try TaskTable(rows: Tasks.square().rows.map { [$0[1], $0[0], $0[3]] })
        let examples = try write("sq.csv", csv(task, header: "junk,x,y"))
        let probe = try recur(["nssr", "search", "--model", model.path, "--registry", db, "--examples", examples])
        if probe.stderr.contains("not available yet") {
            throw XCTSkip("loadSearchGuide is the placeholder: \(probe.stderr)")
        }
        XCTAssertEqual(probe.status, 0, probe.stderr)
        let lines = probe.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first, "SQUARE(a)", probe.stdout)
        XCTAssertEqual(lines.dropFirst().first, "over the task's columns: SQUARE(b) (a = column b)", probe.stdout)
        let r = try succeeds(["nssr", "search", "--model", model.path, "--registry", db, "--examples", examples, "--json", "--register", "SQ_B"])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["found"] as? Bool, true)
        XCTAssertEqual(object["expression"] as? String, "SQUARE(a)")
        XCTAssertEqual(object["task_expression"] as? String, "SQUARE(b)")
        XCTAssertEqual(object["group"] as? String, "reuse")
        XCTAssertEqual(object["columns"] as? [Int], [1])
        XCTAssertEqual(object["exact"] as? Bool, true)
        XCTAssertEqual(object["registered"] as? String, "SQ_B")
        let stored = try XCTUnwrap(try Registry(path: db).table.function(named: "SQ_B"))
        XCTAssertEqual(stored.arity, 1)
        XCTAssertEqual(stored.layer, 2)
        XCTAssertEqual(stored.composition, [CompositionStep(23, [0])])

        // The default registry is read-only and --register needs --registry; a noise task finds nothing (status 2).
        let noise = try write("noise.csv", "a,y\n1,0.123\n2,-7.5\n3,1000.25\n4,0.001\n5,-3.3\n")
        try refuses(["nssr", "search", "--model", model.path, "--registry", db, "--examples", noise, "--register", "NOISE"],
                    ["no composition", "nothing was registered"], status: 2)
        XCTAssertNil(try Registry(path: db).table.function(named: "NOISE"))
        // A model trained for more functions than the registry holds.
        var bigger = TinyNSSRModel(functions: TinyNSSRModel.primitives + ["EXTRA"])
        bigger.set("nssr.function_count", .uint32(23))
        let biggerURL = dir.appendingPathComponent("bigger.gguf")
        try bigger.write(to: biggerURL)
        let fresh = dir.appendingPathComponent("fresh.sqlite").path
        try Registry.create(path: fresh)
        try refuses(["nssr", "search", "--model", biggerURL.path, "--registry", fresh, "--examples", examples], ["22 functions", "'EXTRA'"])
    }
}
