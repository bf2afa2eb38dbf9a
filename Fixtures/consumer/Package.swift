// swift-tools-version:6.2
// A user's package, written from the README: scripts/consumer-check.sh copies it to a fresh
// directory, points the swift-channels dependency at this checkout, builds and runs it.
import PackageDescription

let package = Package(
    name: "consumer",
    dependencies: [
        .package(path: "SWIFT_CHANNELS_PATH"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .executableTarget(
            name: "App",
            dependencies: [
                .product(name: "MemcacheClient", package: "swift-channels"),
                .product(name: "MemcacheServer", package: "swift-channels"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]
        )
    ]
)
