import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Runtime

/// The server's metrics through swift-metrics, exported by swift-prometheus from a registry of
/// this server's own (two servers in one process, as in tests, do not mix their counts):
/// requests by endpoint and status, tokens, queue depth and slot use per model, and latency and
/// time-to-first-token histograms. `GET /metrics` prints them in the Prometheus text format.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Generation requests take from milliseconds (a short reply) to minutes.
        factory.defaultDurationHistogramBuckets = [.milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                                   .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
                                                   .seconds(30), .seconds(60), .seconds(120)]
        self.factory = factory
    }

    /// Text exposition of every metric.
    func render() -> String { registry.emitToString() }

    func request(endpoint: String, model: String?, status: Int, seconds: Double) {
        let model = model ?? ""
        Counter(label: "recur_requests_total", dimensions: [("endpoint", endpoint), ("model", model), ("status", String(status))], factory: factory).increment()
        Metrics.Timer(label: "recur_request_duration_seconds", dimensions: [("endpoint", endpoint), ("model", model)], factory: factory)
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    func firstToken(model: String, seconds: Double) {
        Metrics.Timer(label: "recur_time_to_first_token_seconds", dimensions: [("model", model)], factory: factory).recordNanoseconds(Int64(seconds * 1e9))
    }

    func generated(model: String, result: GenerationResult) {
        Counter(label: "recur_prompt_tokens_total", dimensions: [("model", model)], factory: factory)
            .increment(by: result.promptTokens.count - result.reusedPromptTokens)
        Counter(label: "recur_prompt_tokens_reused_total", dimensions: [("model", model)], factory: factory).increment(by: result.reusedPromptTokens)
        Counter(label: "recur_generated_tokens_total", dimensions: [("model", model)], factory: factory).increment(by: result.tokens.count)
        Counter(label: "recur_sequences_total", dimensions: [("model", model), ("finish_reason", result.finishReason.rawValue)], factory: factory)
            .increment()
    }

    func solved(model: String, steps: Int) {
        Counter(label: "recur_puzzles_solved_total", dimensions: [("model", model)], factory: factory).increment()
        Counter(label: "recur_act_steps_total", dimensions: [("model", model)], factory: factory).increment(by: steps)
    }

    func rejected(model: String) {
        Counter(label: "recur_requests_rejected_total", dimensions: [("model", model), ("reason", "queue_full")], factory: factory).increment()
    }

    /// A model's queue depth and busy slots, recorded after every step: made once per model so
    /// the step does not look them up in the registry each time.
    struct QueueGauges: Sendable {
        let depth: CoreMetrics.Gauge
        let busy: CoreMetrics.Gauge

        /// Requests waiting for a slot and slots in use.
        func record(waiting: Int, active: Int) {
            depth.record(waiting)
            busy.record(active)
        }
    }

    func queueGauges(model: String) -> QueueGauges {
        QueueGauges(depth: CoreMetrics.Gauge(label: "recur_queue_depth", dimensions: [("model", model)], factory: factory),
                    busy: CoreMetrics.Gauge(label: "recur_slots_busy", dimensions: [("model", model)], factory: factory))
    }

    func slots(model: String, total: Int) {
        Gauge(label: "recur_slots_total", dimensions: [("model", model)], factory: factory).record(total)
    }

    func residentMemory() {
        if let bytes = ProcessMemory.residentBytes() {
            Gauge(label: "recur_resident_memory_bytes", factory: factory).record(bytes)
        }
    }
}
