import Foundation
import Runtime
import Storage

/// A rule-latent session's memory in SQLite (docs/rule-latent.md): sketches (the mean byte
/// embedding of a confident turn's examples, and z_slow after it) with hit counts, bounded, the
/// fewest-hit oldest sketch evicted first; and the session's state (z_slow, turn count, replay
/// RNG) so that a session resumes where it stopped. One writer at a time (each turn's writes are
/// one transaction); other processes may read it concurrently (WAL).
public final class RuleMemory {
    /// 'RCZM': tells a Recur rule memory apart from any other SQLite file.
    public static let applicationID = 0x5243_5A4D
    static let schema = VersionedSchema(
        applicationID: applicationID,
        migrations: [
            """
            PRAGMA application_id = \(applicationID);
            CREATE TABLE model (hidden INTEGER NOT NULL, latent INTEGER NOT NULL);
            CREATE TABLE sketches (
                id INTEGER PRIMARY KEY,
                key BLOB NOT NULL,
                z_slow BLOB NOT NULL,
                hits INTEGER NOT NULL,
                created_at TEXT NOT NULL
            );
            CREATE TABLE state (name TEXT PRIMARY KEY, value BLOB NOT NULL);
            """,
        ],
        tables: ["model", "sketches", "state"], kind: "Recur rule memory", hint: "pass another --memory file")

    public struct Sketch: Sendable, Equatable {
        public let id: Int64
        public let key: [Float]
        public let z: [Float]
        public var hits: Int
    }

    public let path: String
    public let capacity: Int
    /// Every sketch, in id (insertion) order.
    public private(set) var sketches: [Sketch] = []
    private let db: SQLiteDatabase
    private var nextID: Int64

    /// Opens (or creates) the memory at `path` for a model of `hidden` and `latent` sizes.
    public init(path: String, hidden: Int, latent: Int, capacity: Int) throws {
        guard capacity >= 1 else { throw StorageError("the memory capacity must be at least 1, got \(capacity)") }
        self.path = path
        self.capacity = capacity
        if FileManager.default.fileExists(atPath: path) {
            // Refuse a foreign file before SQLite opens it for writing.
            try Self.checkHeader(path)
        }
        db = try Self.schema.open(path)
        _ = try? db.execute("PRAGMA journal_mode = WAL")
        try db.execute("PRAGMA synchronous = NORMAL")
        let m = try db.prepare("SELECT hidden, latent FROM model")
        if try m.step() {
            let (h, k) = (Int(m.int(0)), Int(m.int(1)))
            guard h == hidden, k == latent else {
                throw StorageError("\(path): a rule memory of a model with hidden size \(h) and latent \(k), not \(hidden) and \(latent); the file was not changed")
            }
        } else {
            try db.prepare("INSERT INTO model (hidden, latent) VALUES (?, ?)").run([.int(Int64(hidden)), .int(Int64(latent))])
        }
        let s = try db.prepare("SELECT id, key, z_slow, hits FROM sketches ORDER BY id")
        while try s.step() {
            let key = Self.floats(s.blob(1)), z = Self.floats(s.blob(2))
            guard key.count == hidden, z.count == latent else {
                throw StorageError("\(path): sketch \(s.int(0)) holds \(key.count) + \(z.count) floats, not \(hidden) + \(latent); the memory is damaged")
            }
            sketches.append(Sketch(id: s.int(0), key: key, z: z, hits: Int(s.int(3))))
        }
        nextID = (sketches.last?.id ?? 0) + 1
    }

    /// A file that exists must start as SQLite does; anything else is refused untouched.
    private static func checkHeader(_ path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StorageError("\(path): cannot read the rule memory") }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 16)) ?? Data()
        if head.isEmpty { return }
        guard head.starts(with: Array("SQLite format 3\u{0}".utf8)) else {
            throw StorageError("\(path): not a Recur rule memory (not an SQLite database); pass another --memory file. The file was not changed")
        }
    }

    /// The session state stored under `name`, if any.
    public func state(_ name: String) throws -> [UInt8]? {
        let s = try db.prepare("SELECT value FROM state WHERE name = ?").bind([.text(name)])
        return try s.step() ? s.blob(0) : nil
    }

    /// The sketch whose key is most similar to `key` (cosine; the first in id order among
    /// equals), with that similarity; nil when the memory is empty or `key` is zero.
    public func nearest(_ key: [Float]) -> (index: Int, similarity: Float)? {
        let norm = Self.norm(key)
        guard norm > 0 else { return nil }
        var best: (Int, Float)?
        for (i, s) in sketches.enumerated() {
            let n = Self.norm(s.key)
            var dot: Float = 0
            for j in key.indices { dot += s.key[j] * key[j] }
            let similarity: Float = n > 0 ? dot / (n * norm) : -2
            if best == nil || similarity > best!.1 { best = (i, similarity) }
        }
        return best
    }

    /// One confident turn's writes, in one transaction: a hit for the retrieved sketch, the new
    /// sketch (evicting the fewest-hit oldest one when full), then `replay` hits at indices drawn
    /// from `rng`; and the session's state. Returns the evicted sketch's id.
    @discardableResult
    public func commitConfidentTurn(retrieved: Int?, key: [Float], zSlow: [Float], replay: Int, rng: inout SplitMixRandom,
                                    state: [String: [UInt8]]) throws -> Int64? {
        var evicted: Int64?
        var touched: Set<Int64> = []
        if let retrieved {
            sketches[retrieved].hits += 1
            touched.insert(sketches[retrieved].id)
        }
        if sketches.count >= capacity, let victim = sketches.indices.min(by: { (sketches[$0].hits, sketches[$0].id) < (sketches[$1].hits, sketches[$1].id) }) {
            evicted = sketches[victim].id
            touched.remove(sketches[victim].id)
            sketches.remove(at: victim)
        }
        let sketch = Sketch(id: nextID, key: key, z: zSlow, hits: 0)
        sketches.append(sketch)
        nextID += 1
        for _ in 0..<replay {
            let i = rng.index(sketches.count)
            sketches[i].hits += 1
            touched.insert(sketches[i].id)
        }
        try db.immediateTransaction {
            if let evicted { try db.prepare("DELETE FROM sketches WHERE id = ?").run([.int(evicted)]) }
            try db.prepare("INSERT INTO sketches (id, key, z_slow, hits, created_at) VALUES (?, ?, ?, ?, ?)")
                .run([.int(sketch.id), .blob(Self.bytes(key)), .blob(Self.bytes(zSlow)), .int(0), .text(ISO8601DateFormatter().string(from: Date()))])
            let update = try db.prepare("UPDATE sketches SET hits = ? WHERE id = ?")
            for s in sketches where touched.contains(s.id) { try update.run([.int(Int64(s.hits)), .int(s.id)]) }
            try saveState(state)
        }
        return evicted
    }

    /// Stores the session's state alone (a turn that was not confident).
    public func save(state: [String: [UInt8]]) throws {
        try db.immediateTransaction { try saveState(state) }
    }

    private func saveState(_ state: [String: [UInt8]]) throws {
        let put = try db.prepare("INSERT INTO state (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
        for (name, value) in state.sorted(by: { $0.key < $1.key }) { try put.run([.text(name), .blob(value)]) }
    }

    /// The file's size in bytes (the database plus its write-ahead log).
    public var fileBytes: Int {
        [path, path + "-wal"].compactMap { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? nil }.reduce(0, +)
    }

    static func norm(_ v: [Float]) -> Float { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    static func bytes(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    static func floats(_ b: [UInt8]) -> [Float] {
        b.withUnsafeBytes { raw in (0..<(b.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }
}

/// SplitMix64, as the reference's session draws replay indices: `index(n) = next() % n`.
public struct SplitMixRandom: Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func index(_ count: Int) -> Int { Int(next() % UInt64(count)) }
}
