/// `a.b`, `a[b]` and `a[i:j:k]` as jinja2's ImmutableSandboxedEnvironment resolves them.
///
/// `a.b` looks for a Python attribute first (so `message.items` is the dict method) and then an
/// item; `a[b]` the other way round. A missing one is Undefined, except on Undefined itself,
/// which fails. Methods that would change a list or dict are refused, as the sandbox does.
enum JinjaAccess {
    static func attribute(of value: JinjaValue, _ name: String) throws -> JinjaValue {
        try value.requireDefined()
        if name.hasPrefix("_") {
            throw JinjaFailure.runtime("access to attribute '\(name)' of '\(value.typeName)' object is unsafe")
        }
        if let method = try JinjaMethods.method(of: value, name) { return method }
        switch value {
        case .dict(let d):
            return d[name] ?? .undefined("'dict object' has no attribute '\(name)'")
        case .namespace(let ns):
            return ns.attributes[name] ?? .undefined("'Namespace object' has no attribute '\(name)'")
        case .loop(let loop):
            return loopAttribute(loop, name) ?? .undefined("'LoopContext object' has no attribute '\(name)'")
        default:
            return .undefined("'\(value.typeName) object' has no attribute '\(name)'")
        }
    }

    static func item(of value: JinjaValue, _ key: JinjaValue) throws -> JinjaValue {
        try value.requireDefined()
        switch value {
        case .dict(let d):
            if case .list = key { throw JinjaFailure.runtime("unhashable type: 'list'") }
            if case .dict = key { throw JinjaFailure.runtime("unhashable type: 'dict'") }
            if let found = d[key] { return found }
        case .list(let items), .tuple(let items):
            if case .int(let i)? = key.number, !key.isUndefined {
                let index = i < 0 ? i + items.count : i
                if items.indices.contains(index) { return items[index] }
                return .undefined("\(value.typeName) object has no element \(i)")
            }
        case .string(let s):
            if case .int(let i)? = key.number {
                let scalars = PyString.scalars(s)
                let index = i < 0 ? i + scalars.count : i
                if scalars.indices.contains(index) { return .string(String(scalars[index])) }
                return .undefined("str object has no element \(i)")
            }
        default:
            break
        }
        // Then the attribute of that name, as jinja2's getitem falls back to getattr.
        if case .string(let name) = key {
            if name.hasPrefix("_") { return .undefined("'\(value.typeName) object' has no attribute '\(name)'") }
            if let method = try JinjaMethods.method(of: value, name) { return method }
            if case .namespace(let ns) = value, let found = ns.attributes[name] { return found }
            if case .loop(let loop) = value, let found = loopAttribute(loop, name) { return found }
            return .undefined("'\(value.typeName) object' has no attribute '\(name)'")
        }
        try key.requireDefined()
        return .undefined("'\(value.typeName) object' has no element \(try key.repr())")
    }

    static func slice(_ value: JinjaValue, start: Int?, stop: Int?, step: Int?) throws -> JinjaValue {
        try value.requireDefined()
        switch value {
        case .list(let items):
            return .list(try PyString.sliceIndices(count: items.count, start: start, stop: stop, step: step).map { items[$0] })
        case .tuple(let items):
            return .tuple(try PyString.sliceIndices(count: items.count, start: start, stop: stop, step: step).map { items[$0] })
        case .string(let s):
            let scalars = PyString.scalars(s)
            return .string(PyString.string(try PyString.sliceIndices(count: scalars.count, start: start, stop: stop, step: step).map { scalars[$0] }))
        default:
            return .undefined("'\(value.typeName)' object is not subscriptable")
        }
    }

    /// jinja2's LoopContext attributes.
    static func loopAttribute(_ loop: JinjaLoop, _ name: String) -> JinjaValue? {
        let length = loop.items.count, i = loop.index0
        switch name {
        case "index": return .int(i + 1)
        case "index0": return .int(i)
        case "revindex": return .int(length - i)
        case "revindex0": return .int(length - i - 1)
        case "first": return .bool(i == 0)
        case "last": return .bool(i == length - 1)
        case "length": return .int(length)
        case "depth": return .int(1)
        case "depth0": return .int(0)
        case "previtem": return i > 0 ? loop.items[i - 1] : .undefined("there is no previous item")
        case "nextitem": return i + 1 < length ? loop.items[i + 1] : .undefined("there is no next item")
        case "cycle":
            return .function(JinjaFunction(name: "loop.cycle") { args in
                guard args.keywords.isEmpty, !args.positional.isEmpty else {
                    throw JinjaFailure.runtime("loop.cycle takes one or more positional arguments")
                }
                return args.positional[i % args.positional.count]
            })
        case "changed":
            return .function(JinjaFunction(name: "loop.changed") { _ in throw JinjaFailure.unsupported("loop.changed()") })
        default: return nil
        }
    }
}
