// swift-tools-version:6.2
// A user's package that pools a protocol of its own and uses no memcache: `Pool` with
// `Channels` and `Codecs`. scripts/consumer-check.sh builds and runs it, and fails if the build
// compiled the memcache client, OpenSSL's MD5 users or swift-distributed-tracing.
import PackageDescription

let package = Package(
    name: "consumer-pool",
    dependencies: [.package(path: "SWIFT_CHANNELS_PATH", traits: [])],
    targets: [
        .executableTarget(
            name: "App",
            dependencies: [
                .product(name: "Pool", package: "swift-channels"),
                .product(name: "Channels", package: "swift-channels"),
                .product(name: "Codecs", package: "swift-channels"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]
        )
    ]
)
