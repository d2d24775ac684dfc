import CSQLite
import Foundation

/// A failure of one of Recur's SQLite files, naming the file and what SQLite said.
public struct StorageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The few SQLite calls Recur's stores (the bench history, the rule memory) need, with errors
/// that name the file and what kind of file it should have been.
///
/// One connection per `SQLiteDatabase`; not shared between threads (each writer opens its own,
/// which is how SQLite's file locking keeps concurrent writers apart).
public final class SQLiteDatabase {
    public let path: String
    /// What the file is, for errors: "Recur benchmark history".
    public let kind: String
    /// How the user picks another file: "pass another --history file".
    public let hint: String
    private var handle: OpaquePointer?

    public init(path: String, kind: String, hint: String, busyTimeoutMilliseconds: Int32 = 30_000) throws {
        self.path = path
        self.kind = kind
        self.hint = hint
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            handle = nil
            throw StorageError("\(path): cannot open the \(kind): \(message)")
        }
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
    }

    deinit { sqlite3_close(handle) }

    func error(_ what: String) -> StorageError {
        let code = sqlite3_extended_errcode(handle)
        let message = String(cString: sqlite3_errmsg(handle))
        if code & 0xff == SQLITE_NOTADB {
            return StorageError("\(path): not a \(kind) (not an SQLite database: \(message)); \(hint)")
        }
        if code & 0xff == SQLITE_CORRUPT {
            return StorageError("\(path): the \(kind) is corrupt (\(message)); it was left untouched")
        }
        return StorageError("\(path): \(what): \(message)")
    }

    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &err) != SQLITE_OK {
            sqlite3_free(err)
            throw error("cannot run '\(sql.prefix(60))'")
        }
    }

    public func prepare(_ sql: String) throws -> SQLiteStatement {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw error("cannot prepare '\(sql.prefix(60))'")
        }
        return SQLiteStatement(db: self, stmt: stmt)
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Runs `body` inside `BEGIN IMMEDIATE`: the write lock is taken up front, so two writers
    /// queue on the busy timeout instead of one failing with SQLITE_BUSY halfway through.
    public func immediateTransaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    public func intPragma(_ name: String) throws -> Int {
        let s = try prepare("PRAGMA \(name)")
        guard try s.step() else { return 0 }
        return Int(s.int(0))
    }
}

/// A prepared statement; values bind by 1-based index, columns read by 0-based index.
public final class SQLiteStatement {
    private let db: SQLiteDatabase
    private let stmt: OpaquePointer

    fileprivate init(db: SQLiteDatabase, stmt: OpaquePointer) {
        self.db = db
        self.stmt = stmt
    }

    deinit { sqlite3_finalize(stmt) }

    @discardableResult
    public func bind(_ values: [SQLiteValue]) throws -> SQLiteStatement {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
        for (i, v) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(stmt, index)
            case .int(let x): rc = sqlite3_bind_int64(stmt, index, x)
            case .double(let x): rc = sqlite3_bind_double(stmt, index, x)
            case .text(let x): rc = sqlite3_bind_text(stmt, index, x, -1, recur_sqlite_transient())
            case .blob(let x): rc = x.withUnsafeBytes { sqlite3_bind_blob(stmt, index, $0.baseAddress, Int32($0.count), recur_sqlite_transient()) }
            }
            guard rc == SQLITE_OK else { throw db.error("cannot bind value \(index)") }
        }
        return self
    }

    /// True while a row is available; false when done.
    public func step() throws -> Bool {
        switch sqlite3_step(stmt) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw db.error("statement failed")
        }
    }

    public func run(_ values: [SQLiteValue] = []) throws {
        try bind(values)
        while try step() {}
    }

    public func int(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }
    public func double(_ column: Int32) -> Double { sqlite3_column_double(stmt, column) }
    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(stmt, column) == SQLITE_NULL }
    public func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(stmt, column))
        guard count > 0, let p = sqlite3_column_blob(stmt, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }
    public func text(_ column: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, column) else { return "" }
        return String(cString: p)
    }
}

public enum SQLiteValue {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
}
