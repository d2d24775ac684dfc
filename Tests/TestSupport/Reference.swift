import Foundation
import Runtime
import XCTest
import Bench

/// The references tests compare against: the Python scripts in tools/ (PyTorch, the `gguf`
/// package) and the trained checkpoint and data in ../shared.
///
/// A missing reference skips the test that needs it, or fails it under RECUR_REQUIRE_REFERENCE=1,
/// as CI runs, so that a reference that silently went away cannot turn checks into skips.
public enum Reference {
    public static var repoRoot: URL { Repo.root }
    public static var shared: URL { Repo.shared }

    /// What a test throws when a reference it needs is missing: a skip, or a failure when the
    /// references are required.
    public static func unavailable(_ reason: String) -> Error {
        Repo.referenceRequired ? MissingReference(description: "RECUR_REQUIRE_REFERENCE=1, but \(reason)") : XCTSkip(reason)
    }

    /// Runs `python3 ARGS` from the repository root to the end, whatever its exit status. A python3
    /// that cannot be found, and exit status 77 (how the scripts in tools/ say a package they need
    /// is not installed), throw `unavailable`.
    public static func runPython(_ args: [String]) throws -> Subprocess.Result {
        let r = try Subprocess.run("/usr/bin/env", ["python3"] + args, directory: Repo.root)
        switch r.status {
        case 127: throw unavailable("python3 not found")
        case 77: throw unavailable("\(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)) (python3 \(args.first ?? ""))")
        default: return r
        }
    }

    /// Runs `python3 ARGS` from the repository root; returns its standard output, or throws with
    /// its standard error when it fails.
    @discardableResult
    public static func python(_ args: [String]) throws -> String {
        let r = try runPython(args)
        guard r.status == 0 else {
            throw ReferenceFailure(description: "python3 \(args.joined(separator: " ")) failed with status \(r.status): \(r.stderr)")
        }
        return r.stdout
    }

    /// Throws `unavailable` unless python3 can import every one of `modules`. Each set is tried
    /// once per test process.
    public static func requirePython(_ modules: [String]) throws {
        let statement = "import " + modules.joined(separator: ", ")
        probeLock.lock()
        defer { probeLock.unlock() }
        if importProbes[statement] == nil {
            let r = try? Subprocess.run("/usr/bin/env", ["python3", "-c", statement])
            // The last line of a traceback names what is missing.
            let said = r.map { $0.stderr.split(separator: "\n").last.map(String.init) ?? "status \($0.status)" }
            importProbes[statement] = .some(r?.status == 0 ? nil : said ?? "python3 could not be started")
        }
        if let failure = importProbes[statement] ?? nil { throw unavailable("python3 -c '\(statement)' failed: \(failure)") }
    }

    /// PyTorch and what the reference scripts read checkpoints with.
    public static func requireTorch() throws { try requirePython(["torch", "safetensors", "yaml"]) }

    /// The `gguf` package (llama.cpp's reader, writer and quantizers).
    public static func requireGGUF() throws { try requirePython(["gguf", "numpy"]) }

    /// llama.cpp through its Python binding (`llama-cpp-python`): the reference for tokenization,
    /// logits and generation of language models.
    public static func requireLlamaCpp() throws { try requirePython(["llama_cpp", "numpy"]) }

    /// The small real language model the generation tests run: SmolLM2-135M-Instruct as llama.cpp
    /// quantized it (Q4_1, tied Q8_0 embedding), fetched by `scripts/setup.sh --llm` into .cache/llm.
    public static func requireSmolLM() throws -> URL {
        let url = Repo.root.appendingPathComponent(".cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw unavailable(".cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf is missing (scripts/setup.sh --llm fetches it)")
        }
        return url
    }

    /// `../shared/RELATIVE`, or `unavailable` when it is not beside the checkout.
    public static func requireShared(_ relative: String) throws -> URL {
        let url = shared.appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw unavailable("\(relative) not found beside the checkout (../shared)")
        }
        return url
    }

    public static func temporaryDirectory(_ name: String) throws -> URL { try Repo.temporaryDirectory("recur-\(name)") }

    /// Import statement -> nil when it worked, else what python3 said.
    private static var importProbes: [String: String?] = [:]
    private static let probeLock = NSLock()
}

/// A reference that CI requires is missing.
public struct MissingReference: Error, CustomStringConvertible {
    public let description: String
}

/// A reference script ran and failed.
public struct ReferenceFailure: Error, CustomStringConvertible {
    public let description: String
}

extension Subprocess.Result {
    /// Standard output, then standard error: for failure messages and for checks that do not
    /// care which stream a line went to.
    public var output: String { stdout + stderr }
}
