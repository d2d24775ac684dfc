import Foundation
import Runtime
import Serve
import Tasks
import TestSupport
import XCTest

/// `recur serve` as its clients see it: real HTTP on a loopback port, OpenAI shapes, errors,
/// continuous batching, cancellation on disconnect, and the puzzle endpoint.
final class ServerTests: XCTestCase {
    private func options(_ models: [URL], parallel: Int = 2, context: Int? = nil) -> ServerOptions {
        var o = ServerOptions(models: models.map(\.path))
        o.parallel = parallel
        o.threads = 1
        o.contextSize = context
        return o
    }

    /// What `Generator` alone makes of `prompt` (greedy).
    private func alone(_ model: URL, prompt: [Int32], maxTokens: Int) throws -> GenerationResult {
        let language = try LanguageModel(path: model.path)
        let g = Generator(language: language, context: try DecoderContext(model: language.model, contextSize: 256, threads: 1))
        return try g.generate(prompt: prompt, options: GenerationOptions(maxTokens: maxTokens, sampling: .greedy))
    }

    private func chatPrompt(_ model: URL, _ text: String) throws -> [Int32] {
        let language = try LanguageModel(path: model.path)
        return language.tokenizer.encode(try language.renderChat([ChatMessage(role: "user", content: text)]), addSpecial: true, parseSpecial: true)
    }

    func testChatCompletionsWholeAndStreamedMatchTheGenerator() async throws {
        let tiny = try ServeFixtures.tinyLlama()
        let server = try await RunningServer.start(options([tiny, ServeFixtures.sudoku]))
        let http = server.http
        let id = ServeFixtures.modelID(tiny)

        XCTAssertEqual(try http.get("/health").status, 200)
        let models = try http.get("/v1/models").json
        XCTAssertEqual(models["object"] as? String, "list")
        let ids = (models["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids), [id, "trm-sudoku-att-q8_0"])

        let request: [String: Any] = ["model": id, "messages": [["role": "user", "content": "Say something"]], "max_tokens": 12, "temperature": 0]
        let whole = try http.post("/v1/chat/completions", json: request)
        XCTAssertEqual(whole.status, 200, whole.text)
        XCTAssertEqual(whole.headers["content-type"], "application/json")
        let body = whole.json
        XCTAssertEqual(body["object"] as? String, "chat.completion")
        XCTAssertEqual(body["model"] as? String, id)
        let choice = try XCTUnwrap((body["choices"] as? [[String: Any]])?.first)
        let message = try XCTUnwrap(choice["message"] as? [String: Any])
        XCTAssertEqual(message["role"] as? String, "assistant")
        let text = try XCTUnwrap(message["content"] as? String)

        let prompt = try chatPrompt(tiny, "Say something")
        let expected = try alone(tiny, prompt: prompt, maxTokens: 12)
        XCTAssertEqual(text, expected.text, "the server's greedy reply is the generator's")
        XCTAssertEqual(choice["finish_reason"] as? String, expected.finishReason == .length ? "length" : "stop")
        let usage = try XCTUnwrap(body["usage"] as? [String: Int])
        XCTAssertEqual(usage["prompt_tokens"], prompt.count)
        XCTAssertEqual(usage["completion_tokens"], expected.tokens.count)
        XCTAssertEqual(usage["total_tokens"], prompt.count + expected.tokens.count)

        var streamed = request
        streamed["stream"] = true
        streamed["stream_options"] = ["include_usage": true]
        let stream = try http.post("/v1/chat/completions", json: streamed)
        XCTAssertEqual(stream.status, 200)
        XCTAssertEqual(stream.headers["content-type"], "text/event-stream")
        let events = stream.events
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(chunks.count, events.count - 1, "every event but [DONE] is a JSON chunk")
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        XCTAssertEqual(Set(chunks.compactMap { $0["id"] as? String }).count, 1, "one id for the whole stream")
        let deltas = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
        XCTAssertEqual(deltas.first?["role"] as? String, "assistant")
        XCTAssertEqual(deltas.compactMap { $0["content"] as? String }.joined(), text, "the deltas add up to the whole reply")
        let finishes = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
        XCTAssertEqual(finishes, [choice["finish_reason"] as! String], "only the last choice chunk has a finish reason")
        XCTAssertEqual(chunks.last?["usage"] as? [String: Int], usage, "the usage chunk comes last")

        // Text completions, whole and streamed, from the same prompt tokens.
        let completion = try http.post("/v1/completions", json: ["model": id, "prompt": prompt.map(Int.init), "max_tokens": 12, "temperature": 0])
        XCTAssertEqual(completion.status, 200, completion.text)
        XCTAssertEqual(completion.json["object"] as? String, "text_completion")
        XCTAssertEqual((completion.json["choices"] as? [[String: Any]])?.first?["text"] as? String, expected.text)
        let completionStream = try http.post("/v1/completions", json: ["model": id, "prompt": prompt.map(Int.init), "max_tokens": 12, "temperature": 0, "stream": true])
        let pieces = completionStream.events.dropLast().compactMap {
            ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]).flatMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }
        }
        XCTAssertEqual(pieces.joined(), expected.text)

        let metrics = try http.get("/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        XCTAssertEqual(try server.metric("recur_requests_total", "endpoint=\"chat.completions\",model=\"\(id)\",status=\"200\""), 2)
        XCTAssertEqual(try server.metric("recur_generated_tokens_total", "model=\"\(id)\""), Double(4 * expected.tokens.count))
        XCTAssertTrue(metrics.text.contains("recur_request_duration_seconds_bucket"))
        XCTAssertTrue(metrics.text.contains("recur_time_to_first_token_seconds_bucket"))
        XCTAssertTrue(metrics.text.contains("recur_queue_depth{model=\"\(id)\"}"))
        XCTAssertTrue(metrics.text.contains("recur_slots_busy{model=\"\(id)\"}"))
        try await server.stop()
    }

    func testConcurrentRequestsShareDecodeStepsAndEachGetsItsOwnReply() async throws {
        let tiny = try ServeFixtures.tinyLlama()
        let server = try await RunningServer.start(options([tiny], parallel: 3))
        let http = server.http
        let texts = ["alpha", "bravo charlie", "delta", "echo foxtrot golf", "hotel", "india"]
        let lengths = [20, 35, 50, 25, 40, 30]
        let replies = Replies(count: texts.count)
        DispatchQueue.concurrentPerform(iterations: texts.count) { i in
            replies.set(i, Result { try http.post("/v1/completions", json: ["prompt": texts[i], "max_tokens": lengths[i], "temperature": 0]) })
        }
        let language = try LanguageModel(path: tiny.path)
        for i in texts.indices {
            let reply = try replies.get(i)
            XCTAssertEqual(reply.status, 200, reply.text)
            let expected = try alone(tiny, prompt: language.tokenizer.encode(texts[i], addSpecial: true, parseSpecial: true), maxTokens: lengths[i])
            XCTAssertEqual((reply.json["choices"] as? [[String: Any]])?.first?["text"] as? String, expected.text, "request \(i)")
        }
        XCTAssertEqual(try server.metric("recur_slots_busy", "model=\"\(ServeFixtures.modelID(tiny))\""), 0)
        try await server.stop()
    }

    func testAClientThatHangsUpMidStreamFreesItsSlot() async throws {
        let tiny = try ServeFixtures.tinyLlama()
        let server = try await RunningServer.start(options([tiny], parallel: 1))
        let id = ServeFixtures.modelID(tiny)
        // Long enough that it would still be generating long after the hang-up.
        let read = try server.http.streamThenHangUp("/v1/completions", json: ["prompt": "x", "max_tokens": 2000, "temperature": 0, "stream": true]) {
            $0.components(separatedBy: "data: ").count > 4
        }
        XCTAssertTrue(read.contains("text_completion"))
        var cancelled = 0.0
        for _ in 0..<200 where cancelled == 0 {
            try await Task.sleep(nanoseconds: 50_000_000)
            cancelled = try server.metric("recur_sequences_total", "model=\"\(id)\",finish_reason=\"cancelled\"")
        }
        XCTAssertEqual(cancelled, 1, "the sequence was cancelled, not run to its 2000 tokens")
        XCTAssertLessThan(try server.metric("recur_generated_tokens_total", "model=\"\(id)\""), 2000)
        XCTAssertEqual(try server.metric("recur_slots_busy", "model=\"\(id)\""), 0)
        // The slot serves the next request.
        let next = try server.http.post("/v1/completions", json: ["prompt": "y", "max_tokens": 3])
        XCTAssertEqual(next.status, 200, next.text)
        try await server.stop()
    }

    func testBadRequestsGetOpenAIErrorsAndTheServerCarriesOn() async throws {
        let tiny = try ServeFixtures.tinyLlama(context: 64)
        var o = options([tiny, ServeFixtures.sudoku], context: 32)
        o.bodyLimit = 4096
        let server = try await RunningServer.start(o)
        let http = server.http
        let message = [["role": "user", "content": "hi"]]
        let cases: [(String, LoopbackHTTP.Reply, Int, String?)] = [
            ("malformed JSON", try http.post("/v1/chat/completions", raw: Data("{\"messages\": [".utf8)), 400, nil),
            ("messages of the wrong type", try http.post("/v1/chat/completions", json: ["messages": "hi"]), 400, "messages"),
            ("max_tokens of the wrong type", try http.post("/v1/chat/completions", json: ["messages": message, "max_tokens": "ten"]), 400, "max_tokens"),
            ("no messages", try http.post("/v1/chat/completions", json: ["model": ServeFixtures.modelID(tiny)]), 400, "messages"),
            ("unknown model", try http.post("/v1/chat/completions", json: ["model": "no-such-model", "messages": message]), 404, "model"),
            ("a puzzle model for chat", try http.post("/v1/chat/completions", json: ["model": "trm-sudoku-att-q8_0", "messages": message]), 404, "model"),
            ("max_tokens 0", try http.post("/v1/chat/completions", json: ["messages": message, "max_tokens": 0]), 400, "max_tokens"),
            ("negative max_tokens", try http.post("/v1/completions", json: ["prompt": "a", "max_tokens": -3]), 400, "max_tokens"),
            ("n = 2", try http.post("/v1/completions", json: ["prompt": "a", "n": 2]), 400, "n"),
            ("temperature below 0", try http.post("/v1/completions", json: ["prompt": "a", "top_p": 7]), 400, nil),
            ("prompt past the context", try http.post("/v1/completions", json: ["prompt": String(repeating: "z", count: 40)]), 400, nil),
            ("prompt + max_tokens past the context", try http.post("/v1/completions", json: ["prompt": "abc", "max_tokens": 31]), 400, "max_tokens"),
            ("token outside the vocabulary", try http.post("/v1/completions", json: ["prompt": [5000], "max_tokens": 2]), 400, nil),
            ("body over the limit", try http.post("/v1/completions", json: ["prompt": String(repeating: "a", count: 8000)]), 413, nil),
            ("an impossible puzzle", try http.post("/v1/solve", json: ["puzzles": ["11" + String(repeating: ".", count: 79)]]), 400, "puzzles"),
            ("a short puzzle", try http.post("/v1/solve", json: ["puzzles": ["123"]]), 400, "puzzles"),
            ("no puzzles", try http.post("/v1/solve", json: ["puzzles": [String]()]), 400, "puzzles"),
            ("an unknown halting rule", try http.post("/v1/solve", json: ["puzzles": try ServeFixtures.puzzles(1), "halt": "sometimes"]), 400, "halt"),
            ("a language model for puzzles", try http.post("/v1/solve", json: ["model": ServeFixtures.modelID(tiny), "puzzles": try ServeFixtures.puzzles(1)]), 404, "model"),
        ]
        for (what, reply, status, param) in cases {
            XCTAssertEqual(reply.status, status, "\(what): \(reply.text)")
            let error = reply.error
            XCTAssertNotNil(error?["message"] as? String, "\(what): an OpenAI error object: \(reply.text)")
            XCTAssertNotNil(error?["type"] as? String, what)
            if let param { XCTAssertEqual(error?["param"] as? String, param, what) }
        }
        XCTAssertEqual(try http.get("/no/such/path").status, 404)
        XCTAssertEqual(try http.get("/health").status, 200, "still serving")
        XCTAssertEqual(try http.post("/v1/completions", json: ["prompt": "ok", "max_tokens": 2]).status, 200)
        try await server.stop()
    }

    func testAPIKeyIsRequiredExceptForHealth() async throws {
        var o = options([try ServeFixtures.tinyLlama(context: 64)], context: 64)
        o.apiKey = "sekret-123"
        let server = try await RunningServer.start(o)
        let http = server.http
        let body: [String: Any] = ["prompt": "a", "max_tokens": 2]
        let none = try http.post("/v1/completions", json: body)
        XCTAssertEqual(none.status, 401)
        XCTAssertEqual(none.error?["type"] as? String, "authentication_error")
        XCTAssertEqual(try http.post("/v1/completions", json: body, headers: ["Authorization": "Bearer sekret-12"]).status, 401)
        XCTAssertEqual(try http.post("/v1/completions", json: body, headers: ["Authorization": "Bearer sekret-1234"]).status, 401)
        XCTAssertEqual(try http.get("/metrics").status, 401)
        XCTAssertEqual(try http.post("/v1/completions", json: body, headers: ["Authorization": "Bearer sekret-123"]).status, 200)
        XCTAssertEqual(try http.get("/health").status, 200)
        XCTAssertEqual(try http.get("/v1/models").status, 401)
        XCTAssertEqual(try http.get("/v1/models", headers: ["Authorization": "Bearer sekret-123"]).status, 200)
        try await server.stop()
    }

    func testAFullQueueGets503WithRetryAfter() async throws {
        var o = options([try ServeFixtures.tinyLlama()], parallel: 1)
        o.queueLimit = 0
        let server = try await RunningServer.start(o)
        let http = server.http
        // Hold the only slot with a long generation, then ask again while it runs.
        let holder = DispatchSemaphore(value: 0)
        let busyReply = Replies(count: 1)
        DispatchQueue.global().async {
            busyReply.set(0, Result { try http.post("/v1/completions", json: ["prompt": "hold", "max_tokens": 2000, "temperature": 0]) })
            holder.signal()
        }
        var busy = 0.0
        for _ in 0..<200 where busy == 0 {
            try await Task.sleep(nanoseconds: 10_000_000)
            busy = try server.metric("recur_slots_busy", "model=\"\(ServeFixtures.modelID(try ServeFixtures.tinyLlama()))\"")
        }
        XCTAssertEqual(busy, 1)
        let refused = try http.post("/v1/completions", json: ["prompt": "more", "max_tokens": 2])
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertEqual(refused.headers["retry-after"], "1")
        XCTAssertEqual(refused.error?["code"] as? String, "queue_full")
        holder.wait()
        XCTAssertEqual(try busyReply.get(0).status, 200)
        XCTAssertEqual(try http.post("/v1/completions", json: ["prompt": "more", "max_tokens": 2]).status, 200, "served once the slot is free")
        try await server.stop()
    }

    func testSolveMatchesTheACTRunnerAndSharesStepsAcrossRequests() async throws {
        let server = try await RunningServer.start(options([ServeFixtures.sudoku], parallel: 3))
        let puzzles = try ServeFixtures.puzzles(4)
        // Two concurrent requests of two puzzles each share the runner's three slots.
        let replies = Replies(count: 2)
        DispatchQueue.concurrentPerform(iterations: 2) { r in
            replies.set(r, Result { try server.http.post("/v1/solve", json: ["puzzles": Array(puzzles[(2 * r)..<(2 * r + 2)])]) })
        }
        let model = try RecurrentReference.model()
        let runner = try ACTRunner(model: model, batchSize: 1, policy: .qHead, threads: 1)
        for r in 0..<2 {
            let reply = try replies.get(r)
            XCTAssertEqual(reply.status, 200, reply.text)
            XCTAssertEqual(reply.json["object"] as? String, "solve")
            let results = try XCTUnwrap(reply.json["results"] as? [[String: Any]])
            XCTAssertEqual(results.map { $0["index"] as? Int }, [0, 1])
            var total = 0
            for (i, result) in results.enumerated() {
                let puzzle = try Sudoku(parsing: puzzles[2 * r + i][...])
                var expected: ModelOutput?
                try runner.run([ModelInput(tokens: puzzle.tokens)]) { expected = $0 }
                let out = try XCTUnwrap(expected)
                XCTAssertEqual(result["solution"] as? String, Sudoku(prediction: out.prediction).string, "puzzle \(2 * r + i)")
                XCTAssertEqual(result["act_steps"] as? Int, out.steps)
                XCTAssertEqual((result["q_halt"] as? [Double])?.map(Float.init), out.qHalt)
                XCTAssertEqual(result["valid"] as? Bool, Sudoku(prediction: out.prediction).solves(puzzle))
                total += out.steps
            }
            XCTAssertEqual((reply.json["usage"] as? [String: Int])?["act_steps"], total)
        }
        // Every step to the cap, whatever the Q-head says.
        let capped = try server.http.post("/v1/solve", json: ["puzzles": [puzzles[0]], "halt": "max", "max_steps": 3])
        XCTAssertEqual(((capped.json["results"] as? [[String: Any]])?.first)?["act_steps"] as? Int, 3, capped.text)
        try await server.stop()
    }
}

/// The shipped TRM, loaded once.
enum RecurrentReference {
    static func model() throws -> RecursiveModel { try RecursiveModel(path: ServeFixtures.sudoku.path) }
}

/// Results filled from several threads.
final class Replies: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<LoopbackHTTP.Reply, Error>?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ result: Result<LoopbackHTTP.Reply, Error>) { lock.withLock { results[i] = result } }

    func get(_ i: Int) throws -> LoopbackHTTP.Reply {
        guard let result = lock.withLock({ results[i] }) else { throw LoopbackHTTP.Failure(description: "request \(i) never finished") }
        return try result.get()
    }
}

/// While its models load, the server is up and says so: 503 from `/health` and every endpoint.
final class ServerLoadingTests: XCTestCase {
    func testHealthIs503WhileTheModelLoadsThen200() async throws {
        // SmolLM2 with every tensor checked takes about a second to load in a debug build: the
        // requests below land well inside that window.
        let smol = try Reference.requireSmolLM()
        var options = ServerOptions(models: [smol.path])
        options.port = 0
        options.threads = 1
        options.parallel = 1
        options.checkTensors = true
        let server = try RecurServer(options: options)
        let (events, continuation) = AsyncStream<(String, Int)>.makeStream()
        let task = Task {
            try await server.run(shutdownSignals: [], onBound: { continuation.yield(("bound", $0)) },
                                 onReady: { continuation.yield(("ready", $0)) })
        }
        var iterator = events.makeAsyncIterator()
        let first = await iterator.next()
        let bound = try XCTUnwrap(first)
        XCTAssertEqual(bound.0, "bound")
        let http = LoopbackHTTP(port: bound.1)
        let health = try http.get("/health")
        XCTAssertEqual(health.status, 503, health.text)
        XCTAssertEqual(health.json["status"] as? String, "loading model")
        let early = try http.post("/v1/completions", json: ["prompt": "a", "max_tokens": 1])
        XCTAssertEqual(early.status, 503)
        XCTAssertEqual(early.error?["code"] as? String, "loading")
        let second = await iterator.next()
        let ready = try XCTUnwrap(second)
        XCTAssertEqual(ready.0, "ready")
        XCTAssertEqual(try http.get("/health").status, 200)
        XCTAssertEqual(try http.post("/v1/completions", json: ["prompt": "a", "max_tokens": 1]).status, 200)
        await server.shutdown()
        try await task.value
    }
}
