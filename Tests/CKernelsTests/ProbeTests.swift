import CKernels
import XCTest

/// The machine probes run and answer in range: a positive INT8 rate for every tier this CPU runs,
/// -1 for a tier it lacks (reported as skipped, not measured) and for AMX (no probe), positive
/// read bandwidths. Their values are figures for `recur bench`, not asserted here.
final class ProbeTests: XCTestCase {
    func testInt8PeakForEveryTier() throws {
        var skipped: [String] = []
        for isa in [RECUR_ISA_SCALAR, RECUR_ISA_AVX2, RECUR_ISA_AVXVNNI, RECUR_ISA_AVX512] {
            let name = String(cString: recur_isa_name(isa))
            let one = recur_probe_int8_gops(isa, 1, 0.02)
            guard recur_isa_supported(isa) == 1 else {
                XCTAssertEqual(one, -1, "\(name): this CPU lacks it, so no figure")
                skipped.append(name)
                continue
            }
            XCTAssertTrue(one.isFinite && one > 0, "\(name): \(one) GOP/s")
            let all = recur_probe_int8_gops(isa, 2, 0.02)
            XCTAssertTrue(all.isFinite && all > 0, "\(name) at 2 threads: \(all) GOP/s")
            print("\(name): INT8 peak \(one) GOP/s at 1 thread, \(all) at 2")
        }
        XCTAssertEqual(recur_probe_int8_gops(RECUR_ISA_AMX, 1, 0.02), -1, "AMX has no probe")
        if !skipped.isEmpty { print("probe tiers skipped (not on this CPU): \(skipped.joined(separator: ", "))") }
    }

    func testReadBandwidth() {
        for (bytes, threads) in [(Int64(256 << 10), Int32(1)), (Int64(256 << 10), 2), (Int64(1000), 1), (Int64(8 << 20), 2)] {
            let gbs = recur_probe_read_gbs(bytes, threads, 0.02)
            XCTAssertTrue(gbs.isFinite && gbs > 0, "\(bytes) bytes per thread, \(threads) threads: \(gbs) GB/s")
        }
    }
}
