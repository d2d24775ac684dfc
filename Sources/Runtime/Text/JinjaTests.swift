/// The `is` tests (`x is defined`, `x is string`, `n is divisibleby 3`), with jinja2's
/// definitions: `true`/`false` are identity with the booleans, `number` includes bools,
/// Undefined is iterable. Tests outside this list fail when the template is parsed.
enum JinjaTests {
    static let supported: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false",
        "mapping", "iterable", "sequence", "callable", "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<",
        "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "odd", "even", "divisibleby", "sameas",
        "lower", "upper",
    ]

    static func apply(_ name: String, to value: JinjaValue, _ args: JinjaArguments) throws -> Bool {
        func other() throws -> JinjaValue { try args.bind("the '\(name)' test", ["other"], required: 1)[0]! }
        func none() throws { _ = try args.bind("the '\(name)' test", []) }
        switch name {
        case "defined": try none(); return !value.isUndefined
        case "undefined": try none(); return value.isUndefined
        case "none": try none(); if case .none = value { return true }; return false
        case "string": try none(); if case .string = value { return true }; return false
        case "number": try none(); return value.number != nil
        case "integer": try none(); if case .int = value { return true }; return false
        case "float": try none(); if case .double = value { return true }; return false
        case "boolean": try none(); if case .bool = value { return true }; return false
        case "true": try none(); if case .bool(true) = value { return true }; return false
        case "false": try none(); if case .bool(false) = value { return true }; return false
        case "mapping": try none(); if case .dict = value { return true }; return false
        case "iterable":
            try none()
            switch value {
            case .undefined, .string, .list, .tuple, .dict, .iterator, .loop: return true
            default: return false
            }
        case "sequence":
            try none()
            switch value {
            case .undefined, .string, .list, .tuple, .dict: return true
            default: return false
            }
        case "callable":
            try none()
            switch value {
            case .function, .undefined: return true
            default: return false
            }
        case "eq", "equalto", "==": return JinjaValue.equal(value, try other())
        case "ne", "!=": return !JinjaValue.equal(value, try other())
        case "lt", "lessthan", "<": return try JinjaValue.compare(value, try other(), "<")
        case "le", "<=": return try JinjaValue.compare(value, try other(), "<=")
        case "gt", "greaterthan", ">": return try JinjaValue.compare(value, try other(), ">")
        case "ge", ">=": return try JinjaValue.compare(value, try other(), ">=")
        case "in": return try other().contains(value)
        case "odd", "even":
            try none()
            let remainder = try JinjaArithmetic.apply(.modulo, value, .int(2))
            let isOdd = JinjaValue.equal(remainder, .int(1))
            return name == "odd" ? isOdd : !isOdd
        case "divisibleby":
            let divisor = try args.bind("the 'divisibleby' test", ["num"], required: 1)[0]!
            return JinjaValue.equal(try JinjaArithmetic.apply(.modulo, value, divisor), .int(0))
        case "sameas":
            let o = try other()
            switch (value, o) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.none, _), (_, .none), (.bool, _), (_, .bool): return false
            case (.namespace(let a), .namespace(let b)): return a === b
            default: throw JinjaFailure.unsupported("'sameas' (object identity) for \(value.typeName) values")
            }
        case "lower", "upper":
            try none()
            var cased = false
            for c in try value.str().unicodeScalars where c.properties.isCased {
                cased = true
                if name == "lower" ? !c.properties.isLowercase : !c.properties.isUppercase { return false }
            }
            return cased
        default:
            throw JinjaFailure.unsupported("the test '\(name)'")
        }
    }
}
