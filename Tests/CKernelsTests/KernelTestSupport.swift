import CKernels
import Foundation
import TestSupport
import XCTest

/// Deterministic inputs, so a failure reproduces on any machine.
typealias SeededRandom = SplitMix64

extension SplitMix64 {
    mutating func int(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// The sizes every kernel runs over: vector-width boundaries and ragged ends on both sides.
let raggedSizes = [1, 7, 8, 15, 16, 17, 33, 64, 97, 1000]

/// Runs `body` with the given SIMD tier forced, then restores the tier that was active before
/// (so the start-up choice, environment override included, survives the test run).
func withTier<R>(_ isa: recur_isa, _ body: () throws -> R) throws -> R {
    let name = String(cString: recur_isa_name(isa))
    guard recur_isa_supported(isa) == 1 else { throw XCTSkip("\(name) not supported by this CPU") }
    let saved = recur_isa_active()
    guard recur_isa_set(isa) == 0 else {
        XCTFail("recur_isa_set(\(name)) refused a supported tier")
        throw XCTSkip("could not select \(name)")
    }
    defer { _ = recur_isa_set(saved) }
    return try body()
}

/// Runs `body` once under the scalar tier and once under `isa`; returns both results.
func scalarAnd<R>(_ isa: recur_isa, _ body: () throws -> R) throws -> (scalar: R, simd: R) {
    let simd = try withTier(isa, body)
    let scalar = try withTier(RECUR_ISA_SCALAR, body)
    return (scalar, simd)
}

/// Runs `body` with a thread count, then restores the previous one.
func withThreads<R>(_ n: Int32, _ body: () throws -> R) rethrows -> R {
    let saved = recur_get_num_threads()
    recur_set_num_threads(n)
    defer { recur_set_num_threads(saved) }
    return try body()
}

func assertBitIdentical(_ expected: [Float], _ actual: [Float], _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(expected.count, actual.count, "\(what): count", file: file, line: line)
    for i in 0..<min(expected.count, actual.count) where expected[i].bitPattern != actual[i].bitPattern {
        XCTFail("\(what): element \(i) differs: \(expected[i]) vs \(actual[i])", file: file, line: line)
        return
    }
}

func assertBitIdentical<T: Equatable>(_ expected: [T], _ actual: [T], _ what: String,
                                      file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(expected.count, actual.count, "\(what): count", file: file, line: line)
    for i in 0..<min(expected.count, actual.count) where expected[i] != actual[i] {
        XCTFail("\(what): element \(i) differs: \(expected[i]) vs \(actual[i])", file: file, line: line)
        return
    }
}

/// |actual - expected| <= atol + rtol * |expected| element-wise; NaN must meet NaN.
func assertClose(_ expected: [Float], _ actual: [Float], rtol: Double, atol: Double, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    assertClose(expected.map(Double.init), actual, rtol: rtol, atol: atol, what, file: file, line: line)
}

func assertClose(_ expected: [Double], _ actual: [Float], rtol: Double, atol: Double, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(expected.count, actual.count, "\(what): count", file: file, line: line)
    for i in 0..<min(expected.count, actual.count) {
        let e = expected[i], a = Double(actual[i])
        if e.isNaN || a.isNaN {
            if e.isNaN != a.isNaN {
                XCTFail("\(what): element \(i): expected \(e), got \(a)", file: file, line: line)
                return
            }
            continue
        }
        if abs(a - e) > atol + rtol * abs(e) {
            XCTFail("\(what): element \(i): expected \(e), got \(a) (|diff| \(abs(a - e)) > \(atol) + \(rtol)*|expected|)",
                    file: file, line: line)
            return
        }
    }
}

/// Distance in units in the last place, counting across zero (+0 and -0 are 0 apart).
func ulpDistance(_ a: Float, _ b: Float) -> Int64 {
    if a.isNaN || b.isNaN { return a.isNaN && b.isNaN ? 0 : Int64.max }
    func ordered(_ x: Float) -> Int64 {
        let bits = Int64(x.bitPattern & 0x7FFF_FFFF)
        return x.sign == .minus ? -bits : bits
    }
    return abs(ordered(a) - ordered(b))
}
