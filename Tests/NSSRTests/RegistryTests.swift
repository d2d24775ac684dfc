import Foundation
import NSSR
import Storage
import TestSupport
import XCTest

/// The SQLite registry: the schema of docs/nssr.md, reopening, foreign files refused untouched,
/// a reader beside a writer, and every kind of bad composition refused naming the function.
final class RegistryTests: XCTestCase {
    /// A raw connection, as another program (or a damaged file) would write.
    func raw(_ url: URL) throws -> SQLiteDatabase { try SQLiteDatabase(path: url.path, kind: "test", hint: "") }

    func insert(_ db: SQLiteDatabase, id: Int? = nil, _ name: String, arity: Int, layer: Int = 1, composition: String?, constants: String? = nil) throws {
        try db.prepare("INSERT INTO functions (id, name, arity, layer, composition, constants, const_mode, created_at) VALUES (?, ?, ?, ?, ?, ?, 'multiplicative', '2026-01-01T00:00:00Z')")
            .run([id.map { .int(Int64($0)) } ?? .null, .text(name), .int(Int64(arity)), .int(Int64(layer)),
                  composition.map { .text($0) } ?? .null, constants.map { .text($0) } ?? .null])
    }

    func testSchemaApplicationIDAndPrimitives() throws {
        let (registry, url) = try scratchRegistry()
        XCTAssertEqual(registry.functions.count, 22)
        XCTAssertEqual(registry.functions.map(\.name), Primitive.allCases.map(\.name))
        XCTAssertTrue(registry.functions.allSatisfy { $0.layer == 0 && $0.composition == nil && $0.constant == nil })
        let db = try raw(url)
        XCTAssertEqual(try db.intPragma("application_id"), 0x5243_4E53)
        XCTAssertEqual(try db.intPragma("user_version"), 1)
        XCTAssertEqual(Registry.applicationID, 0x5243_4E53)
        let s = try db.prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        var objects: [String] = []
        while try s.step() { objects.append("\(s.text(0)) \(s.text(1))") }
        XCTAssertEqual(objects, ["table functions", "index functions_layer"])
        let columns = try db.prepare("PRAGMA table_info(functions)")
        var names: [String] = []
        while try columns.step() { names.append(columns.text(1)) }
        XCTAssertEqual(names, ["id", "name", "arity", "layer", "composition", "constants", "const_mode", "created_at"])
        let created = try db.prepare("SELECT created_at, const_mode FROM functions WHERE id = 1")
        XCTAssertTrue(try created.step())
        XCTAssertNotNil(ISO8601DateFormatter().date(from: created.text(0)), "ISO 8601: \(created.text(0))")
        XCTAssertTrue(created.text(0).hasSuffix("Z"), "UTC")
        XCTAssertEqual(created.text(1), "multiplicative")
        XCTAssertEqual(try db.prepare("PRAGMA journal_mode").step(), true)
        let mode = try db.prepare("PRAGMA journal_mode")
        _ = try mode.step()
        XCTAssertEqual(mode.text(0), "wal")
        XCTAssertThrows(try db.execute("UPDATE functions SET const_mode = 'other' WHERE id = 1"), mentioning: ["CHECK"], "const_mode is checked")
    }

    func testRegisterReopenAndLayers() throws {
        let (registry, url) = try scratchRegistry()
        let square = try registry.register(name: "SQUARE", arity: 1, steps: [CompositionStep(6, [0, 0])])
        XCTAssertEqual(square.id, 23)
        XCTAssertEqual(square.layer, 1)
        let quartic = try registry.register(name: "QUARTIC", arity: 1, steps: [CompositionStep(23, [0]), CompositionStep(23, [1])])
        XCTAssertEqual(quartic.layer, 2, "max child layer + 1")
        let ke = try registry.register(name: "KE", arity: 2, steps: [CompositionStep(23, [1]), CompositionStep(6, [0, 2])], constant: 0.5)
        XCTAssertEqual(ke.layer, 2)
        let counted = try registry.register(name: "MULBYLOOP", arity: 2, steps: [CompositionStep(19, [0, -1, 1], body: 4)])
        XCTAssertEqual(counted.layer, 1)
        let reopened = try Registry(path: url.path)
        XCTAssertEqual(reopened.functions, registry.functions)
        XCTAssertEqual(reopened.functions.map(\.name).suffix(4), ["SQUARE", "QUARTIC", "KE", "MULBYLOOP"])
        XCTAssertEqual(try reopened.table.evaluate(24, rows: [[3], [-2]]), [81, 16])
        XCTAssertEqual(try reopened.table.evaluate(25, rows: [[2, 3], [4, 1]]), [9, 2])
        XCTAssertEqual(try reopened.table.evaluate(26, rows: [[4, 2.5], [0, 3]]), [10, 0])
        XCTAssertEqual(reopened.table.expression(of: reopened.functions[24]), "MUL(MUL(a, SQUARE(b)), 0.5)")
        XCTAssertEqual(reopened.table.expression(of: reopened.functions[25]), "LOOP[ADD](a, 0, b)")
        let db = try raw(url)
        let s = try db.prepare("SELECT composition, constants, layer FROM functions WHERE name = 'KE'")
        XCTAssertTrue(try s.step())
        XCTAssertEqual(s.text(0), "[[23, [1]], [6, [0, 2]]]", "spaced as json.dumps")
        XCTAssertEqual(s.text(1), "[0.5]")
        XCTAssertEqual(s.int(2), 2)
        XCTAssertEqual(reopened.table.cost[quartic.id - 1], 2)
        XCTAssertEqual(reopened.table.cost[ke.id - 1], 2)
    }

    func testRegisterRefusals() throws {
        let (registry, url) = try scratchRegistry()
        try registry.register(name: "SQUARE", arity: 1, steps: [CompositionStep(6, [0, 0])])
        let before = try Data(contentsOf: url)
        XCTAssertThrows(try registry.register(name: "SQUARE", arity: 1, steps: [CompositionStep(6, [0, 0])]), mentioning: ["SQUARE", "already exists"])
        XCTAssertThrows(try registry.register(name: "ADD", arity: 1, steps: [CompositionStep(6, [0, 0])]), mentioning: ["ADD", "already exists"])
        XCTAssertThrows(try registry.register(name: "two words", arity: 1, steps: [CompositionStep(6, [0, 0])]), mentioning: ["not a function name"])
        XCTAssertThrows(try registry.register(name: "BAD", arity: 1, steps: [CompositionStep(6, [0, 5])]), mentioning: ["'BAD'", "value 5"])
        XCTAssertThrows(try registry.register(name: "SELF", arity: 1, steps: [CompositionStep(24, [0])]), mentioning: ["'SELF'", "id 24"])
        XCTAssertThrows(try registry.register(name: "NOBODY", arity: 3, steps: [CompositionStep(19, [0, 1, 2])]), mentioning: ["'NOBODY'", "without a body"])
        XCTAssertThrows(try registry.register(name: "EMPTY", arity: 1, steps: []), mentioning: ["'EMPTY'", "empty"])
        XCTAssertThrows(try registry.register(name: "INF", arity: 1, steps: [CompositionStep(6, [0, 0])], constant: .infinity), mentioning: ["not finite"])
        XCTAssertEqual(try Registry(path: url.path).functions.count, 23, "nothing was written")
        XCTAssertEqual(try Data(contentsOf: url), before)
        let readOnly = try Registry(path: url.path)
        XCTAssertThrows(try readOnly.register(name: "CUBE", arity: 1, steps: [CompositionStep(6, [0, 0])]), mentioning: ["read-only"])
    }

    func testMissingAndForeignFilesAreRefusedUntouched() throws {
        let dir = try Repo.temporaryDirectory("recur-nssr")
        let missing = dir.appendingPathComponent("none.sqlite").path
        XCTAssertThrows(try Registry(path: missing), mentioning: ["no such registry", "recur nssr init"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "loading never creates a file")

        // Another program's SQLite file: its own application id and table.
        let foreign = dir.appendingPathComponent("foreign.sqlite")
        do {
            let db = try raw(foreign)
            try db.execute("PRAGMA application_id = 1234; CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('keep me');")
        }
        // An SQLite file with no application id, and a text file.
        let plain = dir.appendingPathComponent("plain.sqlite")
        do { try raw(plain).execute("CREATE TABLE functions (id INTEGER PRIMARY KEY, name TEXT)") }
        let text = dir.appendingPathComponent("text.sqlite")
        try Data("not a database at all, just some text\n".utf8).write(to: text)
        let empty = dir.appendingPathComponent("empty.sqlite")
        try Data().write(to: empty)
        for (url, says) in [(foreign, "another program"), (plain, "application id"), (text, "not an SQLite database"), (empty, "empty file")] {
            let before = try Data(contentsOf: url)
            XCTAssertThrows(try Registry(path: url.path), mentioning: [url.path, says], url.lastPathComponent)
            XCTAssertThrows(try Registry(path: url.path, writable: true), mentioning: [says], url.lastPathComponent)
            if url != empty {
                XCTAssertThrows(try Registry.create(path: url.path), mentioning: ["already exists"], url.lastPathComponent)
            }
            XCTAssertEqual(try Data(contentsOf: url), before, "\(url.lastPathComponent) left byte-identical")
            XCTAssertFalse(FileManager.default.fileExists(atPath: url.path + "-wal"), "\(url.lastPathComponent): no WAL created")
        }
        // A registry of a newer schema.
        let (_, newer) = try scratchRegistry()
        try raw(newer).execute("PRAGMA user_version = 2")
        XCTAssertThrows(try Registry(path: newer.path), mentioning: ["schema version 2 is newer"])
        // init on an empty file is fine
        XCTAssertEqual(try Registry.create(path: empty.path).functions.count, 22)
    }

    func testReaderGoesOnWhileAWriterHoldsTheLock() throws {
        let (registry, url) = try scratchRegistry()
        let writer = try raw(url)
        try writer.execute("BEGIN IMMEDIATE")
        try insert(writer, "SQUARE", arity: 1, composition: "[[6, [0, 0]]]")
        let start = Date()
        let reader = try Registry(path: url.path)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "the reader did not wait for the writer")
        XCTAssertEqual(reader.functions.count, 22, "the uncommitted function is not seen")
        // A second writer queues on the lock while a search reads.
        let done = expectation(description: "registered")
        DispatchQueue.global().async {
            do {
                let other = try Registry(path: url.path, writable: true)
                try other.register(name: "CUBE", arity: 1, steps: [CompositionStep(6, [0, 0]), CompositionStep(6, [0, 1])])
            } catch {
                XCTFail("\(error)")
            }
            done.fulfill()
        }
        Thread.sleep(forTimeInterval: 0.3)
        try writer.execute("COMMIT")
        wait(for: [done], timeout: 30)
        try reader.reload()
        XCTAssertEqual(reader.functions.suffix(2).map(\.name), ["SQUARE", "CUBE"])
        XCTAssertEqual(try reader.table.evaluate(24, rows: [[2]]), [8])
        _ = registry
    }

    /// Each kind of bad composition, written by hand, is refused on load naming the function.
    func testCompositionValidation() throws {
        let cases: [(String, Int, String?, String?, [String])] = [
            ("UNKNOWN", 1, "[[99, [0]]]", nil, ["'UNKNOWN'", "id 99", "not in the registry"]),
            ("ARITY", 1, "[[6, [0]]]", nil, ["'ARITY'", "MUL (arity 2) with 1 argument"]),
            ("RANGE", 1, "[[6, [0, 7]]]", nil, ["'RANGE'", "value 7", "out of range"]),
            ("NEGATIVE", 1, "[[6, [0, -2]]]", nil, ["'NEGATIVE'", "value -2", "out of range"]),
            ("FORWARD", 1, "[[6, [0, 2]], [7, [0]]]", nil, ["'FORWARD'", "value 2", "forward"]),
            ("EMPTY", 1, "[]", nil, ["'EMPTY'", "empty"]),
            ("BODYMISUSE", 2, "[[4, [0, 1], 6]]", nil, ["'BODYMISUSE'", "body", "not an iteration primitive"]),
            ("NOBODY", 3, "[[19, [0, 1, 2]]]", nil, ["'NOBODY'", "without a body"]),
            ("BODYARITY", 3, "[[19, [0, 1, 2], 3]]", nil, ["'BODYARITY'", "arity 2"]),
            ("LOOPBODY", 3, "[[19, [0, 1, 2], 21]]", nil, ["'LOOPBODY'", "itself an iteration primitive"]),
            ("NOTJSON", 1, "[[6, [0, 0]", nil, ["'NOTJSON'", "not a list"]),
            ("SHAPE", 1, "{\"a\": 1}", nil, ["'SHAPE'", "not a list"]),
            ("FRACTION", 1, "[[6, [0, 0.5]]]", nil, ["'FRACTION'", "not a list"]),
            ("CONSTANTS", 1, "[[6, [0, 0]]]", "[1, 2]", ["'CONSTANTS'", "constants"]),
            ("NOCOMPOSITION", 1, nil, nil, ["'NOCOMPOSITION'", "no composition"]),
        ]
        for (name, arity, composition, constants, mentions) in cases {
            let (_, url) = try scratchRegistry()
            try insert(try raw(url), name, arity: arity, composition: composition, constants: constants)
            XCTAssertThrows(try Registry(path: url.path), mentioning: mentions + [url.path], name)
        }
        // A cycle through learned functions: A calls B, B calls A.
        let (_, url) = try scratchRegistry()
        let db = try raw(url)
        try insert(db, "A", arity: 1, composition: "[[24, [0]]]")
        try insert(db, "B", arity: 1, composition: "[[23, [0]]]")
        XCTAssertThrows(try Registry(path: url.path), mentioning: ["'A'", "reaches itself", "A -> B -> A"], "cycle")
        // A function calling itself.
        let (_, url2) = try scratchRegistry()
        try insert(try raw(url2), "SELF", arity: 1, composition: "[[6, [0, 0]], [23, [1]]]")
        XCTAssertThrows(try Registry(path: url2.path), mentioning: ["'SELF'", "reaches itself"], "self")
        // A primitive that is not where it should be.
        let (_, url3) = try scratchRegistry()
        try raw(url3).execute("UPDATE functions SET name = 'PLUS' WHERE id = 4")
        XCTAssertThrows(try Registry(path: url3.path), mentioning: ["'PLUS'", "ADD"], "primitive")
        // A gap in the ids.
        let (_, url4) = try scratchRegistry()
        try insert(try raw(url4), id: 30, "GAP", arity: 1, composition: "[[6, [0, 0]]]")
        XCTAssertThrows(try Registry(path: url4.path), mentioning: ["'GAP'", "without gaps"], "gap")
    }

    func testModelCheck() throws {
        let (registry, _) = try scratchRegistry()
        let names = Primitive.allCases.map(\.name)
        XCTAssertNoThrow(try registry.check(modelFunctions: names))
        XCTAssertNoThrow(try registry.check(modelFunctions: Array(names.prefix(18))))
        XCTAssertThrows(try registry.check(modelFunctions: names + ["SQUARE"]), mentioning: ["22 functions", "trained for 23", "'SQUARE'"])
        var swapped = names
        swapped.swapAt(3, 4)
        XCTAssertThrows(try registry.check(modelFunctions: swapped), mentioning: ["id 4", "'ADD'", "'SUB'"])
    }
}
