import Foundation

/// JSON as Recur writes it everywhere (solve's JSONL, bench figures, generate --json, the server):
/// JSON has no NaN or infinity, so those are written as the strings "NaN", "Infinity" and
/// "-Infinity" (the spellings Python's `json` module uses for them) rather than dropped or
/// failing a whole record.
public enum JSONOutput {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// One JSON object (a `JSONSerialization` tree) as a line of text, keys sorted.
    public static func line(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: finite(object), options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    /// The tree with every non-finite number replaced by its string.
    static func finite(_ value: Any) -> Any {
        switch value {
        case let d as Double where !d.isFinite: return name(d)
        case let f as Float where !f.isFinite: return name(Double(f))
        case let array as [Any]: return array.map(finite)
        case let object as [String: Any]: return object.mapValues(finite)
        default: return value
        }
    }

    private static func name(_ d: Double) -> String { d.isNaN ? "NaN" : d > 0 ? "Infinity" : "-Infinity" }
}
