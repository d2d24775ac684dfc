import Foundation
import Runtime
import TestSupport
import XCTest
import Bench

/// The AVX-VNNI, AVX-512 and AMX kernels compiled against plain-C stand-ins for their intrinsics
/// (benchmarks/kernels/vnni_emulation.h, amx_emulation.h) and compared with scalar bit for bit by
/// qcheck_emulated.
/// This checks their logic (layout, corrections, float order) on CPUs that lack the instructions; it
/// does not replace running QuantLinearTests on a CPU that has them.
final class QuantEmulatedTierTests: XCTestCase {
    func testEmulatedVNNIKernelsMatchScalar() throws {
        let fm = FileManager.default
        let compilers = ["/usr/bin/clang", "/usr/bin/gcc", "/usr/bin/cc"] +
            (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/clang" }
        guard let cc = compilers.first(where: { fm.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("no C compiler found to build benchmarks/kernels/qcheck_emulated")
        }
        let out = fm.temporaryDirectory.appendingPathComponent("recur-qcheck-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: out) }
        let build = try Subprocess.run("/usr/bin/env", ["CC=\(cc)", "/bin/sh", "benchmarks/kernels/build.sh", out.path, "emulated"],
                                       directory: Repo.root)
        XCTAssertEqual(build.status, 0, "build failed:\n\(build.output)")
        guard build.status == 0 else { return }
        let check = try Subprocess.run(out.appendingPathComponent("qcheck_emulated").path, ["40"])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.contains(" 0 mismatches"), check.output)
        XCTAssertTrue(check.output.contains("avx512(emulated)=yes"), check.output)
        XCTAssertTrue(check.output.contains("amx(emulated)=yes"), check.output)
    }
}
