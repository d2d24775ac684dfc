import Foundation

/// Python's arithmetic operators. Integers are 64-bit here; a result Python would carry on
/// as a big integer is refused instead of wrapping.
enum JinjaArithmetic {
    static func negate(_ value: JinjaValue) throws -> JinjaValue {
        try value.requireDefined()
        switch value.number {
        case .int(let i)?:
            guard i != Int.min else { throw JinjaFailure.unsupported("integers beyond 64 bits") }
            return .int(-i)
        case .double(let d)?: return .double(-d)
        case nil: throw JinjaFailure.runtime("bad operand type for unary -: '\(value.typeName)'")
        }
    }

    static func apply(_ op: JinjaBinaryOperator, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        try a.requireDefined()
        // `'%s' % value` takes Undefined, as Python's str formatting does.
        if op == .modulo, case .string(let format) = a { return .string(try printf(format, b)) }
        try b.requireDefined()
        if let x = a.number, let y = b.number { return try numeric(op, x, y) }
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)):
            let joined = x + y
            try JinjaLimits.check(joined)
            return .string(joined)
        case (.add, .list(let x), .list(let y)):
            try JinjaLimits.check(x + y)
            return .list(x + y)
        case (.add, .tuple(let x), .tuple(let y)):
            try JinjaLimits.check(x + y)
            return .tuple(x + y)
        case (.multiply, .string, _), (.multiply, .list, _), (.multiply, .tuple, _): return try repeated(a, b)
        case (.multiply, _, .string), (.multiply, _, .list), (.multiply, _, .tuple): return try repeated(b, a)
        case (.add, .string, _): throw JinjaFailure.runtime("can only concatenate str (not \"\(b.typeName)\") to str")
        case (.add, .list, _): throw JinjaFailure.runtime("can only concatenate list (not \"\(b.typeName)\") to list")
        default:
            throw JinjaFailure.runtime("unsupported operand type(s) for \(op.rawValue): '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    private static func repeated(_ sequence: JinjaValue, _ times: JinjaValue) throws -> JinjaValue {
        guard case .int(let n)? = times.number else {
            throw JinjaFailure.runtime("can't multiply sequence by non-int of type '\(times.typeName)'")
        }
        let count = max(0, n)
        switch sequence {
        case .string(let s):
            let (bytes, overflow) = s.utf8.count.multipliedReportingOverflow(by: count)
            guard !overflow, bytes <= JinjaLimits.maximumStringBytes else {
                throw JinjaFailure.unsupported("text longer than \(JinjaLimits.maximumStringBytes >> 20) MiB")
            }
            return .string(String(repeating: s, count: count))
        case .list(let items), .tuple(let items):
            let (total, overflow) = items.count.multipliedReportingOverflow(by: count)
            guard !overflow, total <= JinjaLimits.maximumListCount else {
                throw JinjaFailure.unsupported("lists longer than \(JinjaLimits.maximumListCount) items")
            }
            let all = Array([[JinjaValue]](repeating: items, count: count).joined())
            if case .tuple = sequence { return .tuple(all) }
            return .list(all)
        default:
            throw JinjaFailure.runtime("can't multiply '\(sequence.typeName)'")
        }
    }

    /// `'format' % args` with `%s`, `%r`, `%d`, `%i` and `%%`; flags, widths and `%(name)s`
    /// are refused.
    private static func printf(_ format: String, _ argument: JinjaValue) throws -> String {
        var args: [JinjaValue]
        switch argument {
        case .tuple(let items): args = items
        default: args = [argument]
        }
        // Python skips the "not all arguments converted" check for anything subscriptable
        // other than a tuple or string.
        var isMapping = false
        switch argument {
        case .dict, .list: isMapping = true
        default: break
        }
        var out = ""
        var used = 0
        var scalars = format.unicodeScalars.makeIterator()
        while let c = scalars.next() {
            guard c == "%" else {
                out.unicodeScalars.append(c)
                continue
            }
            guard let conversion = scalars.next() else { throw JinjaFailure.runtime("incomplete format") }
            if conversion == "%" {
                out += "%"
                continue
            }
            guard ["s", "r", "d", "i"].contains(conversion) else {
                throw JinjaFailure.unsupported("the printf-style conversion '%\(conversion)'")
            }
            guard used < args.count else { throw JinjaFailure.runtime("not enough arguments for format string") }
            let value = args[used]
            used += 1
            switch conversion {
            case "s": out += try value.str()
            case "r": out += try value.repr()
            default:
                switch value.number {
                case .int(let i)?: out += String(i)
                case .double(let d)?:
                    guard d.isFinite, let i = Int(exactly: d.rounded(.towardZero)) else {
                        throw JinjaFailure.unsupported("%d of \(PyString.floatRepr(d))")
                    }
                    out += String(i)
                case nil: throw JinjaFailure.runtime("%\(conversion) format: a real number is required, not \(value.typeName)")
                }
            }
        }
        if used < args.count && !isMapping {
            throw JinjaFailure.runtime("not all arguments converted during string formatting")
        }
        return out
    }

    private static func overflow() -> JinjaFailure { JinjaFailure.unsupported("integers beyond 64 bits") }

    private static func numeric(_ op: JinjaBinaryOperator, _ x: JinjaNumber, _ y: JinjaNumber) throws -> JinjaValue {
        if case .int(let a) = x, case .int(let b) = y {
            switch op {
            case .add:
                let (r, o) = a.addingReportingOverflow(b)
                if o { throw overflow() }
                return .int(r)
            case .subtract:
                let (r, o) = a.subtractingReportingOverflow(b)
                if o { throw overflow() }
                return .int(r)
            case .multiply:
                let (r, o) = a.multipliedReportingOverflow(by: b)
                if o { throw overflow() }
                return .int(r)
            case .divide:
                if b == 0 { throw JinjaFailure.runtime("division by zero") }
                return .double(Double(a) / Double(b))
            case .floorDivide, .modulo:
                if b == 0 { throw JinjaFailure.runtime("integer division or modulo by zero") }
                if a == Int.min && b == -1 { throw overflow() }
                var q = a / b, r = a % b
                // Python rounds the quotient toward negative infinity; the remainder takes
                // the divisor's sign.
                if r != 0 && ((r < 0) != (b < 0)) { q -= 1; r += b }
                return .int(op == .floorDivide ? q : r)
            case .power:
                if b < 0 {
                    if a == 0 { throw JinjaFailure.runtime("0.0 cannot be raised to a negative power") }
                    return .double(pow(Double(a), Double(b)))
                }
                var result = 1, base = a, exponent = b
                while exponent > 0 {
                    if exponent & 1 == 1 {
                        let (r, o) = result.multipliedReportingOverflow(by: base)
                        if o { throw overflow() }
                        result = r
                    }
                    exponent >>= 1
                    if exponent > 0 {
                        let (sq, o) = base.multipliedReportingOverflow(by: base)
                        if o { throw overflow() }
                        base = sq
                    }
                }
                return .int(result)
            }
        }
        let a = x.double, b = y.double
        switch op {
        case .add: return .double(a + b)
        case .subtract: return .double(a - b)
        case .multiply: return .double(a * b)
        case .divide:
            if b == 0 { throw JinjaFailure.runtime("float division by zero") }
            return .double(a / b)
        case .floorDivide, .modulo:
            if b == 0 { throw JinjaFailure.runtime("float floor division or modulo by zero") }
            let (q, r) = floatDivmod(a, b)
            return .double(op == .floorDivide ? q : r)
        case .power:
            if a == 0 && b < 0 { throw JinjaFailure.runtime("0.0 cannot be raised to a negative power") }
            if a < 0 && b != b.rounded() { throw JinjaFailure.unsupported("complex numbers (a negative number to a fractional power)") }
            return .double(pow(a, b))
        }
    }

    /// CPython's float divmod, so that `//` and `%` on floats round as Python does.
    private static func floatDivmod(_ vx: Double, _ wx: Double) -> (Double, Double) {
        var mod = fmod(vx, wx)
        var div = (vx - mod) / wx
        if mod != 0 {
            if (wx < 0) != (mod < 0) {
                mod += wx
                div -= 1
            }
        } else {
            mod = copysign(0, wx)
        }
        var floordiv: Double
        if div != 0 {
            floordiv = floor(div)
            if div - floordiv > 0.5 { floordiv += 1 }
        } else {
            floordiv = copysign(0, vx / wx)
        }
        return (floordiv, mod)
    }
}

/// A number with Python's `int`/`float` distinction.
enum JinjaNumber: Equatable {
    case int(Int)
    case double(Double)

    var double: Double {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        }
    }

    var isNaN: Bool { double.isNaN }

    static func == (a: JinjaNumber, b: JinjaNumber) -> Bool {
        if case .int(let x) = a, case .int(let y) = b { return x == y }
        return a.double == b.double
    }

    static func < (a: JinjaNumber, b: JinjaNumber) -> Bool {
        if case .int(let x) = a, case .int(let y) = b { return x < y }
        return a.double < b.double
    }

    var value: JinjaValue {
        switch self {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        }
    }
}
