// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "thermoshard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "thermoshard", targets: ["thermoshard"]),
        .library(name: "NNG", targets: ["NNG"]),
        .library(name: "Control", targets: ["Control"]),
        // For the microbenchmarks in Benchmarks/ (a package of their own).
        .library(name: "Wire", targets: ["Wire"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "ThermoshardClient", targets: ["ThermoshardClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        // Layering of environment and config file (JSON, the package's default trait) under the flags.
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        // Metrics (swift-metrics' API, exported in the Prometheus text format) and the HTTP
        // listener for /metrics, health, status and the dashboard.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
    ],
    targets: [
        // C shim over the system's libnng (Debian: libnng-dev). No pkg-config file ships, so the
        // module map links "nng" itself.
        .systemLibrary(name: "CNNG", path: "Sources/CNNG"),

        // A reusable Swift wrapper over nng: sockets, contexts, aio bridged to async/await.
        .target(name: "NNG", dependencies: ["CNNG"], swiftSettings: strict),

        // The keyed controller: pure values and functions, no I/O.
        .target(name: "Control", swiftSettings: strict),

        // CRC-32C with the CPU's instruction (SSE 4.2), for Wire's checksums; C, in a target of its own.
        .target(name: "CCRC32C"),

        // Public (ingest/commands) and cluster wire formats: bytes in, values or precise errors out.
        .target(name: "Wire", dependencies: ["Control", "CCRC32C"], swiftSettings: strict),

        // The coordinator's disk formats: ingest journal, command log, checkpoints. Blocking file
        // calls, run by the shell on a dedicated thread.
        .target(name: "Storage", dependencies: ["Control", "Wire"], swiftSettings: strict),

        // What long-running processes share when they retry and log: capped, jittered backoff
        // and a rate-limited log.
        .target(
            name: "Resilience",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),

        // Protocol decisions as value-type state machines: membership, assignment, handoff, epochs.
        .target(name: "Cluster", dependencies: ["Control"], swiftSettings: strict),

        // Every coordinator decision as one value type, driven by events with the time passed
        // in: no NNG, no clock, no file (it uses Storage's value types only).
        .target(
            name: "CoordinatorCore",
            dependencies: ["Control", "Wire", "Cluster", "Storage", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: strict
        ),

        // What every process reports: metric names (swift-metrics' API, no exporter), the status
        // report as metrics, the ring of control-quality observations, JSON log lines.
        .target(
            name: "Observability",
            dependencies: [
                "Wire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),

        // The HTTP listener (Hummingbird 2, on NIO's own threads; a ServiceLifecycle service):
        // /metrics, /healthz, /readyz, /api/status, /api/control, /api/events (SSE) and the
        // dashboard page at /. It only reads snapshots handed to it by closures.
        .target(
            name: "ObservabilityHTTP",
            dependencies: [
                "Observability", "Wire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // Thin shells driving the state machines with nng, the clock and the disk.
        .target(
            name: "Coordinator",
            dependencies: [
                "Control", "Wire", "Cluster", "NNG", "Storage", "CoordinatorCore", "Resilience", "Observability",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Worker",
            dependencies: [
                "Control", "Wire", "NNG", "Resilience", "Observability",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // The Swift client API: connect with a timeout, ingest (JSON and binary, idempotent
        // envelopes, retries by refusal code), admin calls (status, drain, command log long polls).
        .target(name: "ThermoshardClient", dependencies: ["Control", "Wire", "NNG", "Resilience"], swiftSettings: strict),

        // The load generator and latency report of `thermoshard bench`, and the heater fleet of
        // `thermoshard simulate`, driving the cluster through ThermoshardClient.
        .target(
            name: "Load",
            dependencies: [
                "Control", "Wire", "NNG", "ThermoshardClient", "Observability",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),

        // The executable: argument parsing, configuration, logging, subcommands. No logic of its own.
        .executableTarget(
            name: "thermoshard",
            dependencies: [
                "Control", "Wire", "NNG", "Storage", "CoordinatorCore", "Coordinator", "Worker", "ThermoshardClient", "Load",
                "Observability", "ObservabilityHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: strict
        ),

        .testTarget(
            name: "ControlTests",
            dependencies: ["Control", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(name: "WireTests", dependencies: ["Wire", "Control"], swiftSettings: strict),
        .testTarget(
            name: "ClusterTests",
            dependencies: ["Cluster", "Control", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: [
                "CoordinatorCore", "Cluster", "Control", "Wire", "Storage", "Worker",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "NNGTests", dependencies: ["NNG"], swiftSettings: strict),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Wire", "Control"], swiftSettings: strict),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Wire", "Control"], swiftSettings: strict),
        .testTarget(
            name: "ResilienceTests",
            dependencies: ["Resilience", "Control", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ObservabilityTests",
            dependencies: [
                "Observability", "ObservabilityHTTP", "Wire", "Control",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ThermoshardClientTests", dependencies: ["ThermoshardClient", "Wire", "Control", "NNG"], swiftSettings: strict),
        .testTarget(
            name: "LoadTests",
            dependencies: ["Load", "Control", "Wire", .product(name: "Histogram", package: "hdrhistogram-swift")],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
