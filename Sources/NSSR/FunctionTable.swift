import Foundation

/// The registry's functions in id order (ids 1...N, contiguous), validated: the primitives first,
/// then learned compositions whose children, bodies and value indices all check out and that
/// never reach themselves. Evaluates any function, primitive or learned, on rows of doubles.
public struct FunctionTable: Sendable {
    /// `functions[id - 1]`.
    public let functions: [RegisteredFunction]
    /// How many primitive steps a function costs (1 for a primitive, its steps' costs summed for a
    /// learned one, iteration bodies included): the search's "fewest steps".
    public let cost: [Int]

    public var count: Int { functions.count }

    /// Validates `functions` (ids must be 1...N in order). Errors name the function.
    public init(_ functions: [RegisteredFunction]) throws {
        for (i, f) in functions.enumerated() {
            guard f.id == i + 1 else {
                throw NSSRError("function '\(f.name)' has id \(f.id), but the registry's ids must be 1, 2, ... without gaps (expected \(i + 1))")
            }
        }
        for f in functions {
            try Self.check(f, in: functions)
        }
        try Self.checkCycles(functions)
        self.functions = functions
        var cost = [Int](repeating: 0, count: functions.count)
        func costOf(_ id: Int) -> Int {
            if cost[id - 1] > 0 { return cost[id - 1] }
            let c = functions[id - 1].composition.map { $0.reduce(0) { $0 + costOf($1.function) + ($1.body.map(costOf) ?? 0) } } ?? 1
            cost[id - 1] = c
            return c
        }
        for f in functions { _ = costOf(f.id) }
        self.cost = cost
    }

    /// The 22 primitives alone (what a new registry holds).
    public static var primitives: FunctionTable {
        try! FunctionTable(Primitive.allCases.map {
            RegisteredFunction(id: $0.rawValue, name: $0.name, arity: $0.arity, layer: 0, composition: nil, constant: nil,
                               constMode: .multiplicative, createdAt: "")
        })
    }

    public subscript(id: Int) -> RegisteredFunction { functions[id - 1] }

    public func function(named name: String) -> RegisteredFunction? { functions.first { $0.name == name } }

    public func contains(id: Int) -> Bool { id >= 1 && id <= functions.count }

    /// Checks one function: a primitive's row matches the primitive table; a learned function's
    /// composition is non-empty, names known children of the right arity, reads only values
    /// defined before each step, and has bodies exactly on iteration steps.
    static func check(_ f: RegisteredFunction, in functions: [RegisteredFunction]) throws {
        let what = "function '\(f.name)' (id \(f.id))"
        if f.id <= Primitive.allCases.count {
            let p = Primitive(rawValue: f.id)!
            guard f.name == p.name, f.arity == p.arity, f.composition == nil, f.layer == 0 else {
                throw NSSRError("\(what): id \(f.id) must be the primitive \(p.name) (arity \(p.arity), layer 0, no composition); the registry's first \(Primitive.allCases.count) functions are the primitives in the order of docs/nssr.md")
            }
            return
        }
        guard let steps = f.composition else {
            throw NSSRError("\(what): no composition; only ids 1...\(Primitive.allCases.count) are primitives")
        }
        guard f.arity >= 0 else { throw NSSRError("\(what): arity \(f.arity) is negative") }
        guard f.layer >= 1 else { throw NSSRError("\(what): a learned function must have layer >= 1, found \(f.layer)") }
        guard !steps.isEmpty else { throw NSSRError("\(what): the composition is an empty list of steps") }
        func known(_ id: Int, _ role: String, _ n: Int) throws -> RegisteredFunction {
            guard id >= 1 && id <= functions.count else {
                throw NSSRError("\(what): step \(n + 1) names \(role) id \(id), which is not in the registry (ids 1...\(functions.count))")
            }
            return functions[id - 1]
        }
        for (n, step) in steps.enumerated() {
            let child = try known(step.function, "child", n)
            guard child.arity == step.args.count else {
                throw NSSRError("\(what): step \(n + 1) calls \(child.name) (arity \(child.arity)) with \(step.args.count) argument\(step.args.count == 1 ? "" : "s")")
            }
            let defined = f.arity + n
            for v in step.args where v < -1 || v >= defined {
                if v >= defined && v < f.arity + steps.count {
                    throw NSSRError("\(what): step \(n + 1) reads value \(v), a forward reference (only values -1...\(defined - 1) are defined before it)")
                }
                throw NSSRError("\(what): step \(n + 1) reads value \(v), out of range (values -1...\(defined - 1) are defined before it)")
            }
            if let bodyArity = child.primitive?.bodyArity {
                guard let bodyID = step.body else {
                    throw NSSRError("\(what): step \(n + 1) calls the iteration primitive \(child.name) without a body")
                }
                let body = try known(bodyID, "body", n)
                guard !body.isIteration else {
                    throw NSSRError("\(what): step \(n + 1) gives \(child.name) the body \(body.name), itself an iteration primitive")
                }
                guard body.arity == bodyArity else {
                    throw NSSRError("\(what): step \(n + 1) gives \(child.name) the body \(body.name) of arity \(body.arity); it needs arity \(bodyArity)")
                }
            } else if let bodyID = step.body {
                throw NSSRError("\(what): step \(n + 1) gives a body (id \(bodyID)) to \(child.name), which is not an iteration primitive")
            }
        }
    }

    /// A function reachable from itself through children or bodies is refused.
    static func checkCycles(_ functions: [RegisteredFunction]) throws {
        // 0 unvisited, 1 on the path, 2 done
        var state = [UInt8](repeating: 0, count: functions.count)
        func visit(_ id: Int, _ path: [Int]) throws {
            let i = id - 1
            if state[i] == 2 { return }
            if state[i] == 1 {
                let cycle = (path.drop { $0 != id } + [id]).map { functions[$0 - 1].name }
                throw NSSRError("function '\(functions[i].name)' (id \(id)) reaches itself: \(cycle.joined(separator: " -> "))")
            }
            state[i] = 1
            for s in functions[i].composition ?? [] {
                for child in [s.function] + (s.body.map { [$0] } ?? []) where functions[child - 1].isLearned {
                    try visit(child, path + [id])
                }
            }
            state[i] = 2
        }
        for f in functions where f.isLearned { try visit(f.id, []) }
    }

    /// Refuses a table that does not start with the `names` a model's heads were trained for:
    /// fewer functions, or a different name, naming the first difference.
    public func check(modelFunctions names: [String]) throws {
        guard count >= names.count else {
            throw NSSRError("the registry holds \(count) functions, but the model was trained for \(names.count); the first missing one is '\(names[count])' (id \(count + 1))")
        }
        for (i, name) in names.enumerated() where functions[i].name != name {
            throw NSSRError("function id \(i + 1) is '\(functions[i].name)' in the registry but '\(name)' in the model (head row \(i)); the registry does not match the model")
        }
    }

    /// The layer a new function composed of `steps` gets: one above its highest child or body.
    public func layer(of steps: [CompositionStep]) -> Int {
        1 + (steps.map { s in max(self[s.function].layer, s.body.map { self[$0].layer } ?? 0) }.max() ?? 0)
    }

    /// The cost (primitive steps) of a candidate composition.
    public func cost(of steps: [CompositionStep]) -> Int {
        steps.reduce(0) { $0 + cost[$1.function - 1] + ($1.body.map { cost[$0 - 1] } ?? 0) }
    }
}

// MARK: - Evaluation

extension FunctionTable {
    /// `id` (with `body` for an iteration primitive) on each row of `rows` (a row holds the
    /// function's inputs in order).
    public func evaluate(_ id: Int, body: Int? = nil, rows: [[Double]]) throws -> [Double] {
        guard contains(id: id) else { throw NSSRError("no function with id \(id) (the registry holds \(count))") }
        let f = self[id]
        for (i, r) in rows.enumerated() where r.count != f.arity {
            throw NSSRError("\(f.name) takes \(f.arity) input\(f.arity == 1 ? "" : "s"); row \(i + 1) holds \(r.count)")
        }
        if f.isIteration {
            guard let body, contains(id: body), !self[body].isIteration, self[body].arity == f.primitive!.bodyArity! else {
                throw NSSRError("\(f.name) needs a body of arity \(f.primitive!.bodyArity!)")
            }
        }
        let columns = (0..<f.arity).map { j in rows.map { $0[j] } }
        var out = [Double](repeating: 0, count: rows.count)
        evaluate(id, body: body, columns: columns, into: &out)
        return out
    }

    /// Column-wise evaluation: `columns[j]` is argument j over every row; the result goes to `out`
    /// (as long as the columns). The function must be valid for its arguments (the table checked).
    public func evaluate(_ id: Int, body: Int?, columns: [[Double]], into out: inout [Double]) {
        let m = out.count
        let f = self[id]
        if let steps = f.composition {
            var values = columns
            values.reserveCapacity(columns.count + steps.count)
            let zero = [Double](repeating: 0, count: m)
            for s in steps {
                var r = [Double](repeating: 0, count: m)
                evaluate(s.function, body: s.body, columns: s.args.map { $0 < 0 ? zero : values[$0] }, into: &r)
                values.append(r)
            }
            let last = values[values.count - 1]
            switch (f.constant, f.constMode) {
            case (nil, _): for i in 0..<m { out[i] = last[i] }
            case (let c?, .multiplicative): for i in 0..<m { out[i] = last[i] * c }
            case (let c?, .additive): for i in 0..<m { out[i] = last[i] + c }
            }
            return
        }
        let p = Primitive(rawValue: id)!
        if let bodyID = body, p.isIteration {
            withUnsafeTemporaryAllocation(of: Double.self, capacity: columns.count) { args in
                for i in 0..<m {
                    for j in 0..<columns.count { args[j] = columns[j][i] }
                    out[i] = p.iterate(UnsafeBufferPointer(args)) { x, y, z in scalar3(bodyID, x, y, z) }
                }
            }
            return
        }
        Self.applyColumns(p, columns, into: &out)
    }

    /// A non-iteration primitive over whole columns.
    @inline(__always)
    static func applyColumns(_ p: Primitive, _ columns: [[Double]], into out: inout [Double]) {
        let m = out.count
        switch p.arity {
        case 1:
            let a = columns[0]
            switch p {
            case .not: for i in 0..<m { out[i] = a[i] == 0 ? 1 : 0 }
            case .inc: for i in 0..<m { out[i] = a[i] + 1 }
            case .dec: for i in 0..<m { out[i] = a[i] - 1 }
            case .const: for i in 0..<m { out[i] = 1 }
            default: for i in 0..<m { out[i] = p.apply(a[i]) }
            }
        case 2:
            let a = columns[0], b = columns[1]
            switch p {
            case .add: for i in 0..<m { out[i] = a[i] + b[i] }
            case .sub: for i in 0..<m { out[i] = a[i] - b[i] }
            case .mul: for i in 0..<m { out[i] = a[i] * b[i] }
            default: for i in 0..<m { out[i] = p.apply(a[i], b[i]) }
            }
        case 3:
            let a = columns[0], b = columns[1], c = columns[2]
            for i in 0..<m { out[i] = p.apply(a[i], b[i], c[i]) }
        default:
            for i in 0..<m { out[i] = .nan }
        }
    }

    /// A function of at most 3 arguments (an iteration body) on one row.
    @inline(__always)
    func scalar3(_ id: Int, _ a: Double, _ b: Double, _ c: Double) -> Double {
        let f = functions[id - 1]
        if f.composition == nil { return Primitive(rawValue: id)!.apply(a, b, c) }
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: 3) { args in
            args[0] = a
            args[1] = b
            args[2] = c
            return scalar(id, body: nil, args: UnsafeBufferPointer(rebasing: args[0..<f.arity]))
        }
    }

    /// Any function on one row (`args` its arguments).
    func scalar(_ id: Int, body: Int?, args: UnsafeBufferPointer<Double>) -> Double {
        let f = functions[id - 1]
        guard let steps = f.composition else {
            let p = Primitive(rawValue: id)!
            if let body, p.isIteration { return p.iterate(args) { x, y, z in scalar3(body, x, y, z) } }
            return p.apply(args.count > 0 ? args[0] : 0, args.count > 1 ? args[1] : 0, args.count > 2 ? args[2] : 0)
        }
        let result = withUnsafeTemporaryAllocation(of: Double.self, capacity: f.arity + steps.count) { values -> Double in
            for j in 0..<f.arity { values[j] = args[j] }
            var n = f.arity
            for s in steps {
                values[n] = withUnsafeTemporaryAllocation(of: Double.self, capacity: s.args.count) { a -> Double in
                    for (j, v) in s.args.enumerated() { a[j] = v < 0 ? 0 : values[v] }
                    return scalar(s.function, body: s.body, args: UnsafeBufferPointer(a))
                }
                n += 1
            }
            return values[n - 1]
        }
        switch (f.constant, f.constMode) {
        case (nil, _): return result
        case (let c?, .multiplicative): return result * c
        case (let c?, .additive): return result + c
        }
    }
}
