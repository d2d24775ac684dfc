/// The `tojson` filter as transformers defines it: Python's `json.dumps` with
/// `ensure_ascii=False` (no HTML escaping, unlike jinja2's own `tojson`) and its options
/// `indent`, `separators`, `sort_keys`, `ensure_ascii`.
enum JinjaJSON {
    static func dumps(_ value: JinjaValue, _ args: JinjaArguments) throws -> String {
        let bound = try args.bind("tojson", ["ensure_ascii", "indent", "separators", "sort_keys"])
        let ensureASCII = bound[0]?.truthy ?? false
        var indent: String?
        switch bound[1] {
        case nil, .none?: indent = nil
        case .string(let s)?: indent = s
        case let v?: indent = String(repeating: " ", count: max(0, try v.requireInt("indent")))
        }
        var itemSeparator = indent == nil ? ", " : ",", keySeparator = ": "
        if let separators = bound[2], !isNone(separators) {
            let parts = try separators.iterate()
            guard parts.count == 2 else { throw JinjaFailure.runtime("separators must be a pair of strings") }
            itemSeparator = try parts[0].requireString("a separator")
            keySeparator = try parts[1].requireString("a separator")
        }
        let encoder = Encoder(ensureASCII: ensureASCII, indent: indent, itemSeparator: itemSeparator,
                              keySeparator: keySeparator, sortKeys: bound[3]?.truthy ?? false)
        var out = ""
        try encoder.encode(value, level: 0, into: &out)
        return out
    }

    private static func isNone(_ v: JinjaValue) -> Bool {
        if case .none = v { return true }
        return false
    }

    private struct Encoder {
        let ensureASCII: Bool
        let indent: String?
        let itemSeparator: String
        let keySeparator: String
        let sortKeys: Bool

        func encode(_ value: JinjaValue, level: Int, into out: inout String) throws {
            switch value {
            case .none: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .int(let i): out += String(i)
            case .double(let d): out += float(d)
            case .string(let s): string(s, into: &out)
            case .list(let items), .tuple(let items):
                try container("[", "]", items.count, level, into: &out) { i, out in
                    try encode(items[i], level: level + 1, into: &out)
                }
            case .dict(let d):
                var entries = try d.entries.map { (key: try key($0.key), value: $0.value) }
                if sortKeys { entries.sort { PyString.less($0.key, $1.key) } }
                try container("{", "}", entries.count, level, into: &out) { i, out in
                    string(entries[i].key, into: &out)
                    out += keySeparator
                    try encode(entries[i].value, level: level + 1, into: &out)
                }
            default:
                try value.requireDefined()
                throw JinjaFailure.runtime("Object of type \(value.typeName) is not JSON serializable")
            }
        }

        private func container(_ open: String, _ close: String, _ count: Int, _ level: Int, into out: inout String,
                               _ item: (Int, inout String) throws -> Void) throws {
            guard count > 0 else {
                out += open + close
                return
            }
            out += open
            let inner = indent.map { "\n" + String(repeating: $0, count: level + 1) }
            for i in 0 ..< count {
                if i > 0 { out += itemSeparator }
                if let inner { out += inner }
                try item(i, &out)
            }
            if let indent { out += "\n" + String(repeating: indent, count: level) }
            out += close
        }

        private func key(_ k: JinjaValue) throws -> String {
            switch k {
            case .string(let s): return s
            case .int(let i): return String(i)
            case .double(let d): return float(d)
            case .bool(let b): return b ? "true" : "false"
            case .none: return "null"
            default: throw JinjaFailure.runtime("keys must be str, int, float, bool or None, not \(k.typeName)")
            }
        }

        private func float(_ d: Double) -> String {
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            return PyString.floatRepr(d)
        }

        private func string(_ s: String, into out: inout String) {
            out += "\""
            for c in s.unicodeScalars {
                switch c {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                default:
                    if c.value < 0x20 || (ensureASCII && c.value > 0x7E) {
                        if c.value > 0xFFFF {
                            let v = c.value - 0x10000
                            out += hex4(0xD800 + (v >> 10)) + hex4(0xDC00 + (v & 0x3FF))
                        } else {
                            out += hex4(c.value)
                        }
                    } else {
                        out.unicodeScalars.append(c)
                    }
                }
            }
            out += "\""
        }

        private func hex4(_ v: UInt32) -> String {
            let h = String(v, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - h.count) + h
        }
    }
}
