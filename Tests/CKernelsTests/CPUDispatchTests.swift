import CKernels
import Foundation
import XCTest

final class CPUDispatchTests: XCTestCase {
    func testTierNamesAndSupport() {
        XCTAssertEqual(String(cString: recur_isa_name(RECUR_ISA_SCALAR)), "scalar")
        XCTAssertEqual(String(cString: recur_isa_name(RECUR_ISA_AVX2)), "avx2")
        XCTAssertEqual(String(cString: recur_isa_name(RECUR_ISA_AVX512)), "avx512")
        XCTAssertEqual(String(cString: recur_isa_name(RECUR_ISA_AVXVNNI)), "avxvnni")
        XCTAssertEqual(String(cString: recur_isa_name(RECUR_ISA_AMX)), "amx")
        XCTAssertEqual(recur_isa_supported(RECUR_ISA_SCALAR), 1)
        XCTAssertEqual(recur_isa_supported(recur_isa_best()), 1)
        XCTAssertEqual(recur_isa_supported(recur_isa(rawValue: 9)), 0)
    }

    /// The tiers follow the CPUID bits: AVX2 needs AVX2+FMA+F16C, AVX-512 needs F/BW/VL/VNNI too,
    /// AMX needs AVX-512 plus AMX-INT8 (reported only when the OS granted tile state).
    func testTiersFollowFeatureBits() {
        let f = recur_cpu_features()
        let avx2 = UInt32(RECUR_CPU_AVX2 | RECUR_CPU_FMA | RECUR_CPU_F16C)
        let avx512 = avx2 | UInt32(RECUR_CPU_AVX512F | RECUR_CPU_AVX512BW | RECUR_CPU_AVX512VL | RECUR_CPU_AVX512VNNI)
        XCTAssertEqual(recur_isa_supported(RECUR_ISA_AVX2) == 1, f & avx2 == avx2)
        let amx = avx512 | UInt32(RECUR_CPU_AMX_INT8)
        let avxvnni = avx2 | UInt32(RECUR_CPU_AVXVNNI)
        XCTAssertEqual(recur_isa_supported(RECUR_ISA_AVX512) == 1, f & avx512 == avx512)
        XCTAssertEqual(recur_isa_supported(RECUR_ISA_AMX) == 1, f & amx == amx)
        XCTAssertEqual(recur_isa_supported(RECUR_ISA_AVXVNNI) == 1, f & avxvnni == avxvnni)
        let expectedBest = f & amx == amx ? RECUR_ISA_AMX : f & avx512 == avx512 ? RECUR_ISA_AVX512
            : f & avxvnni == avxvnni ? RECUR_ISA_AVXVNNI : f & avx2 == avx2 ? RECUR_ISA_AVX2 : RECUR_ISA_SCALAR
        XCTAssertEqual(recur_isa_best(), expectedBest)
        print("CPU features 0x\(String(f, radix: 16)), best tier \(String(cString: recur_isa_name(recur_isa_best())))")
    }

    func testSetRefusesUnsupportedTiers() {
        let before = recur_isa_active()
        XCTAssertEqual(recur_isa_set(recur_isa(rawValue: 9)), -1)
        for isa in [RECUR_ISA_AVX2, RECUR_ISA_AVXVNNI, RECUR_ISA_AVX512, RECUR_ISA_AMX] where recur_isa_supported(isa) == 0 {
            XCTAssertEqual(recur_isa_set(isa), -1)
        }
        XCTAssertEqual(recur_isa_active(), before, "a refused tier leaves the active one alone")
        XCTAssertEqual(recur_isa_set(RECUR_ISA_SCALAR), 0)
        XCTAssertEqual(recur_isa_active(), RECUR_ISA_SCALAR)
        XCTAssertEqual(recur_isa_set(before), 0)
    }

    /// What RECUR_ISA in this process's environment must have produced at start-up (tests restore
    /// the tier after forcing one, so the start-up choice is still active here).
    func testEnvironmentChoice() {
        let env = ProcessInfo.processInfo.environment["RECUR_ISA"] ?? ""
        let named: recur_isa? = ["scalar": RECUR_ISA_SCALAR, "avx2": RECUR_ISA_AVX2, "avxvnni": RECUR_ISA_AVXVNNI,
                                 "avx512": RECUR_ISA_AVX512, "amx": RECUR_ISA_AMX][env.lowercased()]
        if env.isEmpty {
            XCTAssertEqual(recur_isa_env_rejected(), 0)
            XCTAssertEqual(recur_isa_active(), recur_isa_best())
        } else if let named, recur_isa_supported(named) == 1 {
            XCTAssertEqual(recur_isa_env_rejected(), 0)
            XCTAssertEqual(recur_isa_active(), named)
        } else {
            XCTAssertEqual(recur_isa_env_rejected(), 1, "RECUR_ISA=\(env) must be reported as rejected")
            XCTAssertEqual(recur_isa_active(), recur_isa_best(), "a rejected RECUR_ISA falls back to the best tier")
        }
    }

    /// Runs testEnvironmentChoice in child processes of this test binary with RECUR_ISA set.
    func testEnvironmentOverrideInChildProcesses() throws {
        guard ProcessInfo.processInfo.environment["RECUR_ISA_CHILD"] == nil else { return }
        #if os(Linux)
        let binary = URL(fileURLWithPath: CommandLine.arguments[0])
        for value in ["scalar", "avx2", "avxvnni", "avx512", "amx", "AVX2", "sse9"] {
            let process = Process()
            process.executableURL = binary
            process.arguments = ["CKernelsTests.CPUDispatchTests/testEnvironmentChoice"]
            var env = ProcessInfo.processInfo.environment
            env["RECUR_ISA"] = value
            env["RECUR_ISA_CHILD"] = "1"
            process.environment = env
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "RECUR_ISA=\(value) child failed:\n\(log)")
            XCTAssertTrue(log.contains("Executed 1 test"), "the child ran the check:\n\(log)")
        }
        #else
        throw XCTSkip("child-process check uses the Linux xctest runner")
        #endif
    }
}
