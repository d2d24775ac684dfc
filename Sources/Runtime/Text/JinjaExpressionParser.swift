/// Expressions, with jinja2's precedence from loosest to tightest:
/// `x if c else y`; `or`; `and`; `not`; comparisons and `in`; `+ -`; `~`; `* / // %`; `**`;
/// unary `- +`; then postfix `.attr`, `[item]`, `(call)`, and filters `|f` and tests `is t`,
/// which bind tighter than any binary operator (`'a' + b | trim` trims only `b`).
extension JinjaParser {
    /// `a, b` makes a tuple; used where jinja2 calls `parse_tuple` (`{{ }}`, `set`, `for ... in`).
    mutating func parseTuple(conditional: Bool = true, endNames: Set<String> = []) throws -> JinjaExpr {
        let location = current.location
        var items: [JinjaExpr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if current.kind == .variableEnd || current.kind == .blockEnd || isOp(")") { break }
            if case .name(let n) = current.kind, endNames.contains(n) { break }
            items.append(conditional ? try parseExpression() : try parseOr())
            guard isOp(",") else { break }
            isTuple = true
        }
        if !isTuple {
            guard let only = items.first else { throw fail("expected an expression, got \(current.describe)") }
            return only
        }
        return JinjaExpr(kind: .tuple(items), location: location)
    }

    mutating func parseExpression() throws -> JinjaExpr {
        var expr = try parseOr()
        while isName("if") {
            let location = current.location
            advance()
            let condition = try parseOr()
            var otherwise: JinjaExpr?
            if skipName("else") { otherwise = try parseExpression() }
            expr = try bounded(JinjaExpr(kind: .conditional(condition, then: expr, otherwise: otherwise), location: location))
        }
        return expr
    }

    mutating func parseOr() throws -> JinjaExpr {
        var left = try parseAnd()
        while isName("or") {
            let location = current.location
            advance()
            left = try bounded(JinjaExpr(kind: .or(left, try parseAnd()), location: location))
        }
        return left
    }

    mutating func parseAnd() throws -> JinjaExpr {
        var left = try parseNot()
        while isName("and") {
            let location = current.location
            advance()
            left = try bounded(JinjaExpr(kind: .and(left, try parseNot()), location: location))
        }
        return left
    }

    mutating func parseNot() throws -> JinjaExpr {
        if isName("not") {
            let location = current.location
            advance()
            try enter(location)
            defer { leave() }
            return JinjaExpr(kind: .not(try parseNot()), location: location)
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws -> JinjaExpr {
        let left = try parseMath1()
        var chain: [JinjaComparison] = []
        while true {
            if case .op(let op) = current.kind, ["==", "!=", "<", ">", "<=", ">="].contains(op) {
                advance()
                chain.append(JinjaComparison(op: op, operand: try parseMath1()))
            } else if isName("in") {
                advance()
                chain.append(JinjaComparison(op: "in", operand: try parseMath1()))
            } else if isName("not") && next.kind == .name("in") {
                advance()
                advance()
                chain.append(JinjaComparison(op: "not in", operand: try parseMath1()))
            } else {
                break
            }
        }
        return chain.isEmpty ? left : try bounded(JinjaExpr(kind: .compare(left, chain), location: left.location))
    }

    mutating func parseMath1() throws -> JinjaExpr {
        var left = try parseConcat()
        while isOp("+") || isOp("-") {
            let location = current.location
            let op: JinjaBinaryOperator = isOp("+") ? .add : .subtract
            advance()
            left = try bounded(JinjaExpr(kind: .binary(op, left, try parseConcat()), location: location))
        }
        return left
    }

    mutating func parseConcat() throws -> JinjaExpr {
        let first = try parseMath2()
        var parts = [first]
        var location = first.location
        while isOp("~") {
            location = current.location
            advance()
            parts.append(try parseMath2())
        }
        return parts.count == 1 ? first : try bounded(JinjaExpr(kind: .concat(parts), location: location))
    }

    mutating func parseMath2() throws -> JinjaExpr {
        var left = try parsePower()
        while true {
            let op: JinjaBinaryOperator
            if isOp("*") { op = .multiply } else if isOp("/") { op = .divide } else if isOp("//") { op = .floorDivide } else if isOp("%") { op = .modulo } else { break }
            let location = current.location
            advance()
            left = try bounded(JinjaExpr(kind: .binary(op, left, try parsePower()), location: location))
        }
        return left
    }

    mutating func parsePower() throws -> JinjaExpr {
        var left = try parseUnary()
        while isOp("**") {
            let location = current.location
            advance()
            left = try bounded(JinjaExpr(kind: .binary(.power, left, try parseUnary()), location: location))
        }
        return left
    }

    mutating func parseUnary(filters: Bool = true) throws -> JinjaExpr {
        let location = current.location
        var expr: JinjaExpr
        if isOp("-") || isOp("+") {
            let negate = isOp("-")
            advance()
            try enter(location)
            defer { leave() }
            let operand = try parseUnary(filters: false)
            expr = JinjaExpr(kind: negate ? .negate(operand) : .plus(operand), location: location)
        } else {
            expr = try parsePrimary()
        }
        expr = try parsePostfix(expr)
        if filters { expr = try parseFilterExpression(expr) }
        return expr
    }

    mutating func parsePrimary() throws -> JinjaExpr {
        let token = current
        let location = token.location
        switch token.kind {
        case .name(let name):
            advance()
            switch name {
            case "true", "True": return JinjaExpr(kind: .constant(.bool(true)), location: location)
            case "false", "False": return JinjaExpr(kind: .constant(.bool(false)), location: location)
            case "none", "None": return JinjaExpr(kind: .constant(.none), location: location)
            default: return JinjaExpr(kind: .name(name), location: location)
            }
        case .string(var text):
            advance()
            // Adjacent literals join, as in Python: 'a' "b" is "ab".
            while case .string(let more) = current.kind {
                text += more
                advance()
            }
            return JinjaExpr(kind: .constant(.string(text)), location: location)
        case .integer(let i):
            advance()
            return JinjaExpr(kind: .constant(.int(i)), location: location)
        case .float(let d):
            advance()
            return JinjaExpr(kind: .constant(.double(d)), location: location)
        case .op("("):
            advance()
            try enter(location)
            defer { leave() }
            if skipOp(")") { return JinjaExpr(kind: .tuple([]), location: location) }
            let inner = try parseTuple()
            try expectOp(")")
            return inner
        case .op("["):
            advance()
            try enter(location)
            defer { leave() }
            var items: [JinjaExpr] = []
            while !isOp("]") {
                if !items.isEmpty {
                    try expectOp(",")
                    if isOp("]") { break }
                }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return JinjaExpr(kind: .list(items), location: location)
        case .op("{"):
            advance()
            try enter(location)
            defer { leave() }
            var entries: [JinjaDictEntry] = []
            while !isOp("}") {
                if !entries.isEmpty {
                    try expectOp(",")
                    if isOp("}") { break }
                }
                let key = try parseExpression()
                try expectOp(":")
                entries.append(JinjaDictEntry(key: key, value: try parseExpression()))
            }
            try expectOp("}")
            return JinjaExpr(kind: .dict(entries), location: location)
        default:
            throw fail("unexpected \(token.describe) in an expression")
        }
    }

    /// Refuses trees too tall to evaluate safely; chains like `a.b.c...` or `1 + 1 + ...` grow
    /// them without nesting brackets.
    func bounded(_ expr: JinjaExpr) throws -> JinjaExpr {
        guard expr.depth <= Self.maximumNesting else {
            throw unsupported("expressions nested deeper than \(Self.maximumNesting) levels", expr.location)
        }
        return expr
    }

    mutating func parsePostfix(_ base: JinjaExpr) throws -> JinjaExpr {
        var expr = base
        while true {
            expr = try bounded(expr)
            let location = current.location
            if isOp(".") {
                advance()
                switch current.kind {
                case .name(let name):
                    advance()
                    expr = JinjaExpr(kind: .attribute(expr, name), location: location)
                case .integer(let i):
                    advance()
                    expr = JinjaExpr(kind: .item(expr, JinjaExpr(kind: .constant(.int(i)), location: location)), location: location)
                default:
                    throw fail("expected an attribute name after '.', got \(current.describe)")
                }
            } else if isOp("[") {
                advance()
                expr = try parseSubscript(expr, location)
            } else if isOp("(") {
                expr = JinjaExpr(kind: .call(expr, try parseCallArguments()), location: expr.location)
            } else {
                return expr
            }
        }
    }

    mutating func parseSubscript(_ base: JinjaExpr, _ location: JinjaLocation) throws -> JinjaExpr {
        var bounds: [JinjaExpr?] = []
        var isSlice = false
        if !isOp(":") {
            bounds.append(try parseExpression())
        } else {
            bounds.append(nil)
        }
        while skipOp(":") {
            isSlice = true
            if isOp(":") || isOp("]") {
                bounds.append(nil)
            } else {
                bounds.append(try parseExpression())
            }
        }
        if isOp(",") { throw unsupported("subscripts with several values (a[x, y])", current.location) }
        try expectOp("]")
        guard isSlice else { return JinjaExpr(kind: .item(base, bounds[0]!), location: location) }
        guard bounds.count <= 3 else { throw fail("a slice has at most three parts", location) }
        while bounds.count < 3 { bounds.append(nil) }
        return JinjaExpr(kind: .slice(base, start: bounds[0], stop: bounds[1], step: bounds[2]), location: location)
    }

    mutating func parseCallArguments() throws -> JinjaCallArguments {
        try expectOp("(")
        var arguments = JinjaCallArguments()
        var first = true
        while !isOp(")") {
            if !first {
                try expectOp(",")
                if isOp(")") { break }
            }
            first = false
            if isOp("*") || isOp("**") { throw unsupported("*args and **kwargs in calls", current.location) }
            if case .name(let name) = current.kind, next.kind == .op("=") {
                advance()
                advance()
                arguments.keywords.append(JinjaKeyword(name: name, value: try parseExpression()))
            } else {
                guard arguments.keywords.isEmpty else { throw fail("a positional argument follows a keyword argument") }
                arguments.positional.append(try parseExpression())
            }
        }
        try expectOp(")")
        return arguments
    }

    mutating func parseFilterExpression(_ base: JinjaExpr) throws -> JinjaExpr {
        var expr = base
        while true {
            expr = try bounded(expr)
            let location = current.location
            if isOp("|") {
                advance()
                expr = JinjaExpr(kind: .filter(expr, try parseFilterCall(location)), location: location)
            } else if isName("is") {
                advance()
                expr = try parseTest(expr, location)
            } else if isOp("(") {
                expr = JinjaExpr(kind: .call(expr, try parseCallArguments()), location: location)
            } else {
                return expr
            }
        }
    }

    mutating func parseFilterCall(_ location: JinjaLocation) throws -> JinjaFilterCall {
        let nameLocation = current.location
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        guard JinjaFilters.supported.contains(name) else {
            throw unsupported("the filter '\(name)'", nameLocation)
        }
        let arguments = isOp("(") ? try parseCallArguments() : JinjaCallArguments()
        return JinjaFilterCall(name: name, arguments: arguments, location: location)
    }

    mutating func parseTest(_ value: JinjaExpr, _ location: JinjaLocation) throws -> JinjaExpr {
        let negated = skipName("not")
        let nameLocation = current.location
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        guard JinjaTests.supported.contains(name) else {
            throw unsupported("the test '\(name)'", nameLocation)
        }
        var arguments = JinjaCallArguments()
        if isOp("(") {
            arguments = try parseCallArguments()
        } else if startsPrimary, !isName("else"), !isName("or"), !isName("and") {
            // `x is divisibleby 3`: one argument without parentheses.
            if isName("is") { throw fail("tests cannot be chained with 'is'") }
            arguments.positional = [try parsePostfix(try parsePrimary())]
        }
        return JinjaExpr(kind: .test(value, name: name, arguments, negated: negated), location: location)
    }

    private var startsPrimary: Bool {
        switch current.kind {
        case .name, .string, .integer, .float: return true
        case .op(let op): return op == "(" || op == "[" || op == "{"
        default: return false
        }
    }
}
