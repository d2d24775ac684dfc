import Foundation

/// The filters chat templates use, with jinja2's signatures and edge cases (Undefined input,
/// empty sequences). Filters outside this list fail when the template is parsed.
enum JinjaFilters {
    static let supported: Set<String> = [
        "abs", "capitalize", "count", "d", "default", "first", "float", "int", "items", "join", "last",
        "length", "list", "lower", "map", "reject", "rejectattr", "replace", "reverse", "safe", "select",
        "selectattr", "string", "title", "tojson", "trim", "upper",
    ]

    static func apply(_ name: String, to value: JinjaValue, _ args: JinjaArguments) throws -> JinjaValue {
        switch name {
        case "trim":
            let chars = try args.bind(name, ["chars"])[0]
            let set: String? = try chars.flatMap { c in
                if case .none = c { return nil }
                return try c.requireString("the characters to trim")
            }
            return .string(PyString.strip(try value.str(), chars: set))
        case "length", "count":
            _ = try args.bind(name, [])
            return .int(try length(value))
        case "upper":
            _ = try args.bind(name, [])
            return .string(PyString.upper(try value.str()))
        case "lower":
            _ = try args.bind(name, [])
            return .string(PyString.lower(try value.str()))
        case "capitalize":
            _ = try args.bind(name, [])
            return .string(PyString.capitalize(try value.str()))
        case "title":
            _ = try args.bind(name, [])
            return .string(title(try value.str()))
        case "default", "d":
            let bound = try args.bind(name, ["default_value", "boolean"])
            let fallback = bound[0] ?? .string("")
            let boolean = bound[1]?.truthy ?? false
            if value.isUndefined || (boolean && !value.truthy) { return fallback }
            return value
        case "tojson":
            return .string(try JinjaJSON.dumps(value, args))
        case "first":
            _ = try args.bind(name, [])
            if case .iterator(let it) = value { return it.next() ?? emptyFirst }
            return try iterable(value).first ?? emptyFirst
        case "last":
            _ = try args.bind(name, [])
            switch value {
            case .undefined: return .undefined("No last item, sequence was empty.")
            case .list, .tuple, .string, .dict: return try value.iterate().last ?? .undefined("No last item, sequence was empty.")
            default: throw JinjaFailure.runtime("'\(value.typeName)' object is not reversible")
            }
        case "join":
            let bound = try args.bind(name, ["d", "attribute"])
            let separator = try (bound[0] ?? .string("")).str()
            var items = try iterable(value)
            if let attribute = bound[1], !(attribute.isUndefined) {
                items = try items.map { try attributePath($0, attribute) }
            }
            return .string(try items.map { try $0.str() }.joined(separator: separator))
        case "string", "safe":
            _ = try args.bind(name, [])
            return .string(try value.str())
        case "int":
            try value.requireDefined()
            let bound = try args.bind(name, ["default", "base"])
            return try toInt(value, default: bound[0] ?? .int(0), base: try bound[1].map { try $0.requireInt("base") } ?? 10)
        case "float":
            try value.requireDefined()
            let bound = try args.bind(name, ["default"])
            return toFloat(value, default: bound[0] ?? .double(0))
        case "list":
            _ = try args.bind(name, [])
            return .list(try iterable(value))
        case "items":
            _ = try args.bind(name, [])
            if value.isUndefined { return .iterator(JinjaIterator([])) }
            guard case .dict(let d) = value else { throw JinjaFailure.runtime("Can only get item pairs from a mapping.") }
            return .iterator(JinjaIterator(d.entries.map { .tuple([$0.key, $0.value]) }))
        case "replace":
            let bound = try args.bind(name, ["old", "new", "count"], required: 2)
            let count = try bound[2].flatMap { c -> Int? in
                if case .none = c { return nil }
                return try c.requireInt("the count of replace")
            } ?? -1
            return .string(PyString.replace(try value.str(), try bound[0]!.str(), try bound[1]!.str(), count: count))
        case "reverse":
            _ = try args.bind(name, [])
            if case .string(let s) = value { return .string(PyString.string(PyString.scalars(s).reversed())) }
            return .iterator(JinjaIterator(try iterable(value).reversed()))
        case "abs":
            _ = try args.bind(name, [])
            try value.requireDefined()
            switch value.number {
            case .int(let i)?:
                guard i != Int.min else { throw JinjaFailure.unsupported("integers beyond 64 bits") }
                return .int(abs(i))
            case .double(let d)?: return .double(abs(d))
            case nil: throw JinjaFailure.runtime("bad operand type for abs(): '\(value.typeName)'")
            }
        case "select", "reject":
            return try select(value, args, keep: name == "select", attribute: false)
        case "selectattr", "rejectattr":
            return try select(value, args, keep: name == "selectattr", attribute: true)
        case "map":
            return try map(value, args)
        default:
            throw JinjaFailure.unsupported("the filter '\(name)'")
        }
    }

    private static var emptyFirst: JinjaValue { .undefined("No first item, sequence was empty.") }

    static func length(_ value: JinjaValue) throws -> Int {
        switch value {
        case .undefined: return 0
        case .string(let s): return PyString.count(s)
        case .list(let items), .tuple(let items): return items.count
        case .dict(let d): return d.entries.count
        case .loop(let loop): return loop.items.count
        default: throw JinjaFailure.runtime("object of type '\(value.typeName)' has no len()")
        }
    }

    private static func iterable(_ value: JinjaValue) throws -> [JinjaValue] { try value.iterate() }

    /// jinja2's `title` filter: each word (split at whitespace, `-`, and opening brackets)
    /// gets an upper-case first character and lower-case rest.
    private static func title(_ s: String) -> String {
        var out = ""
        var wordStart = true
        for c in s.unicodeScalars {
            let separator = PyString.isSpace(c) || "-([{<".unicodeScalars.contains(c)
            if separator {
                out.unicodeScalars.append(c)
                wordStart = true
            } else {
                out += wordStart ? c.properties.uppercaseMapping : c.properties.lowercaseMapping
                wordStart = false
            }
        }
        return out
    }

    /// `a.b.0` as jinja2's attribute getters read it: items (then attributes) one step at a time.
    static func attributePath(_ item: JinjaValue, _ path: JinjaValue) throws -> JinjaValue {
        if case .int = path { return try JinjaAccess.item(of: item, path) }
        let text = try path.requireString("an attribute name")
        var current = item
        for part in text.split(separator: ".", omittingEmptySubsequences: false).map(String.init) {
            let key: JinjaValue = part.allSatisfy(\.isNumber) && !part.isEmpty ? .int(Int(part) ?? 0) : .string(part)
            current = try JinjaAccess.item(of: current, key)
        }
        return current
    }

    private static func select(_ value: JinjaValue, _ args: JinjaArguments, keep: Bool, attribute: Bool) throws -> JinjaValue {
        guard args.keywords.isEmpty else { throw JinjaFailure.unsupported("keyword arguments to select and reject filters") }
        var rest = args.positional
        var path: JinjaValue?
        if attribute {
            guard !rest.isEmpty else { throw JinjaFailure.runtime("missing the attribute to select by") }
            path = rest.removeFirst()
        }
        var testName: String?
        if !rest.isEmpty { testName = try rest.removeFirst().requireString("the test name") }
        let testArguments = JinjaArguments(positional: rest)
        let items = try iterable(value).filter { item in
            let subject = try path.map { try attributePath(item, $0) } ?? item
            let passed = try testName.map { try JinjaTests.apply($0, to: subject, testArguments) } ?? subject.truthy
            return passed == keep
        }
        return .iterator(JinjaIterator(items))
    }

    private static func map(_ value: JinjaValue, _ args: JinjaArguments) throws -> JinjaValue {
        let items = try iterable(value)
        if args.positional.isEmpty, let attribute = args.keywords.first(where: { $0.name == "attribute" })?.value {
            let fallback = args.keywords.first(where: { $0.name == "default" })?.value
            if args.keywords.contains(where: { $0.name != "attribute" && $0.name != "default" }) {
                throw JinjaFailure.runtime("map got an unexpected keyword argument")
            }
            return .iterator(JinjaIterator(try items.map { item in
                let found = try attributePath(item, attribute)
                if found.isUndefined, let fallback { return fallback }
                return found
            }))
        }
        guard let first = args.positional.first else { throw JinjaFailure.runtime("map requires a filter name or attribute=") }
        let filter = try first.requireString("the filter name")
        guard supported.contains(filter) else { throw JinjaFailure.unsupported("the filter '\(filter)'") }
        let rest = JinjaArguments(positional: Array(args.positional.dropFirst()), keywords: args.keywords)
        return .iterator(JinjaIterator(try items.map { try apply(filter, to: $0, rest) }))
    }

    private static func toInt(_ value: JinjaValue, default fallback: JinjaValue, base: Int) throws -> JinjaValue {
        switch value {
        case .string(let s):
            let text = PyString.strip(s).replacingOccurrences(of: "_", with: "")
            if let i = Int(text, radix: base) { return .int(i) }
            if base == 10, let d = Double(text), d.isFinite, let i = Int(exactly: d.rounded(.towardZero)) { return .int(i) }
            return fallback
        case .double(let d):
            guard d.isFinite, let i = Int(exactly: d.rounded(.towardZero)) else { return fallback }
            return .int(i)
        default:
            if let number = value.number, case .int(let i) = number { return .int(i) }
            return fallback
        }
    }

    private static func toFloat(_ value: JinjaValue, default fallback: JinjaValue) -> JinjaValue {
        switch value {
        case .string(let s):
            let text = PyString.strip(s).lowercased()
            if let d = Double(text.replacingOccurrences(of: "_", with: "")) { return .double(d) }
            return fallback
        default:
            return value.number.map { .double($0.double) } ?? fallback
        }
    }
}
