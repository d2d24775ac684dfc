/// The objects inside `JinjaValue`: Undefined, dicts, namespaces, loop state, generators,
/// callables and their arguments.

struct JinjaUndefined {
    /// What jinja2 says when the value is used: "'foo' is undefined".
    let hint: String
}

/// A Python dict: insertion-ordered, keyed by any hashable value with Python equality
/// (so `1` and `1.0` are one key). Chat template dicts are small, so lookups are linear.
struct JinjaDict {
    private(set) var entries: [JinjaDictItem] = []

    init() {}

    init(_ items: [JinjaDictItem]) {
        for item in items { self[item.key] = item.value }
    }

    subscript(key: JinjaValue) -> JinjaValue? {
        get { entries.first { JinjaValue.equal($0.key, key) }?.value }
        set {
            if let i = entries.firstIndex(where: { JinjaValue.equal($0.key, key) }) {
                if let newValue { entries[i].value = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append(JinjaDictItem(key: key, value: newValue))
            }
        }
    }

    subscript(name: String) -> JinjaValue? { self[.string(name)] }

    func repr() throws -> String {
        "{" + (try entries.map { try $0.key.repr() + ": " + $0.value.repr() }).joined(separator: ", ") + "}"
    }
}

/// One key and value of a dict. (A struct rather than a tuple: arrays of labeled tuples of
/// this recursive enum trip a circular-reference error in the Swift 6.3 compiler.)
struct JinjaDictItem {
    let key: JinjaValue
    var value: JinjaValue
}

final class JinjaNamespace {
    var attributes: JinjaDict

    init(_ attributes: JinjaDict) { self.attributes = attributes }
}

/// The state `loop.index`, `loop.first`, `loop.previtem` and the rest are read from.
struct JinjaLoop {
    let items: [JinjaValue]
    let index0: Int
}

/// A generator's remaining items; reading advances it, so a second pass sees only what the
/// first left, as in Python.
final class JinjaIterator {
    private let items: [JinjaValue]
    private var position = 0

    init(_ items: [JinjaValue]) { self.items = items }

    func next() -> JinjaValue? {
        guard position < items.count else { return nil }
        defer { position += 1 }
        return items[position]
    }

    func drain() -> [JinjaValue] {
        defer { position = items.count }
        return Array(items[position...])
    }
}

/// A callable: a global such as `namespace` or `raise_exception`, or a method bound to its
/// object such as `'text'.strip`.
struct JinjaFunction {
    let name: String
    let call: (JinjaArguments) throws -> JinjaValue
}

/// Arguments of a call, a filter or a test, bound to Python-style signatures.
struct JinjaArguments {
    var positional: [JinjaValue] = []
    var keywords: [JinjaNamedValue] = []

    /// Binds to the parameters `names` (in order); the first `required` must be given.
    /// Extra or unknown arguments fail rather than being ignored.
    func bind(_ callee: String, _ names: [String], required: Int = 0) throws -> [JinjaValue?] {
        guard positional.count <= names.count else {
            throw JinjaFailure.runtime("\(callee) takes at most \(names.count) argument(s) (\(positional.count) given)")
        }
        var bound: [JinjaValue?] = positional.map { $0 } + Array(repeating: nil, count: names.count - positional.count)
        for keyword in keywords {
            let name = keyword.name
            guard let i = names.firstIndex(of: name) else {
                throw JinjaFailure.runtime("\(callee) got an unexpected keyword argument '\(name)'")
            }
            guard bound[i] == nil else { throw JinjaFailure.runtime("\(callee) got multiple values for argument '\(name)'") }
            bound[i] = keyword.value
        }
        if let missing = (0 ..< required).first(where: { bound[$0] == nil }) {
            throw JinjaFailure.runtime("\(callee) is missing the argument '\(names[missing])'")
        }
        return bound
    }

    var isEmpty: Bool { positional.isEmpty && keywords.isEmpty }
}

/// A keyword argument's value.
struct JinjaNamedValue {
    let name: String
    let value: JinjaValue
}
