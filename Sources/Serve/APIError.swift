import Foundation
import HTTPTypes

/// An error a request gets back, in the OpenAI shape:
/// `{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var code: String?
    public var param: String?
    /// Seconds a client should wait before trying again (503 when the queue is full).
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, type: String = "invalid_request_error", code: String? = nil,
                param: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(message)" }

    static func badRequest(_ message: String, param: String? = nil) -> APIError {
        APIError(.badRequest, message, code: "invalid_value", param: param)
    }

    static func modelNotFound(_ id: String, kind: String) -> APIError {
        APIError(.notFound, "The model '\(id)' does not exist or is not a \(kind) model", code: "model_not_found", param: "model")
    }

    static let unauthorized = APIError(.unauthorized, "Invalid API key: send it as 'Authorization: Bearer KEY'", type: "authentication_error",
                                       code: "invalid_api_key")

    static func queueFull(_ waiting: Int) -> APIError {
        APIError(.serviceUnavailable, "The server is busy: \(waiting) requests are waiting. Try again shortly.", type: "server_error",
                 code: "queue_full", retryAfter: 1)
    }

    static let shuttingDown = APIError(.serviceUnavailable, "The server is shutting down", type: "server_error", code: "shutting_down")

    /// The JSON body.
    var body: Data {
        var error: [String: Any] = ["message": message, "type": type]
        error["code"] = code ?? NSNull()
        error["param"] = param ?? NSNull()
        return (try? JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys])) ?? Data()
    }

    /// Explains a JSON decoding failure the way a client can act on: which field, what was wrong.
    static func decoding(_ error: Error) -> APIError {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case let DecodingError.typeMismatch(type, context):
            return .badRequest("'\(path(context))' has the wrong type (expected \(type))", param: path(context))
        case let DecodingError.valueNotFound(_, context):
            return .badRequest("'\(path(context))' must not be null", param: path(context))
        case let DecodingError.keyNotFound(key, context):
            let field = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            return .badRequest("'\(field)' is required", param: field)
        case let DecodingError.dataCorrupted(context):
            let field = path(context)
            return .badRequest(field.isEmpty ? "The body is not valid JSON" : "'\(field)': \(context.debugDescription)", param: field.isEmpty ? nil : field)
        case let e as APIError:
            return e
        default:
            return .badRequest("The body is not valid JSON: \(error)")
        }
    }
}
