import Foundation
import Storage

/// Every benchmark run, in one SQLite file that several `recur bench` processes may write at once.
///
/// The schema is versioned with `PRAGMA user_version` and marked as Recur's with
/// `PRAGMA application_id`; opening applies the missing migrations in order inside one
/// `BEGIN IMMEDIATE` transaction. A file that is not SQLite, belongs to another program, or was
/// written by a newer schema is refused with an error and never modified: nothing is ever dropped
/// or recreated.
public final class HistoryStore {
    /// 'RCRB': tells a Recur history apart from any other SQLite file.
    public static let applicationID = 0x5243_5242
    /// Migration `i` takes the schema from version `i` to `i + 1`.
    public static let migrations: [String] = [
        """
        PRAGMA application_id = \(applicationID);
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            started_at TEXT NOT NULL,
            cpu TEXT NOT NULL,
            isa TEXT NOT NULL,
            cores INTEGER NOT NULL,
            git_commit TEXT NOT NULL,
            command TEXT NOT NULL,
            interrupted INTEGER NOT NULL
        );
        CREATE TABLE measurements (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            engine TEXT NOT NULL,
            model_path TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            model_type TEXT NOT NULL,
            threads INTEGER NOT NULL,
            batch INTEGER NOT NULL,
            halt TEXT NOT NULL,
            puzzles INTEGER NOT NULL,
            repetitions INTEGER NOT NULL
        );
        CREATE TABLE figures (
            measurement_id INTEGER NOT NULL REFERENCES measurements(id),
            name TEXT NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (measurement_id, name)
        );
        """,
        """
        CREATE INDEX measurements_by_run ON measurements(run_id);
        """,
        """
        CREATE TABLE machine_figures (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            name TEXT NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (run_id, name)
        );
        """,
    ]
    public static var latestVersion: Int { migrations.count }
    static let schema = VersionedSchema(applicationID: applicationID, migrations: migrations, tables: ["runs", "measurements", "figures"],
                                        kind: "Recur benchmark history", hint: "pass another --history file")

    public let path: String
    private let db: SQLiteDatabase

    /// `$RECUR_BENCH_DB`, else `~/.local/share/recur/bench.sqlite`.
    public static var defaultPath: String {
        if let env = ProcessInfo.processInfo.environment["RECUR_BENCH_DB"], !env.isEmpty { return env }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".local/share/recur/bench.sqlite").path
    }

    /// Opens (creating folders and file if needed) and migrates to `version`.
    /// - Parameter version: schema version to migrate to; tests use lower ones to build old files.
    public init(path: String, migrateTo version: Int = HistoryStore.latestVersion) throws {
        self.path = path
        db = try Self.schema.open(path, migrateTo: version)
    }

    /// The schema version stored in the file.
    public func schemaVersion() throws -> Int { try db.intPragma("user_version") }

    static let dateFormat: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    /// Stores a run and all its figures in one transaction; returns its id.
    @discardableResult
    public func insert(_ run: BenchRun) throws -> Int64 {
        try db.immediateTransaction {
            try db.prepare("INSERT INTO runs (kind, started_at, cpu, isa, cores, git_commit, command, interrupted) VALUES (?,?,?,?,?,?,?,?)")
                .run([.text(run.kind), .text(Self.dateFormat.string(from: run.startedAt)), .text(run.machine.cpu),
                      .text(run.machine.isa), .int(Int64(run.machine.cores)), .text(run.gitCommit), .text(run.command),
                      .int(run.interrupted ? 1 : 0)])
            let runID = db.lastInsertRowID
            if let figures = run.machine.figures, !figures.isEmpty {
                let machine = try db.prepare("INSERT INTO machine_figures (run_id, name, value) VALUES (?,?,?)")
                for (name, value) in figures.sorted(by: { $0.key < $1.key }) where value.isFinite {
                    try machine.run([.int(runID), .text(name), .double(value)])
                }
            }
            let m = try db.prepare("""
                INSERT INTO measurements (run_id, engine, model_path, model_sha256, model_type, threads, batch, halt, puzzles, repetitions)
                VALUES (?,?,?,?,?,?,?,?,?,?)
                """)
            let f = try db.prepare("INSERT INTO figures (measurement_id, name, value) VALUES (?,?,?)")
            for x in run.measurements {
                try m.run([.int(runID), .text(x.engine), .text(x.modelPath), .text(x.modelSHA256), .text(x.modelType),
                           .int(Int64(x.threads)), .int(Int64(x.batch)), .text(x.halt), .int(Int64(x.puzzles)), .int(Int64(x.repetitions))])
                let mid = db.lastInsertRowID
                for (name, value) in x.figures.sorted(by: { $0.key < $1.key }) where value.isFinite {
                    try f.run([.int(mid), .text(name), .double(value)])
                }
            }
            return runID
        }
    }

    /// Runs, oldest first, with their measurements.
    public func runs() throws -> [BenchRun] {
        let s = try db.prepare("SELECT id, kind, started_at, cpu, isa, cores, git_commit, command, interrupted FROM runs ORDER BY id")
        var out: [BenchRun] = []
        while try s.step() {
            let date = Self.dateFormat.date(from: s.text(2)) ?? Date(timeIntervalSince1970: 0)
            out.append(BenchRun(id: s.int(0), kind: s.text(1), startedAt: date,
                                machine: BenchMachine(cpu: s.text(3), isa: s.text(4), cores: Int(s.int(5))),
                                gitCommit: s.text(6), command: s.text(7), interrupted: s.int(8) != 0))
        }
        var index: [Int64: Int] = [:]
        for (i, r) in out.enumerated() { index[r.id!] = i }
        let mf = try db.prepare("SELECT run_id, name, value FROM machine_figures")
        while try mf.step() {
            guard let r = index[mf.int(0)] else { continue }
            out[r].machine.figures = (out[r].machine.figures ?? [:]).merging([mf.text(1): mf.double(2)]) { $1 }
        }
        let m = try db.prepare("""
            SELECT id, run_id, engine, model_path, model_sha256, model_type, threads, batch, halt, puzzles, repetitions
            FROM measurements ORDER BY id
            """)
        var measurementIndex: [Int64: (Int, Int)] = [:]
        while try m.step() {
            guard let r = index[m.int(1)] else { continue }
            measurementIndex[m.int(0)] = (r, out[r].measurements.count)
            out[r].measurements.append(BenchMeasurement(
                engine: m.text(2), modelPath: m.text(3), modelSHA256: m.text(4), modelType: m.text(5), threads: Int(m.int(6)),
                batch: Int(m.int(7)), halt: m.text(8), puzzles: Int(m.int(9)), repetitions: Int(m.int(10)), figures: [:]))
        }
        let f = try db.prepare("SELECT measurement_id, name, value FROM figures")
        while try f.step() {
            guard let (r, i) = measurementIndex[f.int(0)] else { continue }
            out[r].measurements[i].figures[f.text(1)] = f.double(2)
        }
        return out
    }

    public func run(id: Int64) throws -> BenchRun? {
        try runs().first { $0.id == id }
    }
}
