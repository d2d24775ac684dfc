import Runtime

/// Which GGUF type each tensor of an export gets.
///
/// By default linear-layer matrices take the requested type; the small tensors that set the answer
/// directly (embeddings, initial states, Q-head) stay F32 and the LM head stays F16 (F32 in an F32
/// export), because quantizing them saves almost nothing and moves every token. Rules given by the
/// user (`--tensor-type PATTERN=TYPE`, as llama-quantize's option of that name) override this per
/// tensor; the first rule whose pattern matches a tensor's GGUF name wins.
public struct TypePolicy: Sendable, CustomStringConvertible {
    /// One user rule: a glob over GGUF tensor names (`*` any run of characters, `?` one) and a type.
    public struct Rule: Sendable, Equatable, CustomStringConvertible {
        public var pattern: String
        public var type: GGMLType

        public init(pattern: String, type: GGMLType) {
            self.pattern = pattern
            self.type = type
        }

        /// Parses `PATTERN=TYPE`, for example `L.blk.*.ffn_down.weight=q8_0`.
        public init(parsing text: String) throws {
            guard let eq = text.lastIndex(of: "="), eq != text.startIndex else {
                throw ExportError.unsupportedType("tensor type rule '\(text)': expected PATTERN=TYPE, e.g. 'L.blk.*.ffn_down.weight=q8_0'")
            }
            let name = text[text.index(after: eq)...].lowercased()
            guard let type = TypePolicy.supportedTypes.first(where: { $0.name.lowercased() == name }) else {
                throw ExportError.unsupportedType("tensor type rule '\(text)': unknown type '\(name)', use one of \(TypePolicy.typeList)")
            }
            self.init(pattern: String(text[..<eq]), type: type)
        }

        public func matches(_ name: String) -> Bool { TypePolicy.glob(Array(pattern.utf8), Array(name.utf8)) }

        public var description: String { "\(pattern)=\(type.name)" }
    }

    public static let supportedTypes: [GGMLType] = [.f32, .f16, .q8_0, .q4_0, .q4_1]
    static var typeList: String { supportedTypes.map { $0.name.lowercased() }.joined(separator: ", ") }

    public var weights: GGMLType
    public var rules: [Rule]

    public init(weights: GGMLType, rules: [Rule] = []) {
        self.weights = weights
        self.rules = rules
    }

    /// The type of one tensor; throws when a rule asks for a block type the tensor's rows cannot hold.
    public func type(for tensor: OfficialArchitecture.TensorPlan) throws -> GGMLType {
        try type(name: tensor.name, shape: tensor.shape, isLinearWeight: tensor.isLinearWeight)
    }

    /// The same for a tensor known by name and shape (`isLinearWeight`: a matrix of a linear layer,
    /// the LM head included).
    public func type(name: String, shape: [Int], isLinearWeight: Bool) throws -> GGMLType {
        let rowLength = shape.last ?? 0
        if let rule = rules.first(where: { $0.matches(name) }) {
            guard rowLength % rule.type.blockSize == 0 else {
                throw ExportError.unsupportedType(
                    "tensor type rule '\(rule)': \(name) has rows of \(rowLength) values, not whole \(rule.type.name) blocks of \(rule.type.blockSize)")
            }
            return rule.type
        }
        guard isLinearWeight else { return .f32 }
        if name == "output.weight" { return weights == .f32 ? .f32 : .f16 }
        // Block formats need whole blocks along each row; fall back to F16 where they do not fit.
        return rowLength % weights.blockSize == 0 ? weights : .f16
    }

    /// Rejects rules that match no tensor: a typo would otherwise silently export the default.
    public func checkRules(against tensors: [OfficialArchitecture.TensorPlan]) throws {
        for rule in rules where !tensors.contains(where: { rule.matches($0.name) }) {
            let names = tensors.map(\.name)
            throw ExportError.unsupportedType(
                "tensor type rule '\(rule)' matches no tensor; names look like \(names.prefix(4).joined(separator: ", ")), ...")
        }
    }

    /// Stored in the file as `recur.quantization.policy`.
    public var description: String {
        var text = "linear=\(weights.name);output=\(weights == .f32 ? "F32" : "F16");embeddings,h_init,l_init,qhead=F32"
        if !rules.isEmpty { text += ";rules=" + rules.map(\.description).joined(separator: ",") }
        return text
    }

    /// Iterative glob match with one backtrack point, linear in practice for tensor names.
    static func glob(_ p: [UInt8], _ s: [UInt8]) -> Bool {
        var i = 0, j = 0, star = -1, mark = 0
        while j < s.count {
            if i < p.count && (p[i] == UInt8(ascii: "?") || p[i] == s[j]) {
                i += 1; j += 1
            } else if i < p.count && p[i] == UInt8(ascii: "*") {
                star = i; mark = j; i += 1
            } else if star >= 0 {
                i = star + 1; mark += 1; j = mark
            } else {
                return false
            }
        }
        while i < p.count && p[i] == UInt8(ascii: "*") { i += 1 }
        return i == p.count
    }
}
