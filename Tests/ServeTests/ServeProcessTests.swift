import Foundation
import Runtime
import Serve
import TestSupport
import XCTest

/// `recur serve` as a process: the listening line, SIGTERM, several models with their own
/// thread counts, and the official `openai` client.
final class ServeProcessTests: XCTestCase {
    /// A running `recur serve` child and its port.
    final class Child: @unchecked Sendable {
        let process = Process()
        private let output = Pipe()
        private let lock = NSLock()
        private var stdout = Data()
        private(set) var port = 0

        init(_ arguments: [String]) throws {
            process.executableURL = Repo.recurExecutable
            process.arguments = ["serve", "--port", "0"] + arguments
            process.standardOutput = output
            process.standardError = output
            output.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self else { return }
                self.lock.withLock { self.stdout += data }
            }
            try process.run()
            let deadline = Date().addingTimeInterval(120)
            while port == 0 && Date() < deadline && process.isRunning {
                Thread.sleep(forTimeInterval: 0.05)
                let text = lock.withLock { String(decoding: stdout, as: UTF8.self) }
                if let range = text.range(of: "listening on http://127.0.0.1:") {
                    port = Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0
                }
            }
            guard port > 0 else {
                process.terminate()
                throw LoopbackHTTP.Failure(description: "recur serve did not become ready: \(text)")
            }
        }

        var text: String { lock.withLock { String(decoding: stdout, as: UTF8.self) } }
        var http: LoopbackHTTP { LoopbackHTTP(port: port) }

        /// Waits for the process to end (killing it past `seconds`); returns its status and
        /// whether it ended on its own.
        func waitForExit(seconds: Double) -> (status: Int32, onItsOwn: Bool) {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return (process.terminationStatus, false)
            }
            process.waitUntilExit()
            return (process.terminationStatus, process.terminationReason == .exit)
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    func testSIGTERMLetsTheStreamInFlightFinishThenExitsCleanly() throws {
        let tiny = try ServeFixtures.tinyLlama(context: 4096)
        let child = try Child(["--model", tiny.path, "--threads", "1", "--parallel", "2"])
        let http = child.http
        let reply = Replies(count: 1)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            reply.set(0, Result { try http.post("/v1/completions", json: ["prompt": "x", "max_tokens": 4000, "temperature": 0, "stream": true]) })
            done.signal()
        }
        // Once the sequence runs, ask the server to stop.
        let id = ServeFixtures.modelID(tiny)
        var busy = false
        for _ in 0..<2000 where !busy {
            Thread.sleep(forTimeInterval: 0.005)
            busy = (try? http.get("/metrics").text.contains("recur_slots_busy{model=\"\(id)\"} 1")) ?? false
        }
        XCTAssertTrue(busy, "the request is running")
        kill(child.process.processIdentifier, SIGTERM)
        XCTAssertEqual(done.wait(timeout: .now() + 300), .success, "the stream ends")
        let stream = try reply.get(0)
        XCTAssertEqual(stream.status, 200)
        XCTAssertEqual(stream.events.last, "[DONE]", "the stream in flight was finished, not cut")
        let last = stream.events.dropLast().last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual((last?["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String, "length", "all 4000 tokens")
        let exit = child.waitForExit(seconds: 60)
        XCTAssertTrue(exit.onItsOwn, "exits by itself after SIGTERM: \(child.text)")
        XCTAssertEqual(exit.status, 0, child.text)
        XCTAssertThrowsError(try http.get("/health"), "no longer listening")
    }

    func testTwoModelsWithTheirOwnThreadCountsServeConcurrently() throws {
        let tiny = try ServeFixtures.tinyLlama()
        let dir = try Reference.temporaryDirectory("serve-two")
        let second = dir.appendingPathComponent("second.gguf")
        try FileManager.default.copyItem(at: tiny, to: second)
        let child = try Child(["--model", "\(tiny.path),threads=1,parallel=2", "--model", "\(second.path),threads=2,parallel=3"])
        let http = child.http
        let models = try http.get("/v1/models").json["data"] as? [[String: Any]] ?? []
        let threads = Dictionary(uniqueKeysWithValues: models.map { ($0["id"] as? String ?? "", ($0["meta"] as? [String: String])?["threads"] ?? "") })
        XCTAssertEqual(threads, [ServeFixtures.modelID(tiny): "1", "second": "2"])

        let texts = ["one", "two three", "four", "five six seven", "eight", "nine"]
        let replies = Replies(count: texts.count)
        DispatchQueue.concurrentPerform(iterations: texts.count) { i in
            let model = i % 2 == 0 ? ServeFixtures.modelID(tiny) : "second"
            replies.set(i, Result { try http.post("/v1/completions", json: ["model": model, "prompt": texts[i], "max_tokens": 40, "temperature": 0]) })
        }
        let language = try LanguageModel(path: tiny.path)
        for i in texts.indices {
            let g = Generator(language: language, context: try DecoderContext(model: language.model, contextSize: 128, threads: 1))
            let expected = try g.generate(prompt: language.tokenizer.encode(texts[i], addSpecial: true, parseSpecial: true),
                                          options: GenerationOptions(maxTokens: 40, sampling: .greedy))
            let reply = try replies.get(i)
            XCTAssertEqual((reply.json["choices"] as? [[String: Any]])?.first?["text"] as? String, expected.text, "request \(i): \(reply.text)")
        }
        kill(child.process.processIdentifier, SIGTERM)
        XCTAssertEqual(child.waitForExit(seconds: 60).status, 0)
    }

    /// The shipped recursive LM over HTTP: concurrent greedy completions, batched per ACT step
    /// with tokens halting at different depths, each equal to the same prompt generated alone.
    func testRecursiveLMServesConcurrentRequestsAsAlone() throws {
        let model = Repo.root.appendingPathComponent("models/rlm-kjv-q8_0.gguf")
        let child = try Child(["--model", model.path, "--threads", "2", "--parallel", "3", "--ctx-size", "256"])
        let http = child.http
        let texts = ["In the beginning", "And the LORD said unto Moses,", "Blessed are the", "Then", "And it came to pass"]
        let replies = Replies(count: texts.count)
        DispatchQueue.concurrentPerform(iterations: texts.count) { i in
            replies.set(i, Result { try http.post("/v1/completions", json: ["model": "rlm-kjv-q8_0", "prompt": texts[i], "max_tokens": 24, "temperature": 0]) })
        }
        let language = try LanguageModel(path: model.path)
        for i in texts.indices {
            let g = Generator(language: language, context: try DecoderContext(model: language.model, contextSize: 256, threads: 2))
            let expected = try g.generate(prompt: language.tokenizer.encode(texts[i], addSpecial: true, parseSpecial: true),
                                          options: GenerationOptions(maxTokens: 24, sampling: .greedy))
            XCTAssertGreaterThan(Set(expected.actSteps).count, 1, "request \(i): tokens halt at different depths")
            let reply = try replies.get(i)
            XCTAssertEqual((reply.json["choices"] as? [[String: Any]])?.first?["text"] as? String, expected.text, "request \(i): \(reply.text)")
        }
        kill(child.process.processIdentifier, SIGTERM)
        XCTAssertEqual(child.waitForExit(seconds: 60).status, 0)
    }

    func testTheOfficialOpenAIClient() throws {
        try Reference.requirePython(["openai"])
        let smol = try Reference.requireSmolLM()
        let child = try Child(["--model", smol.path, "--model", ServeFixtures.sudoku.path, "--threads", "2", "--parallel", "2",
                               "--ctx-size", "1024", "--api-key", "test-key"])
        let run = try Reference.runPython([Repo.root.appendingPathComponent("tools/serve/openai_check.py").path,
                                           "--base-url", "http://127.0.0.1:\(child.port)/v1", "--model", ServeFixtures.modelID(smol),
                                           "--api-key", "test-key", "--puzzle-model", "trm-sudoku-att-q8_0"])
        XCTAssertEqual(run.status, 0, "openai_check.py:\n\(run.stdout)\n\(run.stderr)")
        XCTAssertFalse(run.stdout.contains("FAIL"), run.stdout)
        XCTAssertTrue(run.stdout.contains("ok "), run.stdout)
        kill(child.process.processIdentifier, SIGTERM)
        XCTAssertEqual(child.waitForExit(seconds: 120).status, 0)
    }

    func testModelSpecsParse() throws {
        XCTAssertEqual(try ModelSpec(parsing: "a/b.gguf"), ModelSpec(path: "a/b.gguf"))
        XCTAssertEqual(try ModelSpec(parsing: "a/b.gguf,threads=3,parallel=8"), ModelSpec(path: "a/b.gguf", threads: 3, parallel: 8))
        XCTAssertEqual(try ModelSpec(parsing: "m.gguf").id, "m")
        for bad in ["", "m.gguf,threads=0", "m.gguf,threads=x", "m.gguf,color=3", "m.gguf,parallel"] {
            XCTAssertThrowsError(try ModelSpec(parsing: bad), bad)
        }
    }
}
