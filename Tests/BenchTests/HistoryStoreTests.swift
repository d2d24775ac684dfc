import Bench
import Foundation
import TestSupport
import XCTest

final class HistoryStoreTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try BenchTestSupport.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    static func sampleRun(_ tag: Int = 0) -> BenchRun {
        BenchRun(kind: "throughput", startedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(tag)),
                 machine: BenchMachine(cpu: "Test CPU", isa: "avx2", cores: 4,
                                       figures: tag == 1 ? ["int8_peak_gops_1t": 281.5, "int8_peak_gops": 561.25, "threads": 2, "dram_read_gbs": 19.5] : nil),
                 gitCommit: String(repeating: "a", count: 40),
                 command: "recur bench \(tag)", interrupted: tag % 2 == 1,
                 measurements: [
                    BenchMeasurement(engine: "recur", modelPath: "/m/f16.gguf", modelSHA256: "abc", modelType: "F16", threads: 4, batch: 16,
                                     halt: "qhead", puzzles: 16, repetitions: 3,
                                     figures: ["ms_per_step_median": 12.5 + Double(tag), "ms_per_step_min": 11, "ms_per_step_max": 14.25, "kl_p99.9": 1e-7]),
                    BenchMeasurement(engine: "pytorch", modelPath: "/m/f16.gguf", modelSHA256: "abc", modelType: "F32", threads: 4, batch: 16,
                                     halt: "max", puzzles: 16, repetitions: 5, figures: ["ms_per_step_median": 30]),
                 ])
    }

    func testCreatesLatestSchemaAndRoundTripsARun() throws {
        let path = dir.appendingPathComponent("sub/dir/bench.sqlite").path
        let store = try HistoryStore(path: path)
        XCTAssertEqual(try store.schemaVersion(), HistoryStore.latestVersion)
        let run = Self.sampleRun(1)
        let id = try store.insert(run)
        let back = try XCTUnwrap(try HistoryStore(path: path).run(id: id))
        var expected = run
        expected.id = id
        XCTAssertEqual(back, expected)
    }

    func testMigratesAnOldSchemaKeepingRows() throws {
        let path = dir.appendingPathComponent("old.sqlite").path
        let old = try HistoryStore(path: path, migrateTo: 1)
        XCTAssertEqual(try old.schemaVersion(), 1)
        try old.insert(Self.sampleRun())
        let upgraded = try HistoryStore(path: path)
        XCTAssertEqual(try upgraded.schemaVersion(), HistoryStore.latestVersion)
        XCTAssertEqual(try upgraded.runs().map(\.command), ["recur bench 0"])
        let index = try Reference.python(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from sqlite_master where name='measurements_by_run'\").fetchone()[0])", path])
        XCTAssertEqual(index.trimmingCharacters(in: .whitespacesAndNewlines), "1", "migration 2 ran")
        let probe = try Reference.python(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from sqlite_master where name='machine_figures'\").fetchone()[0])", path])
        XCTAssertEqual(probe.trimmingCharacters(in: .whitespacesAndNewlines), "1", "migration 3 ran")
        let probed = Self.sampleRun(1)
        try upgraded.insert(probed)
        XCTAssertEqual(try upgraded.runs().last?.machine, probed.machine, "a probed run's machine figures come back")
    }

    func testConcurrentWritersLoseNoRow() throws {
        let path = dir.appendingPathComponent("shared.sqlite").path
        let writers = 4, perWriter = 25
        let failures = NSMutableArray()
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            do {
                let store = try HistoryStore(path: path)  // one connection per writer, as two processes would have
                for i in 0..<perWriter { try store.insert(Self.sampleRun(w * 1000 + i)) }
            } catch {
                failures.add("\(error)")
            }
        }
        XCTAssertEqual(failures.count, 0, "\(failures)")
        let runs = try HistoryStore(path: path).runs()
        XCTAssertEqual(runs.count, writers * perWriter)
        XCTAssertEqual(Set(runs.map(\.command)).count, writers * perWriter)
        XCTAssertTrue(runs.allSatisfy { $0.measurements.count == 2 })
    }

    private func assertRefused(_ path: String, mentions words: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try HistoryStore(path: path), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(path), "names the file: \(text)", file: file, line: line)
            for w in words { XCTAssertTrue(text.contains(w), "mentions '\(w)': \(text)", file: file, line: line) }
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "the file was not modified", file: file, line: line)
    }

    func testRandomBytesAreRefused() throws {
        let path = dir.appendingPathComponent("random.sqlite").path
        var rng = SplitMix64(seed: 3)
        try Data((0..<8192).map { _ in UInt8(truncatingIfNeeded: rng.next()) }).write(to: URL(fileURLWithPath: path))
        try assertRefused(path, mentions: ["not a Recur benchmark history"])
    }

    func testForeignDatabaseIsRefused() throws {
        let path = dir.appendingPathComponent("foreign.sqlite").path
        _ = try Reference.python(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table notes(x)'); c.execute(\"insert into notes values ('keep me')\"); c.commit()", path])
        try assertRefused(path, mentions: ["notes", "not a Recur benchmark history"])
    }

    func testNewerSchemaIsRefused() throws {
        let path = dir.appendingPathComponent("newer.sqlite").path
        try HistoryStore(path: path).insert(Self.sampleRun())
        _ = try Reference.python(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('pragma user_version = 99'); c.commit()", path])
        try assertRefused(path, mentions: ["99", "newer"])
    }

    func testOtherApplicationIsRefused() throws {
        let path = dir.appendingPathComponent("otherapp.sqlite").path
        _ = try Reference.python(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('pragma application_id = 1234'); c.execute('pragma user_version = 1'); c.execute('create table runs(x)'); c.commit()", path])
        try assertRefused(path, mentions: ["1234", "another program"])
    }
}
