import Foundation
import Runtime
import Serve
import TestSupport
import XCTest

/// A `RecurServer` running in the test process on an ephemeral loopback port.
final class RunningServer: @unchecked Sendable {
    let port: Int
    let http: LoopbackHTTP
    private let server: RecurServer
    private let task: Task<Void, Error>

    private init(port: Int, server: RecurServer, task: Task<Void, Error>) {
        self.port = port
        self.server = server
        self.task = task
        http = LoopbackHTTP(port: port)
    }

    /// Starts a server on `options` (port 0) and returns once its models are loaded.
    static func start(_ options: ServerOptions) async throws -> RunningServer {
        var options = options
        options.port = 0
        let server = try RecurServer(options: options)
        let (ready, readyContinuation) = AsyncStream<Int>.makeStream()
        let task = Task {
            defer { readyContinuation.finish() }
            try await server.run(shutdownSignals: []) { port in readyContinuation.yield(port) }
        }
        var ports = ready.makeAsyncIterator()
        guard let port = await ports.next() else {
            _ = try await task.value
            throw LoopbackHTTP.Failure(description: "the server stopped before it was ready")
        }
        return RunningServer(port: port, server: server, task: task)
    }

    /// Shuts the server down gracefully and waits for it to end.
    func stop() async throws {
        await server.shutdown()
        try await task.value
    }

    /// The value of a metric line `name{labels}` in `/metrics`, 0 when absent.
    func metric(_ name: String, _ labels: String) throws -> Double {
        let text = try http.get("/metrics").text
        let prefix = "\(name){\(labels)} "
        return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) } ?? 0
    }
}

/// The models the server tests serve.
enum ServeFixtures {
    /// The tiny random llama with a context of `context` positions (its weights do not depend on
    /// it), written once per process.
    static func tinyLlama(context: Int = 2048) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("recur-serve-tiny-\(context)-\(getpid()).gguf")
        if !FileManager.default.fileExists(atPath: url.path) {
            var model = try TinyLlama()
            model.set("llama.context_length", .uint32(UInt32(context)))
            try model.write(to: url)
        }
        return url
    }

    /// The shipped Sudoku TRM.
    static var sudoku: URL { Repo.root.appendingPathComponent("models/trm-sudoku-att-q8_0.gguf") }

    /// Puzzles of the shipped samples file.
    static func puzzles(_ count: Int) throws -> [String] {
        let text = try String(contentsOf: Repo.root.appendingPathComponent("models/sudoku-samples.txt"), encoding: .utf8)
        return Array(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.split(separator: " ")[0]) }.prefix(count))
    }

    static func modelID(_ url: URL) -> String { url.deletingPathExtension().lastPathComponent }
}
