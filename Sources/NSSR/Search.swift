import Foundation
import Runtime

/// The logits of one supervision step of a search guide: the NSSR model's heads.
public typealias GuideHeads = NSSRHeads

/// What guides the search: a model whose heads rank the registry's first F functions.
public protocol SearchGuide {
    /// The function names the model's heads were trained for (the registry's first F, in id order).
    var functionNames: [String] { get }
    var supervisionSteps: Int { get }
    /// Starts a task: each call of the returned closure runs one more supervision step and returns its heads.
    func start(rows: [[Double]]) throws -> () -> GuideHeads   // rows: inputs then output, first min(m, seq_len) rows are read by the model
}

/// The search's constants (docs/nssr.md, "Search").
public struct SearchSettings: Sendable {
    public var initialTemperature = 2.0
    public var temperatureDecay = 0.05
    public var minimumTemperature = 0.1
    public var retryIncrease = 0.5
    public var retries = 2
    /// A function head keeps the functions of at least this tempered probability, `topK` bounding how many.
    public var probabilityFloor = 0.02
    public var topK = 3...8
    /// Composition types of at least this tempered probability are tried (the argmax always).
    public var compositionFloor = 0.1
    public var parallelRoutingCap = 30
    public var r2Threshold = 0.999
    /// The most input columns a task may have: the search tries every pair and triple of columns
    /// for every function combination, which grows as c^3 (not in docs/nssr.md: a guard against a
    /// search that would run for hours).
    public var maxInputColumns = 16

    public init() {}
}

/// Where a candidate came from: the groups of a supervision step, in order, after reuse.
public enum CandidateGroup: String, Sendable, CaseIterable {
    case reuse, depth1 = "depth-1", sequential, nested, parallel, loop
}

/// The search's answer, simplified: the steps it keeps, reading the task's `columns` as the
/// function's inputs `0..<columns.count`.
public struct SearchAnswer: Sendable {
    /// The simplified function over its own renumbered inputs, as registered: `MUL(MUL(a, b), 9.81)`.
    public let expression: String
    /// The same over the task's columns: `MUL(MUL(b, c), 9.81)` when the task's a is junk.
    public let taskExpression: String
    public let steps: [CompositionStep]
    /// The task columns the function reads, in increasing order: its inputs.
    public let columns: [Int]
    public let constant: Double?
    public let constMode: ConstMode?
    /// R^2 of the prediction (constant applied) on every row.
    public let r2: Double
    /// True when the prediction (constant applied) matches every row within the tolerance.
    public let exact: Bool
    public let group: CandidateGroup
    /// The supervision step and retry that found it (nil for reuse).
    public let supervisionStep: Int?
    public let retry: Int?
    /// Primitive steps of the answer (a learned child's own steps counted).
    public let cost: Int

    public var arity: Int { columns.count }
    public var compositionJSON: String { CompositionJSON.encode(steps) }
}

public struct SearchReport: Sendable {
    public let answer: SearchAnswer?
    /// Supervision steps examined, over every try.
    public let stepsRun: Int
    /// Candidates evaluated on the rows (a candidate that could not beat the group's best, or was
    /// already tried in an earlier step, is not evaluated again).
    public let candidatesValidated: Int
    public let seconds: Double
}

/// The neuro-symbolic search over one task (docs/nssr.md, "Search"): reuse of learned functions,
/// then per supervision step the candidates built from the guide's top functions, validated
/// exactly (or with a fitted constant) against the rows.
public final class NSSRSearch {
    public let table: FunctionTable
    public let task: TaskTable
    public let settings: SearchSettings

    let m: Int, nc: Int
    let y: [Double]
    let trainCount: Int
    /// SS_tot of the output over the train rows and over the holdout rows.
    let trainSSTot: Double, holdSSTot: Double
    /// The task's input columns.
    let inputs: [[Double]]
    let zero: [Double]
    /// Kept column sets, in the doc's order.
    let variants: [[Int]]

    struct LeafKey: Hashable {
        let function: Int
        let body: Int
        let args: [Int]
    }
    /// Results of steps that read only columns and the literal: shared by every candidate.
    var leafCache: [LeafKey: [Double]] = [:]
    var scratch: [[Double]]
    var validated = 0
    /// Function combinations of a group already tried in an earlier step or try (they had no
    /// valid candidate, or the search would have stopped).
    var explored: Set<[Int]> = []
    struct RoutingKey: Hashable {
        let length: Int, alphabet: [Int], cover: [Int]
    }
    var routingCache: [RoutingKey: [[Int]]] = [:]

    public init(table: FunctionTable, task: TaskTable, settings: SearchSettings = SearchSettings()) {
        self.table = table
        self.task = task
        self.settings = settings
        m = task.rowCount
        nc = task.inputCount
        y = task.outputs
        inputs = (0..<nc).map { j in task.rows.map { $0[j] } }
        zero = [Double](repeating: 0, count: m)
        scratch = Array(repeating: [Double](repeating: 0, count: m), count: 4)
        let holdout = m / 3
        trainCount = m - holdout
        let outputs = task.outputs
        func ssTot(_ r: Range<Int>) -> Double {
            guard !r.isEmpty else { return 0 }
            let mean = r.reduce(0.0) { $0 + outputs[$1] } / Double(r.count)
            return r.reduce(0.0) { $0 + (outputs[$1] - mean) * (outputs[$1] - mean) }
        }
        trainSSTot = ssTot(0..<(m - holdout))
        holdSSTot = ssTot((m - holdout)..<m)
        var v: [[Int]] = [Array(0..<nc)]
        for a in 0..<nc { v.append([a]) }
        if nc >= 3 { for a in 0..<nc { for b in (a + 1)..<nc { v.append([a, b]) } } }
        if nc >= 4 { for a in 0..<nc { for b in (a + 1)..<nc { for c in (b + 1)..<nc { v.append([a, b, c]) } } } }
        var seen: Set<[Int]> = []
        variants = v.filter { seen.insert($0).inserted }
    }

    // MARK: Running

    /// Runs the search; without a guide only the reuse of learned functions is tried.
    public func run(guide: SearchGuide?) throws -> SearchReport {
        let start = DispatchTime.now().uptimeNanoseconds
        func report(_ answer: SearchAnswer?, _ steps: Int) -> SearchReport {
            SearchReport(answer: answer, stepsRun: steps, candidatesValidated: validated,
                         seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        // A search may run again (with another guide): only the leaf results carry over.
        validated = 0
        explored = []
        if let guide { try table.check(modelFunctions: guide.functionNames) }
        guard nc <= settings.maxInputColumns else {
            throw NSSRError("the task has \(nc) input columns; the search tries every pair and triple of columns and takes at most \(settings.maxInputColumns)")
        }
        if let found = reuse() { return report(answer(found, group: .reuse, step: nil, retry: nil), 0) }
        guard let guide, guide.supervisionSteps > 0 else { return report(nil, 0) }
        let F = guide.functionNames.count
        let next = try guide.start(rows: task.rows)
        var heads: [GuideHeads] = []
        var stepsRun = 0
        for retry in 0...settings.retries {
            let t0 = settings.initialTemperature + settings.retryIncrease * Double(retry)
            for s in 0..<guide.supervisionSteps {
                if heads.count == s {
                    let h = next()
                    for (name, logits) in [("primary", h.primary), ("secondary", h.secondary), ("tertiary", h.tertiary)] where logits.count != F {
                        throw NSSRError("the model's \(name) head gave \(logits.count) logits, not one per function it knows (\(F))")
                    }
                    guard h.composition.count == 4 else {
                        throw NSSRError("the model's composition head gave \(h.composition.count) logits, not 4 (none, sequential, nested, parallel)")
                    }
                    heads.append(h)
                }
                stepsRun += 1
                let t = max(settings.minimumTemperature, t0 - settings.temperatureDecay * Double(s))
                if let (found, group) = step(heads[s], temperature: t) {
                    return report(answer(found, group: group, step: s, retry: retry), stepsRun)
                }
            }
        }
        return report(nil, stepsRun)
    }

    /// Every learned function in id order on every ordered tuple of distinct columns: the first
    /// exact one.
    func reuse() -> Found? {
        for f in table.functions where f.layer >= 1 && f.arity <= nc {
            var found: Found?
            permutations(f.arity) { r in
                let steps = [CompositionStep(f.id, r)]
                validated += 1
                let p = evaluate(steps)
                guard exact(p) else { return true }
                found = Found(steps: steps, constant: nil, mode: nil, cost: table.cost(of: steps), columns: Set(r).count)
                return false
            }
            if let found { return found }
        }
        return nil
    }

    /// Ordered tuples of distinct columns, lexicographic; `body` returns false to stop.
    func permutations(_ n: Int, _ body: ([Int]) -> Bool) {
        var tuple: [Int] = []
        var used = [Bool](repeating: false, count: nc)
        func go() -> Bool {
            if tuple.count == n { return body(tuple) }
            for j in 0..<nc where !used[j] {
                used[j] = true
                tuple.append(j)
                let more = go()
                tuple.removeLast()
                used[j] = false
                if !more { return false }
            }
            return true
        }
        _ = go()
    }

    // MARK: One supervision step

    /// The top functions of one head: k = clamp(#{p >= floor}, 3, 8) (at most every function),
    /// by logit, ties to the lower id. Ids are 1-based.
    func top(_ raw: [Double], temperature t: Double) -> [Int] {
        let logits = raw.map { $0.isNaN ? -Double.infinity : $0 }
        let above = Self.softmax(logits, temperature: t).filter { $0 >= settings.probabilityFloor }.count
        let k = min(max(above, settings.topK.lowerBound), settings.topK.upperBound, logits.count)
        let order = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        return order.prefix(k).map { $0 + 1 }
    }

    /// softmax(logits / t); all zeros when no logit is finite.
    static func softmax(_ logits: [Double], temperature t: Double) -> [Double] {
        let scaled = logits.map { $0 / t }
        guard let peak = scaled.max(), peak.isFinite else { return scaled.map { _ in 0 } }
        let weights = scaled.map { exp($0 - peak) }
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    /// A head's logits extended to every function of the registry (see `extend`).
    public func extendedLogits(_ head: [Float]) -> [Double] { extend(head) }

    /// A head's logits extended to every function: a function beyond the model's F gets the
    /// largest logit among its composition's children and bodies.
    func extend(_ head: [Float]) -> [Double] {
        var logits = head.map(Double.init) + [Double](repeating: .nan, count: table.count - head.count)
        func logit(_ id: Int) -> Double {
            if !logits[id - 1].isNaN { return logits[id - 1] }
            var best = -Double.infinity
            for s in table[id].composition ?? [] {
                best = max(best, logit(s.function))
                if let b = s.body { best = max(best, logit(b)) }
            }
            logits[id - 1] = best
            return best
        }
        for id in stride(from: head.count + 1, through: table.count, by: 1) { _ = logit(id) }
        return logits
    }

    /// The composition types tried: tempered probability >= floor, plus the argmax.
    func compositionTypes(_ raw: [Float], temperature t: Double) -> Set<Int> {
        let logits = raw.map { $0.isNaN ? -Float.infinity : $0 }
        let p = Self.softmax(logits.map(Double.init), temperature: t)
        var chosen = Set(p.indices.filter { p[$0] >= settings.compositionFloor })
        if let argmax = logits.indices.max(by: { logits[$0] != logits[$1] ? logits[$0] < logits[$1] : $0 > $1 }) { chosen.insert(argmax) }
        return chosen
    }

    struct Found {
        var steps: [CompositionStep]
        var constant: Double?
        var mode: ConstMode?
        var cost: Int
        var columns: Int
        var key: (Int, Int, Int) { (cost, constant == nil ? 0 : 1, columns) }
    }

    /// The candidates of one supervision step, group by group; the simplest valid candidate of
    /// the first group that has one.
    func step(_ h: GuideHeads, temperature t: Double) -> (Found, CandidateGroup)? {
        let s1 = top(extend(h.primary), temperature: t)
        let s2 = top(extend(h.secondary), temperature: t)
        let s3 = top(extend(h.tertiary), temperature: t)
        let types = compositionTypes(h.composition, temperature: t)
        let plain = { (id: Int) in !self.table[id].isIteration }
        let arity = { (id: Int) in self.table[id].arity }
        let c = nc

        if let found = group(1, { emit in
            for f in s1 where plain(f) {
                guard explore([1, f]) else { continue }
                for k in variants {
                    for r in routings(arity(f), k) { emit([CompositionStep(f, r)], k.count) }
                }
            }
        }) { return (found, .depth1) }

        if types.contains(1), let found = group(2, { emit in
            for f in s1 where plain(f) {
                for g in s2 where plain(g) && arity(g) >= 1 {
                    guard explore([2, f, g]) else { continue }
                    for k in variants {
                        for r in routings(arity(f), k) {
                            emit([CompositionStep(f, r), CompositionStep(g, Array(repeating: c, count: arity(g)))], k.count)
                        }
                    }
                }
            }
        }) { return (found, .sequential) }

        if types.contains(2), let found = group(3, { emit in
            for f in s1 where plain(f) && arity(f) >= 2 {
                for g in s2 where plain(g) && arity(g) >= 1 {
                    guard explore([3, f, g]) else { continue }
                    let other = arity(f) - 1
                    for k in variants {
                        for position in 0..<arity(f) {
                            // The routing's first arity(f) - 1 entries are f's other arguments, the rest g's.
                            for r in routings(other + arity(g), k) {
                                var outer = Array(r[0..<other])
                                outer.insert(c, at: position)
                                emit([CompositionStep(g, Array(r[other...])), CompositionStep(f, outer)], k.count)
                            }
                        }
                    }
                }
            }
        }) { return (found, .nested) }

        if types.contains(3), let found = group(4, { emit in
            for f in s1 where plain(f) && arity(f) == 2 {
                for g1 in s2 where plain(g1) && arity(g1) >= 1 {
                    for g2 in s3 where plain(g2) && arity(g2) >= 1 {
                        guard explore([4, f, g1, g2]) else { continue }
                        for k in variants {
                            var pairs = 0
                            let all = k.reduce(0) { $0 | (1 << $1) }
                            pairLoop: for r1 in routings(arity(g1), k, cover: []) {
                                let m1 = r1.reduce(0) { $0 | (1 << $1) }
                                for r2 in routings(arity(g2), k, cover: []) where r2.reduce(m1, { $0 | (1 << $1) }) == all {
                                    emit([CompositionStep(g1, r1), CompositionStep(g2, r2), CompositionStep(f, [c, c + 1])], k.count)
                                    pairs += 1
                                    if pairs == settings.parallelRoutingCap { break pairLoop }
                                }
                            }
                        }
                    }
                }
            }
        }) { return (found, .parallel) }

        if let found = group(5, { emit in
            for l in s1 {
                guard let bodyArity = table[l].primitive?.bodyArity else { continue }
                for g in s2 where plain(g) && arity(g) == bodyArity {
                    guard explore([5, l, g]) else { continue }
                    for k in variants {
                        for r in routings(arity(l), k, literal: true) { emit([CompositionStep(l, r, body: g)], k.count) }
                    }
                }
            }
        }) { return (found, .loop) }
        return nil
    }

    /// True the first time a combination of functions is tried in this search.
    func explore(_ key: [Int]) -> Bool { explored.insert(key).inserted }

    /// Validates every candidate `generate` emits (candidate, number of columns it reads); the
    /// simplest valid one: fewest steps, exact before constant, fewest columns, first generated.
    func group(_ number: Int, _ generate: (_ emit: ([CompositionStep], Int) -> Void) -> Void) -> Found? {
        var best: Found?
        generate { steps, columns in
            let cost = table.cost(of: steps)
            if let b = best, !((cost, 0, columns) < b.key) { return }
            validated += 1
            guard var found = fit(evaluate(steps)) else { return }
            found.steps = steps
            found.cost = cost
            found.columns = columns
            if best == nil || found.key < best!.key { best = found }
        }
        return best
    }

    // MARK: Routings

    /// Ordered tuples of `length` over the columns `k` (and the literal -1 first when `literal`),
    /// lexicographic, that use every column of `cover` (all of `k` unless given).
    func routings(_ length: Int, _ k: [Int], literal: Bool = false, cover: [Int]? = nil) -> [[Int]] {
        let alphabet = literal ? [-1] + k : k
        let cover = cover ?? k
        let key = RoutingKey(length: length, alphabet: alphabet, cover: cover)
        if let r = routingCache[key] { return r }
        var out: [[Int]] = []
        var tuple: [Int] = []
        var uses = [Int](repeating: 0, count: nc + 1)
        var missing = cover.count
        func go() {
            if tuple.count == length {
                out.append(tuple)
                return
            }
            // Not enough places left to use every column of `cover`.
            if missing > length - tuple.count { return }
            for v in alphabet {
                let counted = v >= 0 && cover.contains(v)
                if counted {
                    if uses[v] == 0 { missing -= 1 }
                    uses[v] += 1
                }
                tuple.append(v)
                go()
                tuple.removeLast()
                if counted {
                    uses[v] -= 1
                    if uses[v] == 0 { missing += 1 }
                }
            }
        }
        if cover.count <= length { go() }
        routingCache[key] = out
        return out
    }

    // MARK: Validation

    /// A candidate's prediction on every row. Steps that read only columns and the literal are
    /// computed once per search; the others into preallocated buffers.
    func evaluate(_ steps: [CompositionStep]) -> [Double] {
        var results: [[Double]] = []
        results.reserveCapacity(steps.count)
        for (i, s) in steps.enumerated() {
            if s.args.allSatisfy({ $0 < nc }) {
                results.append(leaf(s))
                continue
            }
            let columns = s.args.map { v in v < 0 ? zero : v < nc ? inputs[v] : results[v - nc] }
            if i >= scratch.count { scratch.append([Double](repeating: 0, count: m)) }
            table.evaluate(s.function, body: s.body, columns: columns, into: &scratch[i])
            results.append(scratch[i])
        }
        return results[results.count - 1]
    }

    func leaf(_ s: CompositionStep) -> [Double] {
        let key = LeafKey(function: s.function, body: s.body ?? 0, args: s.args)
        if let r = leafCache[key] { return r }
        var out = [Double](repeating: 0, count: m)
        table.evaluate(s.function, body: s.body, columns: s.args.map { $0 < 0 ? zero : inputs[$0] }, into: &out)
        leafCache[key] = out
        return out
    }

    /// True when `p` matches every row (stops at the first that does not).
    func exact(_ p: [Double]) -> Bool {
        for i in 0..<m where !nssrMatches(p[i], y[i]) { return false }
        return true
    }

    /// Exact, or accepted with a constant fitted on the train rows (multiplicative first); nil
    /// when neither (or when a value is not finite).
    func fit(_ p: [Double]) -> Found? {
        var found = Found(steps: [], constant: nil, mode: nil, cost: 0, columns: 0)
        if exact(p) { return found }
        for v in p where !v.isFinite { return nil }
        var spp = 0.0, spy = 0.0, residual = 0.0
        for i in 0..<trainCount {
            spp += p[i] * p[i]
            spy += p[i] * y[i]
            residual += y[i] - p[i]
        }
        if spp > 0 {
            let raw = spy / spp
            if raw.isFinite && plausible({ raw * $0 }, p) {
                let c = Self.roundConstant(raw)
                if accepted({ c * $0 }, p) {
                    found.constant = c
                    found.mode = .multiplicative
                    return found
                }
            }
        }
        let raw = residual / Double(trainCount)
        if raw.isFinite && plausible({ $0 + raw }, p) {
            let c = Self.roundConstant(raw)
            if accepted({ $0 + c }, p) {
                found.constant = c
                found.mode = .additive
                return found
            }
        }
        return nil
    }

    /// A quick rejection before rounding the constant (formatting it is costly): both fits are the
    /// least-squares optimum on the train rows, so rounding the constant can only raise SS_res
    /// there; a raw train R^2 below the threshold (less a margin for the sums' rounding errors)
    /// cannot pass once rounded.
    @inline(__always)
    func plausible(_ adjust: (Double) -> Double, _ p: [Double]) -> Bool {
        var train = 0.0
        for i in 0..<trainCount {
            let e = y[i] - adjust(p[i])
            train += e * e
        }
        return Self.r2(train, trainSSTot) > settings.r2Threshold - 1e-6
    }

    /// A fitted constant rounded to 10 significant digits (as the reference does, so that a fit of
    /// y = 9.81 m h gives 9.81, not 9.809999999999999).
    public static func roundConstant(_ c: Double) -> Double {
        guard c.isFinite else { return c }
        return Double(String(format: "%.10g", c)) ?? c
    }

    /// R^2 of `adjust(p)` above the threshold on the train rows and on the holdout rows.
    @inline(__always)
    func accepted(_ adjust: (Double) -> Double, _ p: [Double]) -> Bool {
        var train = 0.0, hold = 0.0
        for i in 0..<trainCount {
            let e = y[i] - adjust(p[i])
            train += e * e
        }
        guard Self.r2(train, trainSSTot) > settings.r2Threshold else { return false }
        for i in trainCount..<m {
            let e = y[i] - adjust(p[i])
            hold += e * e
        }
        return Self.r2(hold, holdSSTot) > settings.r2Threshold
    }

    /// 1 - SS_res / SS_tot; SS_tot 0 counts as 1 when SS_res <= 1e-12, else 0.
    static func r2(_ ssRes: Double, _ ssTot: Double) -> Double {
        guard ssRes.isFinite else { return -.infinity }
        if ssTot == 0 { return ssRes <= 1e-12 ? 1 : 0 }
        return 1 - ssRes / ssTot
    }

    /// R^2 of `p` against `y` over every row.
    public static func r2(_ p: [Double], _ y: [Double]) -> Double {
        guard !y.isEmpty else { return 1 }
        let mean = y.reduce(0, +) / Double(y.count)
        var res = 0.0, tot = 0.0
        for i in y.indices {
            res += (y[i] - p[i]) * (y[i] - p[i])
            tot += (y[i] - mean) * (y[i] - mean)
        }
        return r2(res, tot)
    }

    // MARK: The answer

    func answer(_ found: Found, group: CandidateGroup, step: Int?, retry: Int?) -> SearchAnswer {
        var p = evaluate(found.steps)
        if let c = found.constant {
            for i in 0..<m { p[i] = found.mode == .additive ? p[i] + c : p[i] * c }
        }
        let (steps, columns) = Self.simplify(found.steps, inputs: nc)
        let names = columns.map(TaskTable.columnName)
        return SearchAnswer(
            expression: table.expression(steps, arity: columns.count, constant: found.constant, mode: found.mode),
            taskExpression: table.expression(steps, arity: columns.count, constant: found.constant, mode: found.mode, names: names),
            steps: steps, columns: columns, constant: found.constant, constMode: found.mode,
            r2: Self.r2(p, y), exact: exact(p), group: group, supervisionStep: step, retry: retry, cost: table.cost(of: steps))
    }

    /// Drops steps whose results are unused and the inputs no step reads: returns the steps over
    /// inputs renumbered `0..<columns.count` (the columns read, in increasing order).
    public static func simplify(_ steps: [CompositionStep], inputs n: Int) -> (steps: [CompositionStep], columns: [Int]) {
        guard !steps.isEmpty else { return ([], []) }
        var used = [Bool](repeating: false, count: steps.count)
        used[steps.count - 1] = true
        for i in stride(from: steps.count - 1, through: 0, by: -1) where used[i] {
            for v in steps[i].args where v >= n { used[v - n] = true }
        }
        let kept = steps.indices.filter { used[$0] }
        let columns = Array(Set(kept.flatMap { steps[$0].args.filter { $0 >= 0 && $0 < n } })).sorted()
        var newIndex = [Int: Int]()
        for (i, column) in columns.enumerated() { newIndex[column] = i }
        for (i, old) in kept.enumerated() { newIndex[n + old] = columns.count + i }
        let out = kept.map { i in
            CompositionStep(steps[i].function, steps[i].args.map { $0 < 0 ? -1 : newIndex[$0]! }, body: steps[i].body)
        }
        return (out, columns)
    }
}

extension FunctionTable {
    /// `MUL(a, MUL(b, b))`: nested calls, inputs by letter (or `names`), `0` for the literal, an
    /// iteration step as `LOOP[ADD](a, 0, b)`, a constant as `MUL(expr, c)` or `ADD(expr, c)`.
    public func expression(_ steps: [CompositionStep], arity: Int, constant: Double? = nil, mode: ConstMode? = nil,
                           names: [String]? = nil) -> String {
        // Step by step, as the values are numbered: an index not defined yet prints as "?".
        var values = (0..<arity).map { v in names.map { v < $0.count ? $0[v] : "?" } ?? TaskTable.columnName(v) }
        for s in steps {
            let name = contains(id: s.function) ? self[s.function].name : "#\(s.function)"
            let body = s.body.map { contains(id: $0) ? "[\(self[$0].name)]" : "[#\($0)]" } ?? ""
            let args = s.args.map { $0 < 0 ? "0" : $0 < values.count ? values[$0] : "?" }
            // A hand-written composition that reuses results doubles its text per step: cut it short.
            let text = "\(name)\(body)(\(args.joined(separator: ", ")))"
            values.append(text.utf8.count > 4096 ? "\(name)(...)" : text)
        }
        guard !steps.isEmpty else { return "" }
        let e = values[values.count - 1]
        guard let constant else { return e }
        return mode == .additive ? "ADD(\(e), \(formatNumber(constant)))" : "MUL(\(e), \(formatNumber(constant)))"
    }

    /// A registered function's expression over its inputs a, b, ... (`primitive` for primitives).
    public func expression(of f: RegisteredFunction) -> String {
        guard let steps = f.composition else { return "primitive" }
        return expression(steps, arity: f.arity, constant: f.constant, mode: f.constant == nil ? nil : f.constMode)
    }
}
