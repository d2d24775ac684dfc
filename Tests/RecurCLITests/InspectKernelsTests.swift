import CKernels
import XCTest

/// `recur inspect --kernels`: the tier, the threads and each quantized type's micro-kernel shape,
/// which must be one of the shapes the kernels report for the tier.
final class InspectKernelsTests: XCTestCase {
    func testKernelsReportNamesTierThreadsAndAShapePerType() throws {
        let r = try CLI.run(["inspect", "--kernels"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let tier = String(cString: recur_isa_name(recur_isa_active()))
        XCTAssertTrue(r.stdout.contains("tier in use: \(tier)"), r.stdout)
        XCTAssertTrue(r.stdout.contains(recur_openmp_enabled() != 0 ? "threads: OpenMP" : "threads: one"), r.stdout)
        for (name, type) in [("Q8_0", RECUR_Q8_0), ("Q4_0", RECUR_Q4_0), ("Q4_1", RECUR_Q4_1)] {
            var rates = [recur_q_shape_rate](repeating: recur_q_shape_rate(), count: 8)
            var chosen: Int32 = 0
            let count = Int(recur_q_shapes(recur_isa_active(), type, &rates, 8, &chosen))
            XCTAssertGreaterThan(count, 0)
            let shapes = rates.prefix(count).map { rate in
                withUnsafeBytes(of: rate.name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            }
            let line = r.stdout.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(name + " ") }
            XCTAssertNotNil(line, "no line for \(name):\n\(r.stdout)")
            let shown = line.map { $0.split(separator: " ", omittingEmptySubsequences: true)[1] }.map(String.init)
            XCTAssertTrue(shown.map(shapes.contains) ?? false, "\(name) runs \(shown ?? "?"), not one of \(shapes)")
        }
    }

    func testForcedShapeIsReported() throws {
        let avx2 = try CLI.run(["inspect", "--kernels"], environment: ["RECUR_ISA": "avx2"])
        XCTAssertEqual(avx2.status, 0, avx2.stderr)
        XCTAssertTrue(avx2.stdout.contains("Q8_0  4x1   the tier's only shape"), "avx2 runs 4 rows x 1 panel:\n\(avx2.stdout)")
        guard recur_q_isa_supported(RECUR_ISA_AVX512) != 0 else {
            throw XCTSkip("no AVX-512 VNNI here: the tier with several shapes cannot be forced")
        }
        let forced = try CLI.run(["inspect", "--kernels"], environment: ["RECUR_ISA": "avx512", "RECUR_QKERNEL": "6x2"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        for type in ["Q8_0", "Q4_0", "Q4_1"] {
            XCTAssertTrue(forced.stdout.contains("\(type)  6x2"), "RECUR_QKERNEL=6x2 not in use for \(type):\n\(forced.stdout)")
        }
    }

    func testInspectWithoutModelOrKernelsIsAUsageError() throws {
        let r = try CLI.run(["inspect"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--kernels"), r.stderr)
    }
}
