// swift-tools-version:6.1
// Recur: a CPU runtime for tiny recursive reasoning models (TRM, HRM).
import Foundation
import PackageDescription

/// OpenMP with Swift's clang needs the header of the system's LLVM (Debian's `libomp-dev`).
/// Look it up rather than naming one LLVM version, so a newer image keeps building.
func openMPIncludeDirectory() -> String? {
    let fm = FileManager.default
    let root = "/usr/lib"
    guard let llvms = try? fm.contentsOfDirectory(atPath: root) else { return nil }
    for llvm in llvms.filter({ $0.hasPrefix("llvm-") }).sorted().reversed() {
        let clang = "\(root)/\(llvm)/lib/clang"
        for version in ((try? fm.contentsOfDirectory(atPath: clang)) ?? []).sorted().reversed() {
            let include = "\(clang)/\(version)/include"
            if fm.fileExists(atPath: "\(include)/omp.h") { return include }
        }
    }
    return nil
}

// fp-contract=off: a*b+c must round twice, as PyTorch's kernels do, or FP32 results drift from the reference.
var kernelCFlags = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-strict-aliasing"]
var kernelDefines: [CSetting] = []
var kernelLinks: [LinkerSetting] = [.linkedLibrary("openblas"), .linkedLibrary("m")]
if let omp = openMPIncludeDirectory() {
    kernelCFlags += ["-fopenmp", "-isystem", omp]
    kernelDefines.append(.define("RECUR_HAVE_OPENMP", to: "1"))
    kernelLinks.append(.linkedLibrary("omp5"))
}

let package = Package(
    name: "Recur",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "recur", targets: ["recur"]),
        .library(name: "Runtime", targets: ["Runtime"]),
        .library(name: "Export", targets: ["Export"]),
        .library(name: "Tasks", targets: ["Tasks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // The HTTP server (`recur serve`); without its default traits it needs neither
        // swift-configuration nor the full Foundation.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .target(
            name: "CKernels",
            cSettings: kernelDefines + [.unsafeFlags(kernelCFlags)],
            linkerSettings: kernelLinks
        ),
        .target(name: "Runtime", dependencies: ["CKernels"]),
        // Task formats the models are used for (Sudoku puzzles), apart from the runtime.
        .target(name: "Tasks", dependencies: ["Runtime"]),
        .target(name: "Export", dependencies: ["CKernels", "Runtime", .product(name: "Yams", package: "Yams")]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Recur's SQLite files (the bench history, the rule memory): versioned schemas with an application id.
        .target(name: "Storage", dependencies: ["CSQLite"]),
        .target(name: "Bench", dependencies: ["Export", "Runtime", "Tasks", "CKernels", "Storage"]),
        // The rule-latent model's sessions: z_slow/z_fast and the sketch memory in SQLite.
        .target(name: "Rules", dependencies: ["Runtime", "Storage"]),
        // Neuro-symbolic search (docs/nssr.md): the function registry in SQLite, the primitives, the guided search.
        .target(name: "NSSR", dependencies: ["Runtime", "Storage", "CSQLite"]),
        // The OpenAI-compatible HTTP server: engines that batch requests across sequences, routes, metrics.
        .target(
            name: "Serve",
            dependencies: [
                "Runtime", "Tasks",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "recur",
            dependencies: ["Bench", "Export", "NSSR", "Rules", "Runtime", "Serve", "Tasks", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // libFuzzer targets for every reader (scripts/fuzz.sh builds them with the sanitizers).
        .executableTarget(name: "RecurFuzz", dependencies: ["Export", "Runtime", "Serve", "Tasks"]),
        // Helpers every test target shares (seeded random data, paths, the Python reference).
        .target(name: "TestSupport", dependencies: ["Runtime", "Bench"], path: "Tests/TestSupport"),
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels", "Runtime", "Bench", "TestSupport"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Tasks", "Bench", "Rules", "Runtime", "CKernels", "TestSupport"]),
        .testTarget(name: "ExportTests", dependencies: ["Tasks", "Bench", "Export", "Runtime", "TestSupport"]),
        .testTarget(name: "ConformanceTests", dependencies: ["Tasks", "Bench", "Export", "Runtime", "TestSupport"]),
        .testTarget(name: "RecurCLITests", dependencies: ["Tasks", "Bench", "recur", "Runtime", "TestSupport"]),
        .testTarget(name: "BenchTests", dependencies: ["Tasks", "Bench", "Runtime", "recur", "TestSupport"]),
        .testTarget(name: "ServeTests", dependencies: ["Serve", "Runtime", "Tasks", "Bench", "recur", "TestSupport"]),
        .testTarget(name: "NSSRTests", dependencies: ["NSSR", "Runtime", "Storage", "Bench", "recur", "TestSupport"]),
        .testTarget(name: "QHeadTests", dependencies: ["Export", "Runtime", "CKernels", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
