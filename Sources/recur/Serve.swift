import ArgumentParser
import Foundation
import Serve

/// `recur serve`: the OpenAI-compatible HTTP server.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve models over HTTP: OpenAI's chat and text completions for language models, /v1/solve for TRM/HRM puzzle models.",
        discussion: """
        Each --model is known by its file name without .gguf. Endpoints: POST /v1/chat/completions, \
        POST /v1/completions (stream: true for server-sent events), GET /v1/models, POST /v1/solve, \
        GET /health, GET /metrics (Prometheus). Concurrent requests share each model's decode steps \
        (--parallel slots); SIGINT or SIGTERM finish the requests in flight, then exit.
        """)

    @Option(name: [.customShort("m"), .long], help: "A GGUF model to serve, PATH[,threads=N][,parallel=N] (repeatable; default: the shipped Sudoku TRM).")
    var model: [String] = []
    @Option(name: .long, help: "Address to bind (loopback unless told otherwise).")
    var host = "127.0.0.1"
    @Option(name: .long, help: "Port to listen on (0: any free port; the listening line says which).")
    var port = 8080
    @Option(name: [.customLong("np", withSingleDash: true), .long], help: "Sequences (or puzzles) each model computes at once.")
    var parallel = 4
    @Option(name: [.customShort("t"), .long], help: "Kernel threads of each model.")
    var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("api-key"), help: "Require 'Authorization: Bearer KEY' on every request but /health.")
    var apiKey: String?
    @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "Context size of each sequence (default: the model's, at most 4096).")
    var contextSize: Int?
    @Option(name: .long, help: "Requests (puzzles for /v1/solve) that may wait per model; more get 503 with Retry-After.")
    var queue = 64
    @Option(name: .customLong("max-body"), help: "Largest request body in bytes; more gets 413.")
    var maxBody = 1 << 20
    @Flag(name: .customLong("check-tensors"), help: "Look through every tensor for NaN and infinity before running (as llama.cpp's --check-tensors).")
    var checkTensors = false

    func validate() throws {
        guard threads >= 1, threads <= 1024 else { throw ValidationError("--threads must be between 1 and 1024, got \(threads)") }
        if let contextSize, contextSize < 1 { throw ValidationError("--ctx-size must be positive, got \(contextSize)") }
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key must not be empty") }
    }

    func run() throws {
        var options = ServerOptions(models: try (model.isEmpty ? [DefaultModel.path()] : model).map { try ModelSpec(parsing: $0) })
        options.host = host
        options.port = port
        options.parallel = parallel
        options.threads = threads
        options.apiKey = apiKey
        options.contextSize = contextSize
        options.queueLimit = queue
        options.bodyLimit = maxBody
        options.checkTensors = checkTensors
        let server = try RecurServer(options: options)
        let host = host
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        // The server is async; the command blocks here until it shuts down.
        Task {
            do {
                try await server.run(onBound: { port in
                    FileHandle.standardError.write(Data("recur serve: bound to http://\(host):\(port), loading the models\n".utf8))
                }, onReady: { port in
                    print("recur serve: listening on http://\(host):\(port)")
                    fflush(stdout)
                })
            } catch {
                outcome.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw CLIError("\(error)") }
    }

    private final class Outcome: @unchecked Sendable {
        var error: Error?
    }
}
