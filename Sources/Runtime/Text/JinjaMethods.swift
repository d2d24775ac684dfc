/// Python methods templates call on strings and dicts (`content.strip()`,
/// `message.get('name')`), bound to their object.
///
/// A method Python has but this renderer lacks fails instead of reading as Undefined, so a
/// template never silently takes a different branch than in jinja2.
enum JinjaMethods {
    static let pythonStringMethods: Set<String> = [
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier",
        "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower",
        "lstrip", "maketrans", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
        "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
        "title", "translate", "upper", "zfill",
    ]
    static let pythonDictMethods: Set<String> = [
        "clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values",
    ]
    static let pythonListMethods: Set<String> = [
        "append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse", "sort",
    ]
    /// What jinja2's ImmutableSandboxedEnvironment refuses: methods that change their object.
    static let mutating: Set<String> = [
        "append", "clear", "extend", "insert", "pop", "popitem", "remove", "reverse", "setdefault", "sort", "update",
    ]

    /// The bound method `name` of `value`, nil when Python has no such attribute.
    static func method(of value: JinjaValue, _ name: String) throws -> JinjaValue? {
        switch value {
        case .string(let s):
            guard pythonStringMethods.contains(name) else { return nil }
            guard let body = stringMethod(s, name) else { throw JinjaFailure.unsupported("the string method '\(name)'") }
            return .function(JinjaFunction(name: "str.\(name)", call: body))
        case .dict(let d):
            guard pythonDictMethods.contains(name) else { return nil }
            if mutating.contains(name) { throw JinjaFailure.runtime("access to attribute '\(name)' of 'dict' object is unsafe") }
            guard let body = dictMethod(d, name) else { throw JinjaFailure.unsupported("the dict method '\(name)'") }
            return .function(JinjaFunction(name: "dict.\(name)", call: body))
        case .list:
            guard pythonListMethods.contains(name) else { return nil }
            if mutating.contains(name) { throw JinjaFailure.runtime("access to attribute '\(name)' of 'list' object is unsafe") }
            throw JinjaFailure.unsupported("the list method '\(name)'")
        case .tuple:
            guard name == "count" || name == "index" else { return nil }
            throw JinjaFailure.unsupported("the tuple method '\(name)'")
        default:
            return nil
        }
    }

    private static func stringMethod(_ s: String, _ name: String) -> ((JinjaArguments) throws -> JinjaValue)? {
        switch name {
        case "strip", "lstrip", "rstrip":
            return { args in
                let chars = try optionalString(try args.bind("str.\(name)", ["chars"])[0], "str.\(name) argument")
                return .string(PyString.strip(s, chars: chars, leading: name != "rstrip", trailing: name != "lstrip"))
            }
        case "startswith", "endswith":
            return { args in
                let affix = try args.bind("str.\(name)", ["prefix"], required: 1)[0]!
                let candidates: [JinjaValue]
                switch affix {
                case .tuple(let items): candidates = items
                default: candidates = [affix]
                }
                for candidate in candidates {
                    let text = try candidate.requireString("the argument of str.\(name)")
                    if name == "startswith" ? PyString.hasPrefix(s, text) : PyString.hasSuffix(s, text) { return .bool(true) }
                }
                return .bool(false)
            }
        case "split", "rsplit":
            return { args in
                let bound = try args.bind("str.\(name)", ["sep", "maxsplit"])
                let separator = try optionalString(bound[0], "the separator of str.\(name)")
                if separator?.unicodeScalars.isEmpty == true { throw JinjaFailure.runtime("empty separator") }
                let maxSplit = try bound[1].map { try $0.requireInt("maxsplit") } ?? -1
                let parts = name == "split" ? PyString.split(s, separator: separator, maxSplit: maxSplit)
                    : PyString.rsplit(s, separator: separator, maxSplit: maxSplit)
                return .list(parts.map { .string($0) })
            }
        case "splitlines":
            return { args in
                let keep = try args.bind("str.splitlines", ["keepends"])[0]?.truthy ?? false
                return .list(PyString.splitLines(s, keepEnds: keep).map { .string($0) })
            }
        case "upper": return noArguments(name) { .string(PyString.upper(s)) }
        case "lower": return noArguments(name) { .string(PyString.lower(s)) }
        case "title": return noArguments(name) { .string(PyString.title(s)) }
        case "capitalize": return noArguments(name) { .string(PyString.capitalize(s)) }
        case "replace":
            return { args in
                let bound = try args.bind("str.replace", ["old", "new", "count"], required: 2)
                let old = try bound[0]!.requireString("the first argument of str.replace")
                let new = try bound[1]!.requireString("the second argument of str.replace")
                let count = try bound[2].map { try $0.requireInt("the count of str.replace") } ?? -1
                return .string(PyString.replace(s, old, new, count: count))
            }
        case "find", "rfind", "count":
            return { args in
                let bound = try args.bind("str.\(name)", ["sub"], required: 1)
                let sub = try bound[0]!.requireString("the argument of str.\(name)")
                if name == "count" { return .int(PyString.count(of: sub, in: s)) }
                let found = name == "find" ? PyString.find(PyString.scalars(s), PyString.scalars(sub))
                    : PyString.rfind(PyString.scalars(s), PyString.scalars(sub))
                return .int(found ?? -1)
            }
        case "removeprefix", "removesuffix":
            return { args in
                let affix = try args.bind("str.\(name)", ["affix"], required: 1)[0]!.requireString("the argument of str.\(name)")
                let scalars = PyString.scalars(s), n = PyString.count(affix)
                if name == "removeprefix", PyString.hasPrefix(s, affix) { return .string(PyString.string(scalars[n...])) }
                if name == "removesuffix", PyString.hasSuffix(s, affix), n > 0 { return .string(PyString.string(scalars[..<(scalars.count - n)])) }
                return .string(s)
            }
        case "join":
            return { args in
                let items = try args.bind("str.join", ["iterable"], required: 1)[0]!.iterate()
                let parts = try items.enumerated().map { i, item -> String in
                    guard case .string(let text) = item else {
                        throw JinjaFailure.runtime("sequence item \(i): expected str instance, \(item.typeName) found")
                    }
                    return text
                }
                return .string(parts.joined(separator: s))
            }
        default:
            return nil
        }
    }

    private static func dictMethod(_ d: JinjaDict, _ name: String) -> ((JinjaArguments) throws -> JinjaValue)? {
        switch name {
        case "get":
            return { args in
                let bound = try args.bind("dict.get", ["key", "default"], required: 1)
                try bound[0]!.requireHashable()
                return d[bound[0]!] ?? bound[1] ?? .none
            }
        case "items": return noArguments(name) { .list(d.entries.map { .tuple([$0.key, $0.value]) }) }
        case "keys": return noArguments(name) { .list(d.entries.map(\.key)) }
        case "values": return noArguments(name) { .list(d.entries.map(\.value)) }
        default: return nil
        }
    }

    private static func noArguments(_ name: String, _ body: @escaping () throws -> JinjaValue) -> (JinjaArguments) throws -> JinjaValue {
        return { args in
            guard args.isEmpty else { throw JinjaFailure.runtime("\(name)() takes no arguments") }
            return try body()
        }
    }

    private static func optionalString(_ value: JinjaValue?, _ what: String) throws -> String? {
        guard let value else { return nil }
        if case .none = value { return nil }
        return try value.requireString(what)
    }
}
