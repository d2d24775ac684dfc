/// A value while a template renders: the Python objects chat templates meet, with Python's
/// truthiness, equality, ordering and `str()`, since templates are written against jinja2.
indirect enum JinjaValue {
    /// jinja2's default `Undefined`: prints as "", is false, iterates as empty, and fails when
    /// its attributes are read or it takes part in arithmetic.
    case undefined(JinjaUndefined)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([JinjaValue])
    case tuple([JinjaValue])
    case dict(JinjaDict)
    /// `namespace(...)`: the one object `{% set ns.x = ... %}` can change, shared by reference.
    case namespace(JinjaNamespace)
    /// The `loop` variable of a `{% for %}`.
    case loop(JinjaLoop)
    /// What `select`, `map` and friends return: a Python generator, consumed as it is read.
    case iterator(JinjaIterator)
    case function(JinjaFunction)

    static func undefined(_ hint: String) -> JinjaValue { .undefined(JinjaUndefined(hint: hint)) }

    static func undefinedName(_ name: String) -> JinjaValue { .undefined("'\(name)' is undefined") }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// The Python type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .loop: return "LoopContext"
        case .iterator: return "generator"
        case .function: return "function"
        }
    }

    /// Python's `bool(value)`.
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.unicodeScalars.isEmpty
        case .list(let a), .tuple(let a): return !a.isEmpty
        case .dict(let d): return !d.entries.isEmpty
        case .namespace, .loop, .iterator, .function: return true
        }
    }

    /// The value as a number, with `bool` an `int` as in Python; nil for anything else.
    var number: JinjaNumber? {
        switch self {
        case .bool(let b): return .int(b ? 1 : 0)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        default: return nil
        }
    }

    /// Fails with the undefined value's hint; used where jinja2's Undefined raises.
    func requireDefined() throws {
        if case .undefined(let u) = self { throw JinjaFailure.runtime(u.hint) }
    }

    // MARK: str() and repr()

    /// Python's `str(value)`: what `{{ value }}` writes.
    func str() throws -> String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return try repr()
        }
    }

    /// Python's `repr(value)`, which `str()` of containers uses for their items.
    func repr() throws -> String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return PyString.floatRepr(d)
        case .string(let s): return PyString.repr(s)
        case .list(let items): return "[" + (try items.map { try $0.repr() }).joined(separator: ", ") + "]"
        case .tuple(let items):
            if items.count == 1 { return "(" + (try items[0].repr()) + ",)" }
            return "(" + (try items.map { try $0.repr() }).joined(separator: ", ") + ")"
        case .dict(let d): return try d.repr()
        case .namespace(let ns): return "<Namespace " + (try ns.attributes.repr()) + ">"
        case .loop, .iterator, .function:
            // Python would print an object address; no prompt wants that.
            throw JinjaFailure.unsupported("cannot write a \(typeName) object into the prompt")
        }
    }

    // MARK: Comparison

    /// Python's `a == b`.
    static func equal(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return PyString.equal(x, y)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.dict(let x), .dict(let y)):
            return x.entries.count == y.entries.count
                && x.entries.allSatisfy { entry in y[entry.key].map { equal($0, entry.value) } ?? false }
        case (.namespace(let x), .namespace(let y)): return x === y
        case (.iterator(let x), .iterator(let y)): return x === y
        default:
            if let x = a.number, let y = b.number { return x == y }
            return false
        }
    }

    /// Python's `<`, `<=`, `>`, `>=`, which raise TypeError between unrelated types.
    static func compare(_ a: JinjaValue, _ b: JinjaValue, _ op: String) throws -> Bool {
        try a.requireDefined()
        try b.requireDefined()
        let order: Int
        switch (a, b) {
        case (.string(let x), .string(let y)):
            order = PyString.equal(x, y) ? 0 : (PyString.less(x, y) ? -1 : 1)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            if let i = x.indices.first(where: { $0 < y.count && !equal(x[$0], y[$0]) }) {
                return try compare(x[i], y[i], op)
            }
            order = x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            guard let x = a.number, let y = b.number else {
                throw JinjaFailure.runtime("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
            }
            if x.isNaN || y.isNaN { return false }
            order = x == y ? 0 : (x < y ? -1 : 1)
        }
        switch op {
        case "<": return order < 0
        case "<=": return order <= 0
        case ">": return order > 0
        default: return order >= 0
        }
    }

    /// Python's `item in self`.
    func contains(_ item: JinjaValue) throws -> Bool {
        switch self {
        case .undefined: return false
        case .string(let s):
            guard case .string(let needle) = item else {
                try item.requireDefined()
                throw JinjaFailure.runtime("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return PyString.contains(s, needle)
        case .list(let items), .tuple(let items): return items.contains { JinjaValue.equal($0, item) }
        case .dict(let d):
            try item.requireHashable()
            return d[item] != nil
        case .iterator(let it):
            while let next = it.next() {
                if JinjaValue.equal(next, item) { return true }
            }
            return false
        default:
            throw JinjaFailure.runtime("argument of type '\(typeName)' is not iterable")
        }
    }

    /// How deeply lists, tuples, dicts and namespaces nest, counted up to `limit`.
    func nesting(limit: Int) -> Int {
        guard limit > 0 else { return 0 }
        switch self {
        case .list(let items), .tuple(let items):
            return 1 + items.reduce(0) { max($0, $1.nesting(limit: limit - 1)) }
        case .dict(let d):
            return 1 + d.entries.reduce(0) { max($0, $1.value.nesting(limit: limit - 1), $1.key.nesting(limit: limit - 1)) }
        case .namespace(let ns):
            return 1 + ns.attributes.entries.reduce(0) { max($0, $1.value.nesting(limit: limit - 1)) }
        default:
            return 0
        }
    }

    /// Dictionary keys must be hashable in Python; lists and dicts are not.
    func requireHashable() throws {
        switch self {
        case .list, .dict, .namespace, .loop:
            throw JinjaFailure.runtime("unhashable type: '\(typeName)'")
        case .tuple(let items): try items.forEach { try $0.requireHashable() }
        default: return
        }
    }

    /// Python's `iter(value)` drained: what `{% for %}` and filters walk over.
    func iterate() throws -> [JinjaValue] {
        switch self {
        case .undefined: return []
        case .list(let items), .tuple(let items): return items
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .dict(let d): return d.entries.map(\.key)
        case .iterator(let it): return it.drain()
        default: throw JinjaFailure.runtime("'\(typeName)' object is not iterable")
        }
    }
}

extension JinjaValue {
    /// The value as a Python `str`, or a failure naming what needed one.
    func requireString(_ what: String) throws -> String {
        if case .string(let s) = self { return s }
        try requireDefined()
        throw JinjaFailure.runtime("\(what) must be a string, not '\(typeName)'")
    }

    /// The value as a Python `int` (bools count), or a failure naming what needed one.
    func requireInt(_ what: String) throws -> Int {
        if case .int(let i)? = number { return i }
        try requireDefined()
        throw JinjaFailure.runtime("\(what) must be an integer, not '\(typeName)'")
    }
}
