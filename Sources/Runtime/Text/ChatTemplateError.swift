/// Why a chat template could not be parsed or rendered.
///
/// Templates come from model files, so a template may use Jinja that this renderer does not
/// implement. Every such case is reported, with the place in the template and the construct,
/// rather than rendering a prompt that differs from what the model was trained on.
public struct ChatTemplateError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// The template is not valid Jinja (an unterminated tag, an unexpected token).
        case syntax
        /// Valid Jinja that this renderer does not implement (`{% macro %}`, an unknown filter).
        case unsupported
        /// Rendering failed as it would in jinja2 (an undefined variable's attribute, `'a' + 1`).
        case runtime
        /// The template called `raise_exception(message)`, usually to refuse a conversation.
        case raised
    }

    public let kind: Kind
    public let message: String
    /// 1-based line and column (in Unicode scalars) of the construct; 0 when unknown.
    public let line: Int
    public let column: Int

    public init(kind: Kind, message: String, line: Int = 0, column: Int = 0) {
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String {
        let place = line > 0 ? " at line \(line), column \(column)" : ""
        switch kind {
        case .syntax: return "chat template syntax error\(place): \(message)"
        case .unsupported: return "chat template uses something unsupported\(place): \(message)"
        case .runtime: return "chat template failed to render\(place): \(message)"
        case .raised: return "chat template raised an exception\(place): \(message)"
        }
    }
}

/// A failure inside the renderer before it knows where in the template it happened; the
/// evaluator adds the location of the innermost expression or statement.
struct JinjaFailure: Error {
    let kind: ChatTemplateError.Kind
    let message: String

    static func runtime(_ message: String) -> JinjaFailure { JinjaFailure(kind: .runtime, message: message) }
    static func unsupported(_ message: String) -> JinjaFailure { JinjaFailure(kind: .unsupported, message: message) }

    func located(_ location: JinjaLocation) -> ChatTemplateError {
        ChatTemplateError(kind: kind, message: message, line: location.line, column: location.column)
    }
}

/// A place in the template source.
struct JinjaLocation: Sendable, Equatable {
    let line: Int
    let column: Int

    static let unknown = JinjaLocation(line: 0, column: 0)
}
