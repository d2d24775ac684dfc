import CKernels
import Foundation

/// Looks through every value of a GGUF file's tensors for NaN and infinity, as llama.cpp's
/// `--check-tensors` does: plain tensors value by value, quantized ones row by row through their
/// decoders, so a non-finite block scale (which makes its whole block NaN or infinite) is found too.
public enum TensorCheck {
    public struct Finding: Sendable, Equatable {
        public var tensor: String
        /// Flat index of the first non-finite value, row-major.
        public var index: Int
        public var value: Float
    }

    public struct Report: Sendable {
        public var tensors = 0
        public var values = 0
        public var seconds = 0.0
        /// The first non-finite value of each tensor that has one.
        public var findings: [Finding] = []
        /// Tensors of types Recur cannot decode (not checked).
        public var unchecked: [String] = []
    }

    /// Checks every tensor (all of them, even after a finding).
    public static func run(_ file: GGUFFile) -> Report {
        let start = DispatchTime.now().uptimeNanoseconds
        var report = Report()
        for info in file.tensors {
            guard let found = scan(file, info) else {
                report.unchecked.append(info.name)
                continue
            }
            report.tensors += 1
            report.values += info.elementCount
            if let found { report.findings.append(Finding(tensor: info.name, index: found.index, value: found.value)) }
        }
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return report
    }

    /// Throws for the first tensor with a non-finite value (a load-time `--check-tensors`).
    public static func require(_ file: GGUFFile) throws {
        if let first = run(file).findings.first {
            throw ModelError.nonFiniteTensor(file: file.path, name: first.tensor, index: first.index, value: first.value)
        }
    }

    /// The first non-finite value of a tensor: nil when its type cannot be decoded, .some(nil)
    /// when every value is finite.
    private static func scan(_ file: GGUFFile, _ info: GGUFTensorInfo) -> (index: Int, value: Float)?? {
        let bytes = file.bytes(info)
        let count = info.elementCount
        guard count > 0, let base = bytes.baseAddress else { return .some(nil) }
        switch info.type {
        case .f32:
            let values = base.assumingMemoryBound(to: Float.self)
            let i = Int(recur_f32_first_non_finite(values, Int64(count)))
            return .some(i < 0 ? nil : (i, values[i]))
        case .i8, .i16, .i32, .i64:
            return .some(nil)  // integers are always finite
        default:
            break
        }
        let rowLength = info.rowLength
        let rows = count / max(rowLength, 1)
        let decodable = info.type == .f16 || info.type == .bf16 || recur_kq_block_bytes(Int32(info.type.rawValue)) > 0
        guard decodable, let rowBytes = try? info.type.rowBytes(rowLength), rows * rowBytes <= bytes.count else { return nil }
        var row = [Float](repeating: 0, count: rowLength)
        return row.withUnsafeMutableBufferPointer { out -> (index: Int, value: Float)?? in
            for r in 0..<rows {
                let source = base + r * rowBytes
                switch info.type {
                case .f16: recur_f16_to_f32(source.assumingMemoryBound(to: UInt16.self), out.baseAddress!, Int64(rowLength))
                case .bf16: recur_bf16_to_f32(source.assumingMemoryBound(to: UInt16.self), out.baseAddress!, Int64(rowLength))
                default: _ = recur_kq_dequantize_row(Int32(info.type.rawValue), source, out.baseAddress!, Int64(rowLength))
                }
                let i = Int(recur_f32_first_non_finite(out.baseAddress!, Int64(rowLength)))
                if i >= 0 { return .some((r * rowLength + i, out[i])) }
            }
            return .some(nil)
        }
    }
}
