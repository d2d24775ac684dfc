import Foundation

/// The 22 primitives of the registry (docs/nssr.md), ids 1...22 in this order. Every value is an
/// IEEE double; logic and comparisons give 1 or 0. The iteration primitives (LOOP, LOOP4, WHILE,
/// ACCUM) take a body function and run at most `Primitive.iterationCap` times.
public enum Primitive: Int, CaseIterable, Sendable {
    case or = 1, and, not, add, sub, mul, inc, dec, div, lt, lte, gt, gte, eq, neq, cond, const, null
    case loop, loop4, `while`, accum

    /// The most iterations an iteration primitive runs (WHILE stops there whatever its condition).
    public static let iterationCap = 1000

    public var name: String {
        switch self {
        case .or: "OR"
        case .and: "AND"
        case .not: "NOT"
        case .add: "ADD"
        case .sub: "SUB"
        case .mul: "MUL"
        case .inc: "INC"
        case .dec: "DEC"
        case .div: "DIV"
        case .lt: "LT"
        case .lte: "LTE"
        case .gt: "GT"
        case .gte: "GTE"
        case .eq: "EQ"
        case .neq: "NEQ"
        case .cond: "COND"
        case .const: "CONST"
        case .null: "NULL"
        case .loop: "LOOP"
        case .loop4: "LOOP4"
        case .while: "WHILE"
        case .accum: "ACCUM"
        }
    }

    public var arity: Int {
        switch self {
        case .not, .inc, .dec, .const, .null: 1
        case .cond, .loop, .while: 3
        case .loop4: 4
        default: 2
        }
    }

    public var isIteration: Bool { bodyArity != nil }

    /// The arity of the body an iteration primitive needs (nil for the others).
    public var bodyArity: Int? {
        switch self {
        case .loop, .while, .accum: 2
        case .loop4: 3
        default: nil
        }
    }

    public init?(name: String) {
        guard let p = Primitive.allCases.first(where: { $0.name == name }) else { return nil }
        self = p
    }

    /// `k = clamp(trunc(n), 0, iterationCap)`, 0 when `n` is not finite.
    @inline(__always)
    public static func iterations(_ n: Double) -> Int {
        guard n.isFinite else { return 0 }
        return Int(min(max(n.rounded(.towardZero), 0), Double(iterationCap)))
    }

    @inline(__always)
    static func truth(_ b: Bool) -> Double { b ? 1 : 0 }

    /// One application of a primitive that is not an iteration primitive. `a`, `b`, `c` are its
    /// arguments in order (unused ones are ignored).
    @inline(__always)
    public func apply(_ a: Double, _ b: Double = 0, _ c: Double = 0) -> Double {
        switch self {
        case .or: Self.truth(a != 0 || b != 0)
        case .and: Self.truth(a != 0 && b != 0)
        case .not: Self.truth(a == 0)
        case .add: a + b
        case .sub: a - b
        case .mul: a * b
        case .inc: a + 1
        case .dec: a - 1
        case .div: b == 0 ? 0 : a / b
        case .lt: Self.truth(a < b)
        case .lte: Self.truth(a <= b)
        case .gt: Self.truth(a > b)
        case .gte: Self.truth(a >= b)
        case .eq: Self.truth(a == b)
        case .neq: Self.truth(a != b)
        case .cond: a != 0 ? b : c
        case .const: 1
        case .null: 0
        case .loop, .loop4, .while, .accum: .nan
        }
    }

    /// One application of an iteration primitive with its body (`body(acc_or_i, x, y)`; a binary
    /// body ignores `y`). `args` holds the primitive's arguments in order.
    @inline(__always)
    public func iterate(_ args: UnsafeBufferPointer<Double>, body: (Double, Double, Double) -> Double) -> Double {
        switch self {
        case .loop:
            // LOOP(n, init, x): acc = init; k times acc = g(acc, x)
            var acc = args[1]
            let x = args[2]
            for _ in 0..<Self.iterations(args[0]) { acc = body(acc, x, 0) }
            return acc
        case .loop4:
            // LOOP4(n, init, x, y): acc = init; k times acc = g(acc, x, y)
            var acc = args[1]
            let x = args[2], y = args[3]
            for _ in 0..<Self.iterations(args[0]) { acc = body(acc, x, y) }
            return acc
        case .while:
            // WHILE(init, limit, x): while acc < limit (at most iterationCap times) acc = g(acc, x)
            var acc = args[0]
            let limit = args[1], x = args[2]
            var count = 0
            while acc < limit && count < Self.iterationCap {
                acc = body(acc, x, 0)
                count += 1
            }
            return acc
        case .accum:
            // ACCUM(n, x): acc = 0; for i in 0..<k: acc += g(i, x)
            var acc = 0.0
            let x = args[1]
            for i in 0..<Self.iterations(args[0]) { acc += body(Double(i), x, 0) }
            return acc
        default:
            return apply(args[0], args.count > 1 ? args[1] : 0, args.count > 2 ? args[2] : 0)
        }
    }
}

/// A prediction `p` matches a target `y` when both are finite and `|p - y| <= 1e-9 + 1e-6 |y|`.
@inline(__always)
public func nssrMatches(_ p: Double, _ y: Double) -> Bool {
    p.isFinite && y.isFinite && abs(p - y) <= 1e-9 + 1e-6 * abs(y)
}
