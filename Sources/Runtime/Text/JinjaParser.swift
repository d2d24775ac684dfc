/// Builds the statement tree from tokens, following jinja2's parser so that templates mean
/// what they mean there; tags this renderer does not implement fail here, before any render.
struct JinjaParser {
    var tokens: [JinjaToken]
    var index = 0
    /// Open `{% for %}` blocks, for `{% break %}` and `{% continue %}`.
    var loopDepth = 0
    /// Nesting of blocks and bracketed expressions, bounded so that a hostile template cannot
    /// exhaust the stack.
    var nesting = 0
    static let maximumNesting = 100

    /// Tags jinja2 knows and this renderer refuses, so that the error says "unsupported"
    /// rather than "unknown".
    static let unsupportedTags: Set<String> = [
        "macro", "call", "filter", "include", "import", "from", "extends", "block", "with",
        "autoescape", "do", "trans", "pluralize",
    ]

    init(tokens: [JinjaToken]) { self.tokens = tokens }

    static func parse(_ source: String) throws -> [JinjaNode] {
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let (nodes, _) = try parser.parseBody(until: [], opener: nil)
        return nodes
    }

    // MARK: Token stream

    var current: JinjaToken { tokens[index] }
    var next: JinjaToken { tokens[min(index + 1, tokens.count - 1)] }

    mutating func advance() {
        if index < tokens.count - 1 { index += 1 }
    }

    func fail(_ message: String, _ location: JinjaLocation? = nil) -> ChatTemplateError {
        let l = location ?? current.location
        return ChatTemplateError(kind: .syntax, message: message, line: l.line, column: l.column)
    }

    func unsupported(_ message: String, _ location: JinjaLocation) -> ChatTemplateError {
        ChatTemplateError(kind: .unsupported, message: message, line: location.line, column: location.column)
    }

    func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    func isName(_ name: String) -> Bool { current.kind == .name(name) }

    mutating func skipOp(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        advance()
        return true
    }

    mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        advance()
        return true
    }

    mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw fail("expected '\(op)', got \(current.describe)") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let name) = current.kind else { throw fail("expected a name, got \(current.describe)") }
        advance()
        return name
    }

    mutating func expectBlockEnd(_ tag: String) throws {
        guard current.kind == .blockEnd else {
            throw fail("expected '%}' to end the '\(tag)' tag, got \(current.describe)")
        }
        advance()
    }

    mutating func enter(_ location: JinjaLocation) throws {
        nesting += 1
        if nesting > Self.maximumNesting {
            throw unsupported("nesting deeper than \(Self.maximumNesting) levels", location)
        }
    }

    mutating func leave() { nesting -= 1 }

    // MARK: Statements

    /// Parses until one of `endTags` opens a block tag; consumes `{%` and that tag's name and
    /// returns it, leaving the rest of the tag (an `elif` condition, `%}`) to the caller.
    mutating func parseBody(until endTags: Set<String>, opener: (tag: String, location: JinjaLocation)?) throws -> ([JinjaNode], String?) {
        var nodes: [JinjaNode] = []
        while true {
            let token = current
            switch token.kind {
            case .text(let text):
                nodes.append(.text(text))
                advance()
            case .variableBegin:
                advance()
                let expr = try parseTuple()
                guard current.kind == .variableEnd else { throw fail("expected '}}', got \(current.describe)") }
                advance()
                nodes.append(.output(expr))
            case .blockBegin:
                advance()
                guard case .name(let tag) = current.kind else { throw fail("expected a tag name after '{%', got \(current.describe)") }
                if endTags.contains(tag) {
                    advance()
                    return (nodes, tag)
                }
                nodes += try parseStatement(tag)
            case .eof:
                if let opener {
                    let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw fail("unexpected end of template: the '\(opener.tag)' tag at line \(opener.location.line), column \(opener.location.column) needs \(expected)")
                }
                return (nodes, nil)
            default:
                throw fail("unexpected \(token.describe)")
            }
        }
    }

    mutating func parseStatement(_ tag: String) throws -> [JinjaNode] {
        let location = current.location
        try enter(location)
        defer { leave() }
        advance()
        switch tag {
        case "for": return [try parseFor(location)]
        case "if": return [try parseIf(location)]
        case "set": return [try parseSet(location)]
        case "print":
            let expr = try parseTuple()
            try expectBlockEnd(tag)
            return [.output(expr)]
        case "break", "continue":
            guard loopDepth > 0 else { throw fail("'\(tag)' outside a loop", location) }
            try expectBlockEnd(tag)
            return [tag == "break" ? .breakLoop : .continueLoop]
        case "generation":
            // transformers' marker of assistant text; for rendering it is just its body.
            try expectBlockEnd(tag)
            let (body, _) = try parseBody(until: ["endgeneration"], opener: (tag, location))
            try expectBlockEnd("endgeneration")
            return body
        default:
            if Self.unsupportedTags.contains(tag) {
                throw unsupported("the '{% \(tag) %}' tag", location)
            }
            if tag.hasPrefix("end") || tag == "else" || tag == "elif" {
                throw fail("unexpected '{% \(tag) %}' with no block open that it closes", location)
            }
            throw fail("unknown tag '\(tag)'", location)
        }
    }

    mutating func parseFor(_ location: JinjaLocation) throws -> JinjaNode {
        let target = try parseAssignTarget(namespace: false, endName: "in")
        guard skipName("in") else { throw fail("expected 'in' in the 'for' tag, got \(current.describe)") }
        let iterable = try parseTuple(conditional: false, endNames: ["recursive", "if"])
        var condition: JinjaExpr?
        if skipName("if") { condition = try parseExpression() }
        if isName("recursive") { throw unsupported("recursive loops", current.location) }
        try expectBlockEnd("for")
        loopDepth += 1
        var (body, end) = try parseBody(until: ["endfor", "else"], opener: ("for", location))
        loopDepth -= 1
        var otherwise: [JinjaNode] = []
        if end == "else" {
            try expectBlockEnd("else")
            (otherwise, end) = try parseBody(until: ["endfor"], opener: ("for", location))
        }
        try expectBlockEnd("endfor")
        return .loop(JinjaForLoop(target: target, iterable: iterable, condition: condition, body: body,
                                  otherwise: otherwise, location: location))
    }

    mutating func parseIf(_ location: JinjaLocation) throws -> JinjaNode {
        var branches: [JinjaBranch] = []
        var condition = try parseTuple(conditional: false)
        var tag = "if"
        while true {
            try expectBlockEnd(tag)
            let (body, end) = try parseBody(until: ["elif", "else", "endif"], opener: ("if", location))
            branches.append(JinjaBranch(condition: condition, body: body))
            switch end {
            case "elif":
                condition = try parseTuple(conditional: false)
                tag = "elif"
            case "else":
                try expectBlockEnd("else")
                let (otherwise, _) = try parseBody(until: ["endif"], opener: ("if", location))
                try expectBlockEnd("endif")
                return .conditional(branches, otherwise: otherwise)
            default:
                try expectBlockEnd("endif")
                return .conditional(branches, otherwise: [])
            }
        }
    }

    mutating func parseSet(_ location: JinjaLocation) throws -> JinjaNode {
        let target = try parseAssignTarget(namespace: true, endName: nil)
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd("set")
            return .assign(target, value, location)
        }
        var filters: [JinjaFilterCall] = []
        while isOp("|") {
            let at = current.location
            advance()
            filters.append(try parseFilterCall(at))
        }
        try expectBlockEnd("set")
        let (body, _) = try parseBody(until: ["endset"], opener: ("set", location))
        try expectBlockEnd("endset")
        return .assignBlock(target, filters: filters, body: body, location)
    }

    /// A name, `a, b` (or `(a, b)`), or with `namespace` `ns.attr`.
    mutating func parseAssignTarget(namespace: Bool, endName: String?) throws -> JinjaTarget {
        if namespace, case .name(let name) = current.kind, next.kind == .op(".") {
            advance()
            advance()
            return .namespaceAttribute(name, try expectName())
        }
        let parenthesized = skipOp("(")
        var names: [String] = []
        var isTuple = parenthesized
        while true {
            guard case .name(let name) = current.kind else {
                if isOp("(") { throw unsupported("nested unpacking in an assignment", current.location) }
                throw fail("expected a variable name to assign to, got \(current.describe)")
            }
            if ["true", "false", "none", "True", "False", "None"].contains(name) {
                throw fail("cannot assign to '\(name)'", current.location)
            }
            names.append(name)
            advance()
            guard skipOp(",") else { break }
            isTuple = true
            if parenthesized && isOp(")") { break }
            if !parenthesized, current.kind == .blockEnd || isOp("=") || (endName.map(isName) ?? false) { break }
        }
        if parenthesized { try expectOp(")") }
        return isTuple ? .names(names) : .name(names[0])
    }
}
