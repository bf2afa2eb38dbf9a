// swift-tools-version:6.2
import PackageDescription

// One set of settings for every target: Swift 6 mode (complete concurrency checking),
// explicit existentials, internal imports unless a type appears in our public API, and every
// warning an error (SwiftPM applies warning control to this package's own targets only, so a
// dependency's warnings stay its own; an incremental build does not repeat a file's warnings,
// which is how a warning once went unnoticed).
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "swift-channels",
    products: [
        .library(name: "Channels", targets: ["Channels"]),
        .library(name: "Codecs", targets: ["Codecs"]),
        .library(name: "Pool", targets: ["Pool"]),
        .library(name: "MemcacheClient", targets: ["MemcacheClient"]),
        .library(name: "MemcacheServer", targets: ["MemcacheServer"]),
        .library(name: "ChannelsTestUtils", targets: ["ChannelsTestUtils"]),
        .executable(name: "mcpool", targets: ["mcpool"]),
    ],
    traits: [
        // swift-service-lifecycle (with swift-async-algorithms) is most of a clean build of the
        // libraries (about 15 s of 31 on 2 cores): on by default, and a user who runs no
        // ServiceGroup can turn it off (`traits: []`).
        .trait(
            name: "ServiceLifecycleSupport",
            description:
                "ConnectionPool, MemcachePool, MemcacheServerSet and InProcessMemcacheServer conform to swift-service-lifecycle's Service."
        ),
        .default(enabledTraits: ["ServiceLifecycleSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // `swift package generate-documentation` (the DocC catalogs in each library target).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // MARK: OpenSSL (system library)
        .systemLibrary(
            name: "CTLS",
            path: "Sources/CTLS",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),

        // MARK: Linux kernel headers Glibc does not export (epoll, eventfd)
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),

        // MARK: Engine
        .target(
            name: "Channels",
            dependencies: [
                "CTLS",
                "CLinux",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Protocols
        .target(
            name: "Codecs",
            dependencies: ["Channels", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: swiftSettings
        ),

        // MARK: Test utilities for users (like SwiftNIO's NIOTestUtils)
        .target(name: "ChannelsTestUtils", dependencies: ["Channels", "Codecs"], swiftSettings: swiftSettings),

        // MARK: Pooling (protocol-free: no Codecs, OpenSSL or tracing)
        .target(
            name: "Pool",
            dependencies: [
                "Channels",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(
                    name: "ServiceLifecycle", package: "swift-service-lifecycle",
                    condition: .when(traits: ["ServiceLifecycleSupport"])),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The memcache client (connections, the pool over Pool, server sets)
        .target(
            name: "MemcacheClient",
            dependencies: [
                "Pool", "Codecs", "Channels", "CTLS",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(
                    name: "ServiceLifecycle", package: "swift-service-lifecycle",
                    condition: .when(traits: ["ServiceLifecycleSupport"])),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Servers
        .target(
            name: "MemcacheServer",
            dependencies: [
                "Codecs", "Channels",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(
                    name: "ServiceLifecycle", package: "swift-service-lifecycle",
                    condition: .when(traits: ["ServiceLifecycleSupport"])),
            ],
            swiftSettings: swiftSettings),

        // MARK: Command line
        .executableTarget(
            name: "mcpool",
            dependencies: [
                "Channels", "Codecs", "Pool", "MemcacheClient", "MemcacheServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        .target(
            name: "TestSupport",
            dependencies: [
                "Channels", "Codecs", "ChannelsTestUtils", "MemcacheClient", "MemcacheServer",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport", swiftSettings: swiftSettings),
        .testTarget(name: "ChannelsTests", dependencies: ["Channels", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "CodecsTests", dependencies: ["Codecs", "Channels", "ChannelsTestUtils", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "PoolTests",
            dependencies: [
                "Pool", "Codecs", "Channels", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MemcacheClientTests",
            dependencies: [
                "MemcacheClient", "Pool", "Codecs", "Channels", "TestSupport", "MemcacheServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MemcacheServerTests",
            dependencies: [
                "MemcacheServer", "MemcacheClient", "Pool", "Codecs", "Channels", "TestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MCPoolTests",
            dependencies: [
                "mcpool", "MemcacheServer", "MemcacheClient", "Pool", "Codecs", "Channels", "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
