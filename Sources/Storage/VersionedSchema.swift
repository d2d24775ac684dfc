import Foundation

/// A versioned SQLite schema of one of Recur's files: marked with `PRAGMA application_id`,
/// versioned with `PRAGMA user_version`, migrated in order inside one `BEGIN IMMEDIATE`
/// transaction. A file that is not SQLite, belongs to another program, lacks the tables its
/// version promises, or was written by a newer schema is refused with an error and never modified:
/// nothing is ever dropped or recreated.
public struct VersionedSchema: Sendable {
    public let applicationID: Int
    /// Migration `i` takes the schema from version `i` to `i + 1`.
    public let migrations: [String]
    /// Tables every file of this kind has from version 1 on.
    public let tables: Set<String>
    /// What the file is, for errors: "Recur benchmark history".
    public let kind: String
    /// How the user picks another file: "pass another --history file".
    public let hint: String

    public init(applicationID: Int, migrations: [String], tables: Set<String>, kind: String, hint: String) {
        self.applicationID = applicationID
        self.migrations = migrations
        self.tables = tables
        self.kind = kind
        self.hint = hint
    }

    public var latestVersion: Int { migrations.count }

    /// Opens `path` (creating its folder and the file if needed) and migrates it to `version`
    /// (the latest when nil; tests build old files with lower ones).
    public func open(_ path: String, migrateTo version: Int? = nil) throws -> SQLiteDatabase {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw StorageError("\(dir.path): cannot create the folder for the \(kind): \(error.localizedDescription)")
        }
        let db = try SQLiteDatabase(path: path, kind: kind, hint: hint)
        try db.immediateTransaction { try migrate(db, to: min(max(version ?? latestVersion, 0), latestVersion)) }
        return db
    }

    private func migrate(_ db: SQLiteDatabase, to target: Int) throws {
        let path = db.path
        let version = try db.intPragma("user_version")
        let app = try db.intPragma("application_id")
        if app != 0 && app != applicationID {
            throw StorageError("\(path): an SQLite database of another program (application_id \(app)), not a \(kind); the file was not changed")
        }
        if version > latestVersion {
            throw StorageError("\(path): \(kind) schema version \(version) is newer than this recur understands (\(latestVersion)); use a newer recur or \(hint.replacingOccurrences(of: "pass ", with: "")). The file was not changed")
        }
        let found = try Self.tableNames(db)
        if version == 0 {
            if !found.isEmpty {
                throw StorageError("\(path): an SQLite database with tables \(found.sorted().joined(separator: ", ")) but no Recur schema version; not a \(kind), the file was not changed")
            }
        } else if app != applicationID || !found.isSuperset(of: tables) {
            throw StorageError("\(path): SQLite user_version \(version) but not the tables of a \(kind) (found: \(found.sorted().joined(separator: ", "))); the file was not changed")
        }
        guard version < target else { return }
        for v in version..<target {
            try db.execute(migrations[v])
            try db.execute("PRAGMA user_version = \(v + 1)")
        }
    }

    private static func tableNames(_ db: SQLiteDatabase) throws -> Set<String> {
        let s = try db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        var names: Set<String> = []
        while try s.step() { names.insert(s.text(0)) }
        return names
    }
}
