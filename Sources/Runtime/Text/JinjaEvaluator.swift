/// Expression evaluation with Python's operator semantics (int/float arithmetic, `+` joining
/// strings and lists, chained comparisons, `and`/`or` returning an operand).
extension JinjaRenderer {
    func evaluate(_ expr: JinjaExpr) throws -> JinjaValue {
        do {
            return try evaluateKind(expr)
        } catch let failure as JinjaFailure {
            throw failure.located(expr.location)
        }
    }

    private func evaluateKind(_ expr: JinjaExpr) throws -> JinjaValue {
        switch expr.kind {
        case .constant(let c):
            return c.value
        case .name(let name):
            return scope.lookup(name) ?? .undefinedName(name)
        case .list(let items):
            return .list(try items.map(evaluate))
        case .tuple(let items):
            return .tuple(try items.map(evaluate))
        case .dict(let entries):
            var dict = JinjaDict()
            for entry in entries {
                let key = try evaluate(entry.key)
                do { try key.requireHashable() } catch let failure as JinjaFailure { throw failure.located(entry.key.location) }
                dict[key] = try evaluate(entry.value)
            }
            return .dict(dict)
        case .attribute(let base, let name):
            return try JinjaAccess.attribute(of: try evaluate(base), name)
        case .item(let base, let key):
            return try JinjaAccess.item(of: try evaluate(base), try evaluate(key))
        case .slice(let base, let start, let stop, let step):
            let value = try evaluate(base)
            func bound(_ e: JinjaExpr?) throws -> Int? {
                guard let e else { return nil }
                let v = try evaluate(e)
                if case .none = v { return nil }
                return try v.requireInt("a slice index")
            }
            return try JinjaAccess.slice(value, start: try bound(start), stop: try bound(stop), step: try bound(step))
        case .call(let callee, let arguments):
            let function = try evaluate(callee)
            let args = try evaluateArguments(arguments)
            switch function {
            case .function(let f): return try f.call(args)
            case .undefined(let u): throw JinjaFailure.runtime(u.hint)
            default: throw JinjaFailure.runtime("'\(function.typeName)' object is not callable")
            }
        case .filter(let base, let call):
            return try applyFilter(call, to: try evaluate(base))
        case .test(let base, let name, let arguments, let negated):
            let result = try JinjaTests.apply(name, to: try evaluate(base), try evaluateArguments(arguments))
            return .bool(result != negated)
        case .not(let operand):
            return .bool(!(try evaluate(operand).truthy))
        case .negate(let operand):
            return try JinjaArithmetic.negate(try evaluate(operand))
        case .plus(let operand):
            let value = try evaluate(operand)
            try value.requireDefined()
            guard let number = value.number else { throw JinjaFailure.runtime("bad operand type for unary +: '\(value.typeName)'") }
            return number.value
        case .binary(let op, let left, let right):
            return try JinjaArithmetic.apply(op, try evaluate(left), try evaluate(right))
        case .and(let left, let right):
            let l = try evaluate(left)
            return l.truthy ? try evaluate(right) : l
        case .or(let left, let right):
            let l = try evaluate(left)
            return l.truthy ? l : try evaluate(right)
        case .concat(let parts):
            let joined = try parts.map { try evaluate($0).str() }.joined()
            try JinjaLimits.check(joined)
            return .string(joined)
        case .compare(let first, let chain):
            var left = try evaluate(first)
            for link in chain {
                let right = try evaluate(link.operand)
                let holds: Bool
                switch link.op {
                case "==": holds = JinjaValue.equal(left, right)
                case "!=": holds = !JinjaValue.equal(left, right)
                case "in": holds = try right.contains(left)
                case "not in": holds = !(try right.contains(left))
                default: holds = try JinjaValue.compare(left, right, link.op)
                }
                if !holds { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let condition, let then, let otherwise):
            if try evaluate(condition).truthy { return try evaluate(then) }
            if let otherwise { return try evaluate(otherwise) }
            return .undefined("the inline if-expression on line \(expr.location.line) evaluated to false and no else section was defined")
        }
    }

    func evaluateArguments(_ arguments: JinjaCallArguments) throws -> JinjaArguments {
        JinjaArguments(positional: try arguments.positional.map(evaluate),
                       keywords: try arguments.keywords.map { JinjaNamedValue(name: $0.name, value: try evaluate($0.value)) })
    }

    func applyFilter(_ call: JinjaFilterCall, to value: JinjaValue) throws -> JinjaValue {
        let arguments = try evaluateArguments(call.arguments)
        do {
            return try JinjaFilters.apply(call.name, to: value, arguments)
        } catch let failure as JinjaFailure {
            throw failure.located(call.location)
        }
    }
}
