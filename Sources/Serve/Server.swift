import Foundation
import Hummingbird
import Logging
import Runtime
import ServiceLifecycle
import UnixSignals

/// One model to serve: `PATH[,threads=N][,parallel=N]`, the settings overriding the server's.
public struct ModelSpec: Sendable, Equatable {
    public var path: String
    public var threads: Int?
    public var parallel: Int?

    public init(path: String, threads: Int? = nil, parallel: Int? = nil) {
        self.path = path
        self.threads = threads
        self.parallel = parallel
    }

    public init(parsing text: String) throws {
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        path = parts.removeFirst()
        guard !path.isEmpty else { throw ModelError.badInput("--model '\(text)': no file name") }
        for part in parts {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, let value = Int(kv[1]), value >= 1 else {
                throw ModelError.badInput("--model '\(text)': '\(part)' is not threads=N or parallel=N with N >= 1")
            }
            switch kv[0] {
            case "threads": threads = value
            case "parallel": parallel = value
            default: throw ModelError.badInput("--model '\(text)': unknown setting '\(kv[0])' (threads, parallel)")
            }
        }
    }

    /// The model's id: its file name without `.gguf`.
    public var id: String {
        let name = URL(fileURLWithPath: path).lastPathComponent
        return name.hasSuffix(".gguf") ? String(name.dropLast(5)) : name
    }
}

/// How `recur serve` runs.
public struct ServerOptions: Sendable {
    /// GGUF files to serve; each is known by its file name without `.gguf`.
    public var models: [ModelSpec]
    public var host = "127.0.0.1"
    /// 0: any free port (the listening line says which).
    public var port = 8080
    /// Sequences (language models) or puzzles (TRM/HRM) computed at once per model, unless its
    /// spec says otherwise.
    public var parallel = 4
    /// Kernel threads of each model, unless its spec says otherwise.
    public var threads = 1
    /// When set, every request but `/health` needs `Authorization: Bearer KEY`.
    public var apiKey: String?
    /// Positions per sequence; nil: the model's context_length capped at 4096.
    public var contextSize: Int?
    /// Requests (puzzles for `/v1/solve`) that may wait for a slot per model; more get 503.
    public var queueLimit = 64
    /// Largest request body in bytes; more gets 413.
    public var bodyLimit = 1 << 20
    /// Look through every tensor for NaN and infinity at load.
    public var checkTensors = false

    public init(models: [ModelSpec]) { self.models = models }

    public init(models: [String]) { self.models = models.map { ModelSpec(path: $0) } }
}

/// A loaded model and what serves it.
enum ServedModel: Sendable {
    case language(LanguageEngine)
    case puzzle(PuzzleEngine)

    var engine: EngineThread {
        switch self {
        case let .language(e): return e
        case let .puzzle(e): return e
        }
    }
}

/// The server's models, empty until they are loaded (`/health` answers 503 until then).
final class ModelTable: @unchecked Sendable {
    private let lock = NSLock()
    private var models: [(id: String, model: ServedModel, meta: [String: String])] = []
    private var ready = false
    let created = ResponseID.now

    func publish(_ loaded: [(id: String, model: ServedModel, meta: [String: String])]) {
        lock.withLock {
            models = loaded
            ready = true
        }
    }

    var isReady: Bool { lock.withLock { ready } }
    var all: [(id: String, model: ServedModel, meta: [String: String])] { lock.withLock { models } }

    /// The language engine named `id`, or the first one when the request names none.
    func language(_ id: String?) throws -> LanguageEngine {
        for entry in all where id == nil || entry.id == id {
            if case let .language(e) = entry.model { return e }
        }
        throw APIError.modelNotFound(id ?? "(none given)", kind: "language")
    }

    func puzzle(_ id: String?) throws -> PuzzleEngine {
        for entry in all where id == nil || entry.id == id {
            if case let .puzzle(e) = entry.model { return e }
        }
        throw APIError.modelNotFound(id ?? "(none given)", kind: "puzzle (TRM/HRM)")
    }
}

/// `recur serve`: an OpenAI-compatible HTTP server (Hummingbird) over Recur's models.
///
/// It binds first and loads the models after (`/health` says 503 until they are ready), then
/// prints `recur serve: listening on http://HOST:PORT`. SIGINT or SIGTERM shut it down
/// gracefully: it stops accepting connections, lets requests in flight finish, then stops the
/// model threads.
public final class RecurServer: Sendable {
    public let options: ServerOptions
    let table = ModelTable()
    let metrics = ServerMetrics()
    private let group = Box<ServiceGroup>()

    public init(options: ServerOptions) throws {
        guard !options.models.isEmpty else { throw ModelError.badInput("no model to serve: give --model PATH") }
        guard options.parallel >= 1 else { throw ModelError.badInput("--parallel must be at least 1, got \(options.parallel)") }
        guard options.queueLimit >= 0 else { throw ModelError.badInput("--queue must not be negative, got \(options.queueLimit)") }
        guard (0...65535).contains(options.port) else { throw ModelError.badInput("--port must be between 0 and 65535, got \(options.port)") }
        guard options.bodyLimit >= 1024 else { throw ModelError.badInput("--max-body must be at least 1024 bytes") }
        var ids = Set<String>()
        for spec in options.models {
            guard ids.insert(spec.id).inserted else { throw ModelError.badInput("two models are named '\(spec.id)': give files different names") }
            guard (spec.threads ?? options.threads) >= 1, (spec.threads ?? options.threads) <= ACTRunner.maxThreads else {
                throw ModelError.badInput("threads must be between 1 and \(ACTRunner.maxThreads)")
            }
            guard (spec.parallel ?? options.parallel) >= 1 else { throw ModelError.badInput("parallel must be at least 1") }
        }
        self.options = options
    }

    /// Serves until SIGINT/SIGTERM or `shutdown()`. `onBound` gets the port as soon as it is
    /// bound (the models still loading: `/health` answers 503), `onReady` once the models are
    /// loaded; a model that fails to load ends the server with its error.
    public func run(shutdownSignals: [UnixSignal] = [.sigterm, .sigint], onBound: @escaping @Sendable (Int) -> Void = { _ in },
                    onReady: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "recur.serve")
        logger.logLevel = .warning
        let (bound, boundContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "recur"),
            onServerRunning: { channel in
                boundContinuation.yield(channel.localAddress?.port ?? 0)
                boundContinuation.finish()
            },
            logger: logger
        )
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: shutdownSignals, logger: logger))
        group.set(services)
        defer { stopEngines() }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            tasks.addTask { [self] in
                var ports = bound.makeAsyncIterator()
                guard let port = await ports.next() else { return }
                onBound(port)
                try await load()
                onReady(port)
            }
            // Until the server shuts down; a model that fails to load stops it.
            do {
                for try await _ in tasks {}
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
        }
    }

    /// Stops accepting connections, lets the requests in flight finish, then ends `run`, as
    /// SIGTERM does.
    public func shutdown() async {
        await group.get()?.triggerGracefulShutdown()
    }

    /// Loads every model on a plain thread (loading maps and repacks files: blocking work).
    private func load() async throws {
        let options = options, metrics = metrics
        let loaded = try await withCheckedThrowingContinuation { (done: CheckedContinuation<[(id: String, model: ServedModel, meta: [String: String])], Error>) in
            Thread {
                done.resume(with: Result { try options.models.map { try Self.open($0, options: options, metrics: metrics) } })
            }.start()
        }
        for entry in loaded { entry.model.engine.start() }
        table.publish(loaded)
    }

    private static func open(_ spec: ModelSpec, options: ServerOptions, metrics: ServerMetrics) throws -> (id: String, model: ServedModel, meta: [String: String]) {
        let id = spec.id, threads = spec.threads ?? options.threads, parallel = spec.parallel ?? options.parallel
        let session = try Session(path: spec.path, threads: threads, checkTensors: options.checkTensors)
        var meta = ["architecture": session.description.architecture, "path": URL(fileURLWithPath: spec.path).lastPathComponent,
                    "parallel": String(parallel), "threads": String(threads)]
        metrics.slots(model: id, total: parallel)
        switch session.model {
        case let .language(language):
            let context = options.contextSize ?? min(language.model.description.contextLength, 4096)
            let engine = try LanguageEngine(id: id, language: language, parallel: parallel, contextSize: context,
                                            threads: threads, queueLimit: options.queueLimit, metrics: metrics)
            meta["kind"] = "language"
            meta["n_ctx"] = String(context)
            return (id, .language(engine), meta)
        case let .puzzle(model):
            let engine = try PuzzleEngine(id: id, model: model, parallel: parallel, threads: threads,
                                          queueLimit: options.queueLimit, metrics: metrics)
            meta["kind"] = "puzzle"
            meta["halt_max_steps"] = String(engine.maxSteps)
            return (id, .puzzle(engine), meta)
        }
    }

    private func stopEngines() {
        for entry in table.all { entry.model.engine.stop() }
    }
}

/// A value set once from one task and read from another.
final class Box<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value?

    func set(_ value: Value) { lock.withLock { self.value = value } }
    func get() -> Value? { lock.withLock { value } }
}
