import Foundation

/// A failure of the neuro-symbolic search: a registry, a task file, a model that does not fit.
public struct NSSRError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How a function's fitted constant applies to its result.
public enum ConstMode: String, Sendable, Equatable {
    case multiplicative, additive
}

/// One step of a composition: `function` applied to `args` (value numbers: the function's inputs
/// `0..<arity`, then each earlier step's result; `-1` is the literal 0), with a `body` when the
/// function is an iteration primitive.
public struct CompositionStep: Hashable, Sendable {
    public var function: Int
    public var args: [Int]
    public var body: Int?

    public init(_ function: Int, _ args: [Int], body: Int? = nil) {
        self.function = function
        self.args = args
        self.body = body
    }
}

/// A function of the registry: a primitive (layer 0, no composition) or a learned composition.
public struct RegisteredFunction: Sendable, Equatable {
    public let id: Int
    public let name: String
    public let arity: Int
    public let layer: Int
    /// The steps of a learned function; nil for a primitive.
    public let composition: [CompositionStep]?
    public let constant: Double?
    public let constMode: ConstMode
    public let createdAt: String

    public init(id: Int, name: String, arity: Int, layer: Int, composition: [CompositionStep]?, constant: Double?,
                constMode: ConstMode, createdAt: String) {
        self.id = id
        self.name = name
        self.arity = arity
        self.layer = layer
        self.composition = composition
        self.constant = constant
        self.constMode = constMode
        self.createdAt = createdAt
    }

    /// The primitive this function is, if it is one.
    public var primitive: Primitive? { composition == nil ? Primitive(rawValue: id) : nil }
    public var isLearned: Bool { composition != nil }
    public var isIteration: Bool { primitive?.isIteration ?? false }
}

/// The composition JSON of docs/nssr.md: `[[child_id, [arg, ...]], ...]`, with a third element
/// `body_id` on iteration steps; and the constants JSON `[c]`.
public enum CompositionJSON {
    private struct Step: Decodable {
        let step: CompositionStep

        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            let function = try c.decode(Int.self)
            let args = try c.decode([Int].self)
            let body = c.isAtEnd ? nil : try c.decode(Int.self)
            guard c.isAtEnd else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "a step has at most 3 elements")
            }
            step = CompositionStep(function, args, body: body)
        }
    }

    /// The steps of `text`, or nil when it is not a list of steps (the caller names the function).
    public static func parse(_ text: String) -> [CompositionStep]? {
        (try? JSONDecoder().decode([Step].self, from: Data(text.utf8)))?.map(\.step)
    }

    /// The JSON of `steps`, spaced as Python's `json.dumps` writes it: `[[6, [0, 0]], [19, [0, -1, 1], 4]]`.
    public static func encode(_ steps: [CompositionStep]) -> String {
        "[" + steps.map { s in
            var parts = ["\(s.function)", "[" + s.args.map(String.init).joined(separator: ", ") + "]"]
            if let body = s.body { parts.append("\(body)") }
            return "[" + parts.joined(separator: ", ") + "]"
        }.joined(separator: ", ") + "]"
    }

    /// The constant of a constants JSON `[c]` (one finite number), nil when the text is not one.
    public static func parseConstant(_ text: String) -> Double? {
        guard let values = try? JSONDecoder().decode([Double].self, from: Data(text.utf8)), values.count == 1, values[0].isFinite else {
            return nil
        }
        return values[0]
    }

    public static func encodeConstant(_ c: Double) -> String { "[\(formatNumber(c))]" }
}

/// The shortest decimal that reads back as `x` (Swift's `description`: `0.5`, `9.81`, `2.0`).
public func formatNumber(_ x: Double) -> String { x.description }
