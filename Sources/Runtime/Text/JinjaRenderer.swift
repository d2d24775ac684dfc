/// Variables visible at one point of a render. jinja2 gives each iteration of a `{% for %}` its
/// own scope (assignments inside a loop body vanish after the iteration), while `{% if %}`
/// shares its enclosing scope; `namespace()` objects are how templates carry state out.
final class JinjaScope {
    private var variables: [String: JinjaValue] = [:]
    private let parent: JinjaScope?

    init(parent: JinjaScope?, _ variables: [String: JinjaValue] = [:]) {
        self.parent = parent
        self.variables = variables
    }

    func lookup(_ name: String) -> JinjaValue? {
        var scope: JinjaScope? = self
        while let s = scope {
            if let value = s.variables[name] { return value }
            scope = s.parent
        }
        return nil
    }

    func assign(_ name: String, _ value: JinjaValue) { variables[name] = value }
}

/// Walks the statement tree and writes the prompt.
final class JinjaRenderer {
    private(set) var output = ""
    var scope: JinjaScope

    enum Flow { case normal, breakLoop, continueLoop }

    init(variables: [String: JinjaValue]) {
        let globals = JinjaScope(parent: nil, JinjaGlobals.functions())
        scope = JinjaScope(parent: globals, variables)
    }

    func render(_ nodes: [JinjaNode]) throws -> String {
        _ = try execute(nodes)
        return output
    }

    func execute(_ nodes: [JinjaNode]) throws -> Flow {
        for node in nodes {
            let flow = try execute(node)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func execute(_ node: JinjaNode) throws -> Flow {
        switch node {
        case .text(let text):
            output += text
            try JinjaLimits.check(output)
        case .output(let expr):
            let value = try evaluate(expr)
            do {
                output += try value.str()
                try JinjaLimits.check(output)
            } catch let failure as JinjaFailure {
                throw failure.located(expr.location)
            }
        case .conditional(let branches, let otherwise):
            for branch in branches where try evaluate(branch.condition).truthy {
                return try execute(branch.body)
            }
            return try execute(otherwise)
        case .loop(let loop):
            try run(loop)
        case .assign(let target, let expr, let location):
            try bind(target, try evaluate(expr), location)
        case .assignBlock(let target, let filters, let body, let location):
            let saved = output
            output = ""
            let flow = try execute(body)
            var value = JinjaValue.string(output)
            output = saved
            for filter in filters { value = try applyFilter(filter, to: value) }
            try bind(target, value, location)
            if flow != .normal { return flow }
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    private func run(_ loop: JinjaForLoop) throws {
        let iterable = try evaluate(loop.iterable)
        var items: [JinjaValue]
        do { items = try iterable.iterate() } catch let failure as JinjaFailure { throw failure.located(loop.iterable.location) }
        let outer = scope
        defer { scope = outer }
        if let condition = loop.condition {
            items = try items.filter { item in
                scope = JinjaScope(parent: outer)
                try bind(loop.target, item, loop.location)
                return try evaluate(condition).truthy
            }
        }
        if items.isEmpty {
            scope = JinjaScope(parent: outer)
            _ = try execute(loop.otherwise)
            return
        }
        for index in items.indices {
            scope = JinjaScope(parent: outer)
            try bind(loop.target, items[index], loop.location)
            scope.assign("loop", .loop(JinjaLoop(items: items, index0: index)))
            if try execute(loop.body) == .breakLoop { break }
        }
    }

    /// Values nest at most this deep once stored: a template that wraps a value in a list once
    /// per loop iteration (through a namespace) would otherwise build one too deep to print
    /// or free without exhausting the stack.
    static let maximumValueNesting = 200

    private func bind(_ target: JinjaTarget, _ value: JinjaValue, _ location: JinjaLocation) throws {
        if value.nesting(limit: Self.maximumValueNesting + 1) > Self.maximumValueNesting {
            throw JinjaFailure.unsupported("values nested deeper than \(Self.maximumValueNesting) levels").located(location)
        }
        switch target {
        case .name(let name):
            scope.assign(name, value)
        case .names(let names):
            let parts: [JinjaValue]
            do { parts = try value.iterate() } catch let failure as JinjaFailure {
                throw JinjaFailure.runtime("cannot unpack: \(failure.message)").located(location)
            }
            guard parts.count == names.count else {
                throw JinjaFailure.runtime("cannot unpack \(parts.count) values into \(names.count) names").located(location)
            }
            for (name, part) in zip(names, parts) { scope.assign(name, part) }
        case .namespaceAttribute(let name, let attribute):
            guard case .namespace(let ns)? = scope.lookup(name) else {
                throw JinjaFailure.runtime("cannot assign attribute on non-namespace object").located(location)
            }
            ns.attributes[.string(attribute)] = value
        }
    }
}

/// Bounds on what a render may build, so that a hostile template fails instead of exhausting
/// memory (jinja2 would raise MemoryError or run until killed).
enum JinjaLimits {
    static let maximumStringBytes = 64 << 20
    static let maximumListCount = 1 << 22

    static func check(_ text: String) throws {
        if text.utf8.count > maximumStringBytes {
            throw JinjaFailure.unsupported("text longer than \(maximumStringBytes >> 20) MiB")
        }
    }

    static func check(_ items: [JinjaValue]) throws {
        if items.count > maximumListCount {
            throw JinjaFailure.unsupported("lists longer than \(maximumListCount) items")
        }
    }
}
