import Foundation
import Runtime

/// Copies of a GGUF file with one tensor's values changed, for bad-input tests.
public enum GGUFCopy {
    /// Writes `source` to `destination` with F32 tensor `name` passed through `change`.
    public static func write(_ source: URL, to destination: URL, changing name: String, _ change: (inout [Float]) -> Void) throws {
        let file = try GGUFFile(path: source.path)
        var writer = GGUFWriter(alignment: file.alignment)
        for (key, value) in file.metadata where key != "general.alignment" { writer.add(key, value) }
        for info in file.tensors {
            if info.name == name {
                precondition(info.type == .f32, "\(name) is \(info.type), not F32")
                var values = try file.floats(name)
                change(&values)
                try writer.addTensor(name: info.name, shape: info.shape, floats: values, type: .f32)
            } else {
                try writer.addTensor(name: info.name, shape: info.shape, type: info.type, data: Array(file.bytes(info)))
            }
        }
        try writer.write(to: destination.path)
    }
}
