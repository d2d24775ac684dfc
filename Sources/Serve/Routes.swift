import Foundation
import Hummingbird
import NIOCore
import Runtime
import Tasks

/// The HTTP surface: OpenAI's `/v1/chat/completions`, `/v1/completions`, `/v1/models`, and
/// Recur's `/v1/solve`, `/health`, `/metrics`.
extension RecurServer {
    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: GateMiddleware(apiKey: options.apiKey, table: table))
        router.get("/health") { [table] _, _ -> Response in
            table.isReady ? .json(["status": "ok"]) : .json(["status": "loading model"], status: .serviceUnavailable)
        }
        router.get("/metrics") { [metrics] _, _ -> Response in
            metrics.residentMemory()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.render())))
        }
        router.get("/v1/models") { [table] _, _ -> Response in
            let data = table.all.map { ModelList.Entry(id: $0.id, created: table.created, meta: $0.meta) }
            return .json(encodable: ModelList(data: data))
        }
        router.post("/v1/chat/completions") { [self] request, _ in
            await respond(Kind.chat.endpoint) { try await chatCompletion(request) }
        }
        router.post("/v1/completions") { [self] request, _ in
            await respond(Kind.text.endpoint) { try await textCompletion(request) }
        }
        router.post("/v1/solve") { [self] request, _ in
            await respond("solve") { try await solve(request) }
        }
        return router
    }

    /// Runs a handler, turning its errors into OpenAI error responses and counting the request.
    /// Streamed responses count themselves when their stream ends.
    private func respond(_ endpoint: String, _ handler: () async throws -> (Response, model: String, streamed: Bool)) async -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        var model: String?
        let response: Response
        do {
            let (r, m, streamed) = try await handler()
            if streamed { return r }
            (response, model) = (r, m)
        } catch {
            response = .error(error as? APIError ?? Self.apiError(error))
        }
        metrics.request(endpoint: endpoint, model: model, status: Int(response.status.code), seconds: Self.seconds(since: start))
        return response
    }

    static func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    /// Errors from outside the server's own checks: the body limit, the runtime's validation.
    private static func apiError(_ error: Error) -> APIError {
        if error is NIOTooManyBytesError || (error as? HTTPError)?.status == .contentTooLarge {
            return APIError(.contentTooLarge, "The request body is larger than the server's limit", code: "body_too_large")
        }
        if let model = error as? ModelError { return .badRequest(model.description) }
        return APIError(.internalServerError, "\(error)", type: "server_error")
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let body = try await request.body.collect(upTo: options.bodyLimit)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: body))
        } catch {
            throw APIError.decoding(error)
        }
    }

    // MARK: Generation

    fileprivate enum Kind {
        case chat, text

        var object: String { self == .chat ? "chat.completion" : "text_completion" }
        var chunkObject: String { self == .chat ? "chat.completion.chunk" : "text_completion" }
        var idPrefix: String { self == .chat ? "chatcmpl" : "cmpl" }
        /// The endpoint label of the request metrics.
        var endpoint: String { self == .chat ? "chat.completions" : "completions" }
    }

    private func chatCompletion(_ request: Request) async throws -> (Response, model: String, streamed: Bool) {
        let body = try await decode(ChatCompletionRequest.self, request)
        let engine = try table.language(body.fields.model)
        guard !body.messages.isEmpty else { throw APIError.badRequest("'messages' must not be empty", param: "messages") }
        let messages = body.messages.map { ChatMessage(role: $0.role, content: $0.content?.text ?? "") }
        let rendered: String
        do { rendered = try engine.language.renderChat(messages) } catch {
            throw APIError.badRequest("the chat template cannot render these messages: \(error)", param: "messages")
        }
        let prompt = engine.language.tokenizer.encode(rendered, addSpecial: true, parseSpecial: true)
        return try await generate(.chat, engine: engine, prompt: prompt, fields: body.fields)
    }

    private func textCompletion(_ request: Request) async throws -> (Response, model: String, streamed: Bool) {
        let body = try await decode(CompletionRequest.self, request)
        let engine = try table.language(body.fields.model)
        let prompt: [Int32]
        switch body.prompt {
        // As llama.cpp's server: special tokens written in the prompt are parsed.
        case let .text(text): prompt = engine.language.tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        case let .tokens(tokens): prompt = tokens
        }
        guard !prompt.isEmpty else { throw APIError.badRequest("the prompt has no tokens", param: "prompt") }
        return try await generate(.text, engine: engine, prompt: prompt, fields: body.fields)
    }

    private func generate(_ kind: Kind, engine: LanguageEngine, prompt: [Int32], fields: GenerationFields) async throws -> (Response, model: String, streamed: Bool) {
        let start = DispatchTime.now().uptimeNanoseconds
        let options = try fields.options(promptTokens: prompt.count, contextSize: engine.contextSize)
        let ticket = try engine.submit(prompt: prompt, options: options)
        let id = ResponseID.make(kind.idPrefix), created = ResponseID.now, model = engine.id
        if fields.stream == true {
            let includeUsage = fields.streamOptions?.includeUsage == true
            let body = ResponseBody { [metrics] writer in
                let stream = SSEStream(kind: kind, id: id, created: created, model: model)
                var sentFirst = false
                do {
                    if kind == .chat { try await writer.write(stream.chunk(delta: .init(role: "assistant", content: ""))) }
                    for await event in ticket.events {
                        switch event {
                        case let .text(text):
                            if !sentFirst {
                                sentFirst = true
                                metrics.firstToken(model: model, seconds: Self.seconds(since: start))
                            }
                            try await writer.write(kind == .chat ? stream.chunk(delta: .init(content: text)) : stream.chunk(text: text))
                        case let .finished(result):
                            try await writer.write(stream.final(finishReason: Self.finishReason(result)))
                            if includeUsage { try await writer.write(stream.usage(Usage(promptTokens: prompt.count, completionTokens: result.tokens.count))) }
                        case let .failed(error):
                            try await writer.write(SSEStream.event(json: error.body))
                        }
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    try await writer.finish(nil)
                    metrics.request(endpoint: kind.endpoint, model: model, status: 200, seconds: Self.seconds(since: start))
                } catch {
                    // The client went away: free its slot now rather than at the last token.
                    engine.cancel(ticket.number)
                    metrics.request(endpoint: kind.endpoint, model: model, status: 499, seconds: Self.seconds(since: start))
                    throw error
                }
            }
            let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
            return (Response(status: .ok, headers: headers, body: body), model, true)
        }
        // Whole response: wait for the reply, then answer.
        var result: GenerationResult?
        var sentFirst = false
        for await event in ticket.events {
            switch event {
            case .text:
                if !sentFirst {
                    sentFirst = true
                    metrics.firstToken(model: model, seconds: Self.seconds(since: start))
                }
            case let .finished(r): result = r
            case let .failed(error): throw error
            }
        }
        guard let result else { throw APIError.shuttingDown }
        let reason = Self.finishReason(result)
        let choice = kind == .chat
            ? CompletionEnvelope.Choice(message: .init(role: "assistant", content: result.text), finishReason: reason)
            : CompletionEnvelope.Choice(text: result.text, finishReason: reason)
        let envelope = CompletionEnvelope(id: id, object: kind.object, created: created, model: model, choices: [choice],
                                          usage: Usage(promptTokens: prompt.count, completionTokens: result.tokens.count))
        return (.json(encodable: envelope), model, false)
    }

    static func finishReason(_ result: GenerationResult) -> String {
        result.finishReason == .length ? "length" : "stop"
    }
}

// MARK: Puzzles

extension RecurServer {
    fileprivate func solve(_ request: Request) async throws -> (Response, model: String, streamed: Bool) {
        let body = try await decode(SolveRequest.self, request)
        let engine = try table.puzzle(body.model)
        guard engine.model.config.seqLen == Sudoku.cellCount else {
            throw APIError.badRequest("the model '\(engine.id)' takes \(engine.model.config.seqLen) tokens per input, not the 81 cells of a Sudoku", param: "model")
        }
        guard !body.puzzles.isEmpty else { throw APIError.badRequest("'puzzles' must not be empty", param: "puzzles") }
        let most = max(options.queueLimit, engine.slots)
        guard body.puzzles.count <= most else {
            throw APIError.badRequest("at most \(most) puzzles per request, got \(body.puzzles.count)", param: "puzzles")
        }
        let policy: HaltingPolicy
        switch body.halt ?? "qhead" {
        case "qhead": policy = .qHead
        case "compare": policy = .compare
        case "max": policy = .maxSteps
        case let other: throw APIError.badRequest("'halt' must be qhead, compare or max, got '\(other)'", param: "halt")
        }
        if let steps = body.maxSteps, !(1...engine.maxSteps).contains(steps) {
            throw APIError.badRequest("'max_steps' must be between 1 and the model's \(engine.maxSteps), got \(steps)", param: "max_steps")
        }
        var puzzles: [Sudoku] = []
        for (i, text) in body.puzzles.enumerated() {
            do {
                let puzzle = try Sudoku(parsing: text[...])
                try puzzle.checkGivens()
                puzzles.append(puzzle)
            } catch {
                throw APIError.badRequest("puzzle \(i): \(error)", param: "puzzles")
            }
        }
        let inputs = puzzles.map { ModelInput(tokens: $0.tokens) }
        for (i, input) in inputs.enumerated() { try engine.validate(input, index: i) }
        let outputs = try await engine.solve(inputs, policy: policy, maxSteps: body.maxSteps)
        let results = zip(puzzles, outputs).map { puzzle, out in
            let solved = Sudoku(prediction: out.prediction)
            return SolveResponse.Result(index: out.index, puzzle: puzzle.string, solution: solved.string, actSteps: out.steps,
                                        qHalt: out.qHalt, qContinue: out.qContinue, valid: solved.solves(puzzle))
        }
        let response = SolveResponse(id: ResponseID.make("solve"), created: ResponseID.now, model: engine.id,
                                     results: results.enumerated().map { var r = $1; r.index = $0; return r },
                                     usage: .init(puzzles: results.count, actSteps: outputs.reduce(0) { $0 + $1.steps }))
        return (.json(encodable: response), engine.id, false)
    }
}

// MARK: Server-sent events

/// The chunks of one streamed completion.
struct SSEStream {
    fileprivate let kind: RecurServer.Kind
    let id: String
    let created: Int
    let model: String

    static func event(json: Data) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    private func envelope(_ choices: [CompletionEnvelope.Choice], usage: Usage? = nil) -> ByteBuffer {
        let e = CompletionEnvelope(id: id, object: kind.chunkObject, created: created, model: model, choices: choices, usage: usage)
        do {
            return Self.event(json: try JSONEncoder.api.encode(e))
        } catch {
            return Self.event(json: APIError(.internalServerError, "a chunk could not be encoded: \(error)", type: "server_error").body)
        }
    }

    func chunk(delta: CompletionEnvelope.ChatOutput) -> ByteBuffer { envelope([.init(delta: delta)]) }
    func chunk(text: String) -> ByteBuffer { envelope([.init(text: text)]) }

    func final(finishReason: String) -> ByteBuffer {
        kind == .chat ? envelope([.init(delta: .init(), finishReason: finishReason)]) : envelope([.init(text: "", finishReason: finishReason)])
    }

    /// The last chunk when `stream_options.include_usage` is set: no choices, the usage.
    func usage(_ usage: Usage) -> ByteBuffer { envelope([], usage: usage) }
}

// MARK: Responses, access

extension JSONEncoder {
    /// Every response body's encoder (non-finite numbers as strings, see `JSONOutput`).
    static let api = JSONOutput.encoder()
}

extension Response {
    static func json<T: Encodable>(encodable value: T, status: HTTPResponse.Status = .ok) -> Response {
        do {
            let data = try JSONEncoder.api.encode(value)
            return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            return .error(APIError(.internalServerError, "the response could not be encoded: \(error)", type: "server_error"))
        }
    }

    static func json(_ object: [String: String], status: HTTPResponse.Status = .ok) -> Response {
        json(encodable: object, status: status)
    }

    static func error(_ error: APIError) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retry = error.retryAfter { headers[.retryAfter] = String(retry) }
        return Response(status: error.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: error.body)))
    }
}

/// Refuses requests before the models are loaded (503) and, with an API key, requests without
/// it (401). Only `/health` stays open, for load balancers and orchestrators.
struct GateMiddleware<Context: RequestContext>: RouterMiddleware {
    let apiKey: String?
    let table: ModelTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path == "/health" { return try await next(request, context) }
        if let apiKey, !Self.authorized(request.headers[.authorization], key: apiKey) {
            return .error(.unauthorized)
        }
        guard table.isReady else { return .error(APIError(.serviceUnavailable, "Loading model", type: "server_error", code: "loading")) }
        return try await next(request, context)
    }

    /// Compares in time independent of where the strings differ.
    static func authorized(_ header: String?, key: String) -> Bool {
        let given = Array((header ?? "").utf8), expected = Array("Bearer \(key)".utf8)
        var difference = given.count ^ expected.count
        for i in 0..<expected.count { difference |= Int(expected[i] ^ (i < given.count ? given[i] : 0)) }
        return difference == 0
    }
}
