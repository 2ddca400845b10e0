// swift-tools-version:6.1
// Microbenchmarks of Thermoshard's hot paths, kept out of the main package, its tests and CI.
// Run: cd Benchmarks && swift package --disable-sandbox benchmark
import PackageDescription

let package = Package(
    name: "thermoshard-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "thermoshard", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Control", package: "thermoshard"),
                .product(name: "Wire", package: "thermoshard"),
                .product(name: "Storage", package: "thermoshard"),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
