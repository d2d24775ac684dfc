import Bench
import Foundation
import TestSupport
import XCTest

/// The history names model files by SHA-256; the digest must be the standard one.
final class SHA256Tests: XCTestCase {
    func testAgainstPythonHashlib() throws {
        var lengths = [0, 1, 55, 56, 63, 64, 65, 119, 128, 1000, 100_003]
        lengths.append(3 * (1 << 20) + 17)
        let dir = try BenchTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var generator = SplitMix64(seed: 7)
        for n in lengths {
            let data = Data((0..<n).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
            let file = dir.appendingPathComponent("data-\(n).bin")
            try data.write(to: file)
            let expected = try Reference.python(["-c", "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", file.path])
            XCTAssertEqual(try SHA256.hex(file: file.path), expected.trimmingCharacters(in: .whitespacesAndNewlines), "length \(n)")
            // Fed in uneven pieces, the streaming digest is the same.
            var s = SHA256()
            var offset = 0, piece = 1
            while offset < n {
                let end = min(n, offset + piece)
                s.update(data[offset..<end])
                offset = end
                piece = piece * 3 + 1
            }
            XCTAssertEqual(s.finalizeHex(), expected.trimmingCharacters(in: .whitespacesAndNewlines), "pieces, length \(n)")
        }
    }
}
