// swift-tools-version:6.1
// Microbenchmarks of Thermoshard's hot paths: a package of its own, outside the main package,
// its tests and CI. See README.md.
// Run: cd Benchmarks && swift package --disable-sandbox --scratch-path ../.build-bench-micro benchmark
import PackageDescription

/// One benchmark suite: an executable in Benchmarks/<name>/<name>.swift, run by the plugin.
func suite(_ name: String, _ modules: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: [
            "Fixtures",
            .product(name: "Benchmark", package: "benchmark"),
        ] + modules.map { .product(name: $0, package: "thermoshard") },
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}

let package = Package(
    name: "thermoshard-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "thermoshard", path: ".."),
        // MallocInterposer (the mallocCount* metrics) only: naming the trait leaves out the
        // default RuntimeInterposer trait and its package (Linux, Swift 6.3), so no ARC metrics.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Deterministic inputs shared by the suites (readings, settings, states).
        .target(name: "Fixtures", dependencies: [.product(name: "Control", package: "thermoshard")]),

        suite("IngestDecode", ["Control", "Wire"]),
        suite("Partitioning", ["Control"]),
        suite("ControllerStep", ["Control"]),
        suite("Checkpoint", ["Control", "Wire"]),
        suite("JournalAppend", ["Control", "Wire", "Storage"]),
        suite("CommandLogAppend", ["Control", "Storage"]),
    ],
    swiftLanguageModes: [.v6]
)
