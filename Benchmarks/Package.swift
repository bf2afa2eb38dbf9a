// swift-tools-version:6.2
import PackageDescription

import struct Foundation.URL

// A path dependency's identity is its folder's name, which depends on where the repository
// was cloned; compute it instead of hard-coding it.
let libraryPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent

// Benchmarks live in their own package so the library keeps zero benchmark dependencies.
// SwiftNIO appears here only as the side-by-side peer.
let package = Package(
    name: "Benchmarks",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
    ],
    targets: [
        .executableTarget(
            name: "EchoBenchmark",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Channels", package: libraryPackage),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/EchoBenchmark",
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "DatagramEchoBenchmark",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Channels", package: libraryPackage),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/DatagramEchoBenchmark",
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "CodecBenchmark",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Channels", package: libraryPackage),
                .product(name: "Codecs", package: libraryPackage),
                .product(name: "MemcacheClient", package: libraryPackage),
            ],
            path: "Benchmarks/CodecBenchmark",
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "TLSBenchmark",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Channels", package: libraryPackage),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            path: "Benchmarks/TLSBenchmark",
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "PoolBenchmark",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Channels", package: libraryPackage),
                .product(name: "Codecs", package: libraryPackage),
                .product(name: "Pool", package: libraryPackage),
                .product(name: "MemcacheClient", package: libraryPackage),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                "NIOMemcachePeers",
            ],
            path: "Benchmarks/PoolBenchmark",
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // Issue 16's policies: getOrCompute against a naive stampede, setMany against
        // pipelined sets (no SwiftNIO, so it builds on its own: --target CachePolicyBenchmark).
        .executableTarget(
            name: "CachePolicyBenchmark",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Channels", package: libraryPackage),
                .product(name: "Codecs", package: libraryPackage),
                .product(name: "Pool", package: libraryPackage),
                .product(name: "MemcacheClient", package: libraryPackage),
            ],
            path: "Benchmarks/CachePolicyBenchmark",
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // The SwiftNIO memcache clients the pool is compared with (a pool with exclusive
        // leases, a pipelined client), shared by PoolBenchmark and PoolSideBySide.
        .target(
            name: "NIOMemcachePeers",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/NIOMemcachePeers",
            swiftSettings: [
                .swiftLanguageMode(.v6), .treatAllWarnings(as: .error),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        ),
        // The SwiftNIO peer of Examples/HTTPServer under wrk (Examples/HTTPServer/bench.sh).
        .executableTarget(
            name: "NIOHTTPHello",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/NIOHTTPHello",
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]
        ),
        // Counts the process's heap allocations (interposes malloc and friends).
        .target(name: "MallocCounter", path: "Benchmarks/MallocCounter"),
        // A cache prefetch hint for the side by side's callers (their keys, picked ahead).
        .target(name: "CachePrefetchHint", path: "Benchmarks/CachePrefetchHint"),
        // Issue 23's floor under CPU per get as callers grow: N tasks taking turns on the
        // loops, no sockets (Benchmarks/task-rotation-floor.sh runs it beside the pool).
        .executableTarget(
            name: "TaskRotationFloor",
            dependencies: [.product(name: "Channels", package: libraryPackage)],
            path: "Benchmarks/TaskRotationFloor",
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]
        ),
        // Issue 10's side by side: every client variant against one memcached, one process,
        // one JSON line each (run by memcache-side-by-side.sh next to the C load tool).
        .executableTarget(
            name: "PoolSideBySide",
            dependencies: [
                .product(name: "Channels", package: libraryPackage),
                .product(name: "Codecs", package: libraryPackage),
                .product(name: "Pool", package: libraryPackage),
                .product(name: "MemcacheClient", package: libraryPackage),
                .product(name: "NIOPosix", package: "swift-nio"),
                "NIOMemcachePeers", "MallocCounter", "CachePrefetchHint",
            ],
            path: "Benchmarks/PoolSideBySide",
            swiftSettings: [
                .swiftLanguageMode(.v6), .treatAllWarnings(as: .error),
                .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
            ]
        ),
    ]
)
