/// The parsed form of a template: statements holding expressions, each with its place in the
/// source so that rendering errors can point at it.

enum JinjaConstant: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)

    var value: JinjaValue {
        switch self {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        }
    }
}

struct JinjaExpr: Sendable {
    let kind: JinjaExprKind
    let location: JinjaLocation
    /// Height of this expression's tree; the parser bounds it so that evaluating (and freeing)
    /// a tree cannot exhaust the stack.
    let depth: Int

    init(kind: JinjaExprKind, location: JinjaLocation) {
        self.kind = kind
        self.location = location
        self.depth = 1 + kind.children.reduce(0) { max($0, $1.depth) }
    }
}

struct JinjaKeyword: Sendable {
    let name: String
    let value: JinjaExpr
}

struct JinjaCallArguments: Sendable {
    var positional: [JinjaExpr] = []
    var keywords: [JinjaKeyword] = []
}

/// `| name(args)`, in an expression or on a `{% set %}` block.
struct JinjaFilterCall: Sendable {
    let name: String
    let arguments: JinjaCallArguments
    let location: JinjaLocation
}

struct JinjaDictEntry: Sendable {
    let key: JinjaExpr
    let value: JinjaExpr
}

enum JinjaBinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
}

/// One link of a comparison chain such as `a < b <= c`: `==`, `!=`, `<`, `<=`, `>`, `>=`,
/// `in` or `not in`.
struct JinjaComparison: Sendable {
    let op: String
    let operand: JinjaExpr
}

indirect enum JinjaExprKind: Sendable {
    case constant(JinjaConstant)
    case name(String)
    case list([JinjaExpr])
    case tuple([JinjaExpr])
    case dict([JinjaDictEntry])
    /// `a.b`: Python attribute first, then item, as jinja2's getattr.
    case attribute(JinjaExpr, String)
    /// `a[b]`: item first, then attribute.
    case item(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, start: JinjaExpr?, stop: JinjaExpr?, step: JinjaExpr?)
    case call(JinjaExpr, JinjaCallArguments)
    case filter(JinjaExpr, JinjaFilterCall)
    case test(JinjaExpr, name: String, JinjaCallArguments, negated: Bool)
    case not(JinjaExpr)
    case negate(JinjaExpr)
    case plus(JinjaExpr)
    case binary(JinjaBinaryOperator, JinjaExpr, JinjaExpr)
    case and(JinjaExpr, JinjaExpr)
    case or(JinjaExpr, JinjaExpr)
    /// `a ~ b ~ c`: string concatenation of `str()` of each.
    case concat([JinjaExpr])
    case compare(JinjaExpr, [JinjaComparison])
    /// `a if cond else b`; with no else, a false condition gives Undefined.
    case conditional(JinjaExpr, then: JinjaExpr, otherwise: JinjaExpr?)
}

extension JinjaExprKind {
    /// The direct subexpressions.
    var children: [JinjaExpr] {
        switch self {
        case .constant, .name: return []
        case .list(let items), .tuple(let items), .concat(let items): return items
        case .dict(let entries): return entries.flatMap { [$0.key, $0.value] }
        case .attribute(let base, _): return [base]
        case .item(let base, let key): return [base, key]
        case .slice(let base, let start, let stop, let step): return [base] + [start, stop, step].compactMap { $0 }
        case .call(let callee, let arguments): return [callee] + arguments.all
        case .filter(let base, let call): return [base] + call.arguments.all
        case .test(let base, _, let arguments, _): return [base] + arguments.all
        case .not(let e), .negate(let e), .plus(let e): return [e]
        case .binary(_, let a, let b), .and(let a, let b), .or(let a, let b): return [a, b]
        case .compare(let first, let chain): return [first] + chain.map(\.operand)
        case .conditional(let condition, let then, let otherwise): return [condition, then] + (otherwise.map { [$0] } ?? [])
        }
    }
}

extension JinjaCallArguments {
    var all: [JinjaExpr] { positional + keywords.map(\.value) }
}

/// What `{% for %}` and `{% set %}` assign to.
enum JinjaTarget: Sendable {
    case name(String)
    /// `a, b` unpacking.
    case names([String])
    /// `ns.attr`, only for namespace objects.
    case namespaceAttribute(String, String)
}

struct JinjaBranch: Sendable {
    let condition: JinjaExpr
    let body: [JinjaNode]
}

struct JinjaForLoop: Sendable {
    let target: JinjaTarget
    let iterable: JinjaExpr
    let condition: JinjaExpr?
    let body: [JinjaNode]
    let otherwise: [JinjaNode]
    let location: JinjaLocation
}

indirect enum JinjaNode: Sendable {
    case text(String)
    case output(JinjaExpr)
    case conditional([JinjaBranch], otherwise: [JinjaNode])
    case loop(JinjaForLoop)
    case assign(JinjaTarget, JinjaExpr, JinjaLocation)
    /// `{% set x %}...{% endset %}`: the rendered body, through optional filters.
    case assignBlock(JinjaTarget, filters: [JinjaFilterCall], body: [JinjaNode], JinjaLocation)
    case breakLoop
    case continueLoop
}
