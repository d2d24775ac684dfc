import Bench
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// The report's SVG files must be well-formed XML with the labels a reader needs.
final class ReportTests: XCTestCase {
    final class TextCollector: NSObject, XMLParserDelegate {
        var texts: [String] = []
        var elements: [String: Int] = [:]
        private var inText = false
        private var current = ""
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            elements[name, default: 0] += 1
            if name == "text" { inText = true; current = "" }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if inText { current += string } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "text" { texts.append(current); inText = false }
        }
    }

    func parse(_ path: String) throws -> TextCollector {
        let parser = try XCTUnwrap(XMLParser(contentsOf: URL(fileURLWithPath: path)))
        let collector = TextCollector()
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "\(path): \(parser.parserError.map { "\($0)" } ?? "")")
        return collector
    }

    func testReportWritesWellFormedSVG() throws {
        let dir = try BenchTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var throughput = BenchRun(kind: "throughput", startedAt: Date(), machine: BenchMachine(cpu: "CPU <&> \"x\"", isa: "avx2", cores: 4),
                                  gitCommit: "abc", command: "c")
        for (type, speed) in [("F16", 1.0), ("Q8_0", 2.0), ("Q4_0", 2.5)] {
            for t in [1, 2, 4] {
                let y = speed * Double(t)
                throughput.measurements.append(BenchMeasurement(
                    engine: "recur", modelPath: "m", modelSHA256: "h", modelType: type, threads: t, batch: 16, halt: "max", puzzles: 16,
                    repetitions: 3, figures: ["puzzles_per_s_median": y, "puzzles_per_s_min": y * 0.9, "puzzles_per_s_max": y * 1.1, "ms_per_step_median": 10 / y]))
            }
        }
        var drift = BenchRun(kind: "drift", startedAt: Date(), machine: throughput.machine, gitCommit: "abc", command: "d")
        for (type, kl) in [("Q8_0", 2e-4), ("Q4_0", 3e-2), ("Q4_1", 0.0)] {
            drift.measurements.append(BenchMeasurement(engine: "recur", modelPath: "m", modelSHA256: "h", modelType: type, threads: 1, batch: 16,
                                                       halt: "qhead", puzzles: 8, repetitions: 1, figures: ["kl_mean": kl, "exact_rate": 0.5]))
        }
        let written = try BenchReport.write(runs: [throughput, drift], to: dir.path)
        let svgs = written.filter { $0.hasSuffix(".svg") }
        XCTAssertEqual(Set(svgs.map { URL(fileURLWithPath: $0).lastPathComponent }), ["throughput-b16-max.svg", "drift-kl.svg"])
        let lines = try parse(dir.appendingPathComponent("throughput-b16-max.svg").path)
        for label in ["threads", "F16", "Q8_0", "Q4_0", "1", "2", "4"] {
            XCTAssertTrue(lines.texts.contains(label), "label \(label) in \(lines.texts)")
        }
        XCTAssertTrue(lines.texts.contains { $0.hasPrefix("puzzles per second") })
        XCTAssertEqual(lines.elements["polyline"], 3, "one line per type")
        XCTAssertEqual(lines.elements["circle"], 9)
        let bars = try parse(dir.appendingPathComponent("drift-kl.svg").path)
        XCTAssertTrue(bars.texts.contains("Q4_1"))
        XCTAssertTrue(bars.texts.contains("1e-4"), "decade ticks: \(bars.texts)")
        let md = try String(contentsOfFile: dir.appendingPathComponent("report.md").path, encoding: .utf8)
        XCTAssertTrue(md.contains("![throughput, batch 16, max](throughput-b16-max.svg)"))
        XCTAssertTrue(md.contains("| Q4_0 |"))
    }
}
