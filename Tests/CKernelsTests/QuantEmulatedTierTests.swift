import Foundation
import XCTest

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
        let build = try run("/bin/sh", [quantRepoRoot.appendingPathComponent("benchmarks/kernels/build.sh").path, out.path, "emulated"],
                            environment: ["CC": cc])
        XCTAssertEqual(build.status, 0, "build failed:\n\(build.output)")
        guard build.status == 0 else { return }
        let check = try run(out.appendingPathComponent("qcheck_emulated").path, ["40"])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.contains(" 0 mismatches"), check.output)
        XCTAssertTrue(check.output.contains("avx512(emulated)=yes"), check.output)
        XCTAssertTrue(check.output.contains("amx(emulated)=yes"), check.output)
    }

    private func run(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws
        -> (status: Int32, output: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
