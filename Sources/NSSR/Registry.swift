import CSQLite
import Foundation
import Storage

/// The function registry of docs/nssr.md in SQLite: the 22 primitives (ids 1...22), then learned
/// functions in creation order. Loading reads the file through a read-only connection and
/// validates every composition; registering a function opens the file for writing and inserts
/// it in one `BEGIN IMMEDIATE` transaction. The file is in WAL mode, so readers (a search) go on
/// while another process registers.
public final class Registry {
    /// 'RCNS': tells a Recur NSSR registry apart from any other SQLite file.
    public static let applicationID = 0x5243_4E53
    public static let schemaVersion = 1
    static let kind = "Recur NSSR registry"
    static let hint = "pass another --registry file"

    static func schema(createdAt: String) -> VersionedSchema {
        let primitives = Primitive.allCases.map {
            "INSERT INTO functions (id, name, arity, layer, composition, constants, const_mode, created_at) VALUES (\($0.rawValue), '\($0.name)', \($0.arity), 0, NULL, NULL, 'multiplicative', '\(createdAt)');"
        }
        return VersionedSchema(
            applicationID: applicationID,
            migrations: [
                """
                PRAGMA application_id = \(applicationID);
                CREATE TABLE functions (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    arity INTEGER NOT NULL,
                    layer INTEGER NOT NULL,
                    composition TEXT,
                    constants TEXT,
                    const_mode TEXT NOT NULL DEFAULT 'multiplicative' CHECK (const_mode IN ('multiplicative', 'additive')),
                    created_at TEXT NOT NULL
                );
                CREATE INDEX functions_layer ON functions(layer);
                """ + primitives.joined(separator: "\n"),
            ],
            tables: ["functions"], kind: kind, hint: hint)
    }

    public let path: String
    /// False for a registry opened only to be read (the shipped default): `register` refuses.
    public let writable: Bool
    public private(set) var table: FunctionTable

    public var functions: [RegisteredFunction] { table.functions }

    /// Opens the registry at `path`, which must exist; `writable` allows `register`.
    public init(path: String, writable: Bool = false) throws {
        self.path = path
        self.writable = writable
        table = try Self.load(path)
    }

    /// Creates a new registry holding the primitives at `path` (its folder too). An existing file
    /// is never overwritten.
    @discardableResult
    public static func create(path: String) throws -> Registry {
        if FileManager.default.fileExists(atPath: path) {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            if size != 0 {
                throw NSSRError("\(path) already exists; init creates a new registry and never overwrites a file. The file was not changed")
            }
        }
        let db = try schema(createdAt: Self.now()).open(path)
        _ = try? db.execute("PRAGMA journal_mode = WAL")
        return try Registry(path: path, writable: true)
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    // MARK: Loading

    /// A file that exists must start as SQLite does; anything else is refused untouched.
    static func checkHeader(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw NSSRError("\(path): no such registry; create one with `recur nssr init \(path)`")
        }
        guard !isDirectory.boolValue, let handle = FileHandle(forReadingAtPath: path) else {
            throw NSSRError("\(path): cannot read the \(kind)")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 16)) ?? Data()
        if head.isEmpty {
            throw NSSRError("\(path): an empty file, not a \(kind); create one with `recur nssr init` or \(hint). The file was not changed")
        }
        guard head.starts(with: Array("SQLite format 3\u{0}".utf8)) else {
            throw NSSRError("\(path): not a \(kind) (not an SQLite database); \(hint). The file was not changed")
        }
    }

    /// Reads and validates every function of the file (read-only).
    static func load(_ path: String) throws -> FunctionTable {
        try checkHeader(path)
        let db = try ReadOnlyDatabase(path: path)
        let app = try db.intPragma("application_id")
        guard app == applicationID else {
            throw NSSRError(app == 0
                ? "\(path): an SQLite database without Recur's application id, not a \(kind); \(hint). The file was not changed"
                : "\(path): an SQLite database of another program (application_id \(app)), not a \(kind); the file was not changed")
        }
        let version = try db.intPragma("user_version")
        guard version <= schemaVersion else {
            throw NSSRError("\(path): \(kind) schema version \(version) is newer than this recur understands (\(schemaVersion)); use a newer recur. The file was not changed")
        }
        guard version == schemaVersion else {
            throw NSSRError("\(path): a \(kind) without a schema version (user_version \(version)); the file was not changed")
        }
        var functions: [RegisteredFunction] = []
        try db.query("SELECT id, name, arity, layer, composition, constants, const_mode, created_at FROM functions ORDER BY id") { row in
            let id = Int(row.int(0)), name = row.text(1) ?? ""
            let what = "function '\(name)' (id \(id))"
            var steps: [CompositionStep]?
            if let text = row.text(4) {
                guard let parsed = CompositionJSON.parse(text) else {
                    throw NSSRError("\(path): \(what): the composition \(text) is not a list of [child_id, [arg, ...]] or [child_id, [arg, ...], body_id] steps")
                }
                steps = parsed
            }
            var constant: Double?
            if let text = row.text(5) {
                guard let c = CompositionJSON.parseConstant(text) else {
                    throw NSSRError("\(path): \(what): the constants \(text) are not a list of one finite number")
                }
                constant = c
            }
            let modeText = row.text(6) ?? ""
            guard let mode = ConstMode(rawValue: modeText) else {
                throw NSSRError("\(path): \(what): const_mode '\(modeText)' is neither multiplicative nor additive")
            }
            functions.append(RegisteredFunction(id: id, name: name, arity: Int(row.int(2)), layer: Int(row.int(3)), composition: steps,
                                                constant: constant, constMode: mode, createdAt: row.text(7) ?? ""))
        }
        guard functions.count >= Primitive.allCases.count else {
            throw NSSRError("\(path): the \(kind) holds \(functions.count) functions, fewer than the \(Primitive.allCases.count) primitives")
        }
        do {
            return try FunctionTable(functions)
        } catch let e as NSSRError {
            throw NSSRError("\(path): \(e.description)")
        }
    }

    /// Reads the file again (functions another process registered since).
    public func reload() throws { table = try Self.load(path) }

    // MARK: Model check

    /// Refuses a registry that does not start with the `names` a model's heads were trained for.
    public func check(modelFunctions names: [String]) throws {
        do {
            try table.check(modelFunctions: names)
        } catch let e as NSSRError {
            throw NSSRError("\(path): \(e.description)")
        }
    }

    // MARK: Registering

    /// Letters, digits and _, not starting with a digit (ASCII).
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    /// Stores a learned function (layer = highest child or body layer + 1) in one transaction and
    /// returns it. `steps` reads inputs `0..<arity`.
    @discardableResult
    public func register(name: String, arity: Int, steps: [CompositionStep], constant: Double? = nil,
                         constMode: ConstMode = .multiplicative) throws -> RegisteredFunction {
        guard writable else {
            throw NSSRError("\(path): the registry was opened read-only; name a registry with --registry to register functions")
        }
        guard Self.isValidName(name) else {
            throw NSSRError("'\(name)' is not a function name: use letters, digits and _, starting with a letter or _")
        }
        if let existing = table.function(named: name) {
            throw NSSRError("\(path): a function named '\(name)' already exists (id \(existing.id)); the registry was not changed")
        }
        if let constant, !constant.isFinite {
            throw NSSRError("the constant of '\(name)' is not finite (\(constant))")
        }
        // Validate against the table as it is (a step naming the new function itself is unknown),
        // so that nothing invalid is ever written.
        let probe = RegisteredFunction(id: table.count + 1, name: name, arity: arity, layer: 1, composition: steps, constant: constant,
                                       constMode: constMode, createdAt: Self.now())
        try FunctionTable.check(probe, in: table.functions)
        let candidate = RegisteredFunction(id: probe.id, name: name, arity: arity, layer: table.layer(of: steps), composition: steps,
                                           constant: constant, constMode: constMode, createdAt: probe.createdAt)
        try Self.checkHeader(path)
        let db = try Self.schema(createdAt: candidate.createdAt).open(path)
        _ = try? db.execute("PRAGMA journal_mode = WAL")
        let id: Int64 = try db.immediateTransaction {
            let taken = try db.prepare("SELECT id FROM functions WHERE name = ?").bind([.text(name)])
            if try taken.step() {
                throw NSSRError("\(path): a function named '\(name)' already exists (id \(taken.int(0))); the registry was not changed")
            }
            try db.prepare("INSERT INTO functions (name, arity, layer, composition, constants, const_mode, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
                .run([.text(name), .int(Int64(arity)), .int(Int64(candidate.layer)), .text(CompositionJSON.encode(steps)),
                      constant.map { .text(CompositionJSON.encodeConstant($0)) } ?? .null, .text(constMode.rawValue), .text(candidate.createdAt)])
            return db.lastInsertRowID
        }
        try reload()
        guard table.contains(id: Int(id)) else { throw NSSRError("\(path): function '\(name)' was registered but cannot be read back") }
        return table[Int(id)]
    }
}

/// A read-only SQLite connection: loading never writes (a shipped registry stays as it is).
final class ReadOnlyDatabase {
    let path: String
    private var handle: OpaquePointer?

    init(path: String) throws {
        self.path = path
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nil)
        guard rc == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            handle = nil
            throw NSSRError("\(path): cannot open the \(Registry.kind): \(message)")
        }
        sqlite3_busy_timeout(handle, 30_000)
    }

    deinit { sqlite3_close(handle) }

    private func failure(_ what: String) -> NSSRError {
        let code = sqlite3_extended_errcode(handle) & 0xff
        let message = String(cString: sqlite3_errmsg(handle))
        if code == SQLITE_NOTADB {
            return NSSRError("\(path): not a \(Registry.kind) (not an SQLite database: \(message)); \(Registry.hint). The file was not changed")
        }
        if code == SQLITE_CORRUPT {
            return NSSRError("\(path): the \(Registry.kind) is corrupt (\(message)); it was left untouched")
        }
        return NSSRError("\(path): \(what): \(message)")
    }

    struct Row {
        let stmt: OpaquePointer
        func int(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }
        func text(_ column: Int32) -> String? {
            guard sqlite3_column_type(stmt, column) != SQLITE_NULL, let p = sqlite3_column_text(stmt, column) else { return nil }
            return String(cString: p)
        }
    }

    func query(_ sql: String, _ each: (Row) throws -> Void) throws {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            if sqlite3_errmsg(handle).map({ String(cString: $0) })?.contains("no such table") == true {
                throw NSSRError("\(path): an SQLite file with Recur's registry id but no functions table; the file was not changed")
            }
            throw failure("cannot read the functions")
        }
        defer { sqlite3_finalize(stmt) }
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw failure("cannot read the functions") }
            try each(Row(stmt: stmt))
        }
    }

    func intPragma(_ name: String) throws -> Int {
        var value = 0
        try query("PRAGMA \(name)") { value = Int($0.int(0)) }
        return value
    }
}
