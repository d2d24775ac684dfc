import Foundation
import Runtime
import TestSupport
import XCTest
import Bench

/// A tiny random llama model (hidden 64, 2 layers, 4 heads over 2 KV heads, SwiGLU width 256) with
/// a byte-level BPE tokenizer of its own (the 256 bytes in GPT-2's alphabet and "<|endoftext|>"),
/// written with `GGUFWriter` the way llama.cpp names keys and tensors. It loads and generates
/// (noise), so a copy with one key or tensor changed fails for that change alone.
struct TinyLlama {
    static let hidden = 64, layers = 2, heads = 4, kvHeads = 2, ffn = 256, contextLength = 64
    static let headDim = hidden / heads
    /// 256 byte tokens, then "<|endoftext|>".
    static let vocab = 257
    static let endOfText: Int32 = 256

    /// Metadata in file order; `set` replaces or removes a key in place.
    var metadata: [(key: String, value: GGUFValue)] = []
    /// Tensors in file order, their bytes already encoded.
    var tensors: [(name: String, shape: [Int], type: GGMLType, data: [UInt8])] = []

    init(architecture: String = "llama", seed: UInt64 = 1) throws {
        let arch = architecture
        metadata = [
            ("general.architecture", .string(arch)),
            ("general.name", .string("tiny test llama")),
            ("\(arch).block_count", .uint32(UInt32(Self.layers))),
            ("\(arch).context_length", .uint32(UInt32(Self.contextLength))),
            ("\(arch).embedding_length", .uint32(UInt32(Self.hidden))),
            ("\(arch).feed_forward_length", .uint32(UInt32(Self.ffn))),
            ("\(arch).attention.head_count", .uint32(UInt32(Self.heads))),
            ("\(arch).attention.head_count_kv", .uint32(UInt32(Self.kvHeads))),
            ("\(arch).rope.freq_base", .float32(10000)),
            ("\(arch).attention.layer_norm_rms_epsilon", .float32(1e-5)),
            ("\(arch).rope.dimension_count", .uint32(UInt32(Self.headDim))),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("smollm")),
            ("tokenizer.ggml.tokens", .array(Self.byteAlphabet.map { .string($0) } + [.string("<|endoftext|>")])),
            ("tokenizer.ggml.token_type", .array(Array(repeating: GGUFValue.int32(1), count: 256) + [.int32(3)])),
            ("tokenizer.ggml.merges", .array([])),
            ("tokenizer.ggml.bos_token_id", .uint32(UInt32(Self.endOfText))),
            ("tokenizer.ggml.eos_token_id", .uint32(UInt32(Self.endOfText))),
            ("tokenizer.ggml.add_bos_token", .bool(false)),
        ]
        var rng = SplitMix64(seed: seed)
        let kv = Self.kvHeads * Self.headDim
        try addRandom("token_embd.weight", [Self.vocab, Self.hidden], &rng, scale: 1)
        for layer in 0..<Self.layers {
            let p = "blk.\(layer)"
            try addOnes("\(p).attn_norm.weight", Self.hidden)
            try addRandom("\(p).attn_q.weight", [Self.hidden, Self.hidden], &rng)
            try addRandom("\(p).attn_k.weight", [kv, Self.hidden], &rng)
            try addRandom("\(p).attn_v.weight", [kv, Self.hidden], &rng)
            try addRandom("\(p).attn_output.weight", [Self.hidden, Self.hidden], &rng)
            try addOnes("\(p).ffn_norm.weight", Self.hidden)
            try addRandom("\(p).ffn_gate.weight", [Self.ffn, Self.hidden], &rng)
            try addRandom("\(p).ffn_up.weight", [Self.ffn, Self.hidden], &rng)
            try addRandom("\(p).ffn_down.weight", [Self.hidden, Self.ffn], &rng)
        }
        try addOnes("output_norm.weight", Self.hidden)
    }

    private mutating func addRandom(_ name: String, _ shape: [Int], _ rng: inout SplitMix64, scale: Float = 0.125) throws {
        let values = rng.floats(shape.reduce(1, *), -scale, scale)
        tensors.append((name, shape, .f32, try GGMLBlocks.encode(values, as: .f32)))
    }

    private mutating func addOnes(_ name: String, _ count: Int) throws {
        tensors.append((name, [count], .f32, try GGMLBlocks.encode([Float](repeating: 1, count: count), as: .f32)))
    }

    /// Replaces `key`'s value where it stands, appends it when absent, or removes it (nil).
    mutating func set(_ key: String, _ value: GGUFValue?) {
        if let i = metadata.firstIndex(where: { $0.key == key }) {
            if let value { metadata[i].value = value } else { metadata.remove(at: i) }
        } else if let value {
            metadata.append((key, value))
        }
    }

    /// Replaces a tensor's type and bytes, and moves it to the end of the file when `last`.
    mutating func replaceTensor(_ name: String, type: GGMLType, data: [UInt8], last: Bool = false) {
        guard let i = tensors.firstIndex(where: { $0.name == name }) else { return }
        var t = tensors[i]
        t.type = type
        t.data = data
        if last {
            tensors.remove(at: i)
            tensors.append(t)
        } else {
            tensors[i] = t
        }
    }

    func write(to url: URL) throws {
        var writer = GGUFWriter()
        for (key, value) in metadata { writer.add(key, value) }
        for t in tensors { try writer.addTensor(name: t.name, shape: t.shape, type: t.type, data: t.data) }
        try writer.write(to: url.path)
    }

    /// GPT-2's byte alphabet: the code point that stands for each byte 0...255 in a byte-level
    /// BPE vocabulary (printable Latin-1 stands for itself, the rest take U+0100 onwards).
    static let byteAlphabet: [String] = {
        var next: UInt32 = 256
        return (0..<256).map { byte -> String in
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            let scalar: UInt32
            if printable {
                scalar = UInt32(byte)
            } else {
                scalar = next
                next += 1
            }
            return String(Character(Unicode.Scalar(scalar)!))
        }
    }()
}

/// Rewrites bytes of a written GGUF header in place: the fields of a named tensor's info.
enum GGUFPatch {
    /// Byte offset of the type id in the info of tensor `name` (after its name, dimension count
    /// and dimensions), and of its first dimension.
    static func tensorInfoOffsets(_ bytes: Data, name: String, dimensions: Int) throws -> (firstDimension: Int, type: Int) {
        // The name is preceded by its u64 length; match both so a prefix of another name does not.
        var needle = Data()
        withUnsafeBytes(of: UInt64(name.utf8.count).littleEndian) { needle.append(contentsOf: $0) }
        needle.append(contentsOf: Array(name.utf8))
        let end = try XCTUnwrap(bytes.range(of: needle), "tensor \(name) is in the header").upperBound
        return (end + 4, end + 4 + 8 * dimensions)
    }

    static func setTensorType(_ url: URL, name: String, dimensions: Int, to type: GGMLType) throws {
        var bytes = try Data(contentsOf: url)
        let at = try tensorInfoOffsets(bytes, name: name, dimensions: dimensions).type
        withUnsafeBytes(of: type.rawValue.littleEndian) { bytes.replaceSubrange(at..<at + 4, with: $0) }
        try bytes.write(to: url)
    }

    /// Sets the ggml-order dimensions (innermost first) of tensor `name`.
    static func setTensorDimensions(_ url: URL, name: String, to ne: [Int]) throws {
        var bytes = try Data(contentsOf: url)
        var at = try tensorInfoOffsets(bytes, name: name, dimensions: ne.count).firstDimension
        for d in ne {
            withUnsafeBytes(of: UInt64(d).littleEndian) { bytes.replaceSubrange(at..<at + 8, with: $0) }
            at += 8
        }
        try bytes.write(to: url)
    }
}

extension CLI {
    /// How a guarded run ended.
    struct Guarded {
        var result: Result
        /// False when the process died of a signal (a trap, an abort, a segfault, or the guard's kill).
        var exited: Bool
        var timedOut: Bool
    }

    /// Runs `recur ARGS` and kills it after `seconds` (a hang guard, not a timing check).
    static func runGuarded(_ args: [String], stdin: String? = nil, seconds: Double = 120) throws -> Guarded {
        let child = try Subprocess(binary.path, args, directory: repoRoot, stdin: stdin.map { Data($0.utf8) })
        let lock = NSLock()
        var killed = false
        let guardItem = DispatchWorkItem {
            lock.lock()
            defer { lock.unlock() }
            if child.process.isRunning {
                killed = true
                kill(child.pid, SIGKILL)
            }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: guardItem)
        let result = child.wait()
        guardItem.cancel()
        lock.lock()
        defer { lock.unlock() }
        return Guarded(result: result, exited: child.process.terminationReason == .exit, timedOut: killed)
    }
}

/// Asserts that `recur` refused: a non-zero exit of its own (no signal, no shell-style 128+signal
/// status, no hang), with stderr holding every one of `mentions`.
func XCTAssertRefuses(_ run: CLI.Guarded, mentioning mentions: [String], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(run.timedOut, "\(what): still running at the time bound", file: file, line: line)
    XCTAssertTrue(run.exited, "\(what): killed by signal \(run.result.status): \(run.result.stderr)", file: file, line: line)
    XCTAssertNotEqual(run.result.status, 0, "\(what): must fail", file: file, line: line)
    XCTAssertFalse([132, 134, 139].contains(run.result.status), "\(what): status \(run.result.status) is a crash", file: file, line: line)
    for mention in mentions {
        XCTAssertTrue(run.result.stderr.contains(mention), "\(what): stderr names '\(mention)': \(run.result.stderr)", file: file, line: line)
    }
}
