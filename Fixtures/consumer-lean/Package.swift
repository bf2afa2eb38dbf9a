// swift-tools-version:6.2
// A user's package with swift-channels' default traits off (`traits: []`: no
// swift-service-lifecycle): scripts/consumer-check.sh builds and runs it after
// Fixtures/consumer, so the library builds without the trait too.
import PackageDescription

let package = Package(
    name: "consumer-lean",
    dependencies: [.package(path: "SWIFT_CHANNELS_PATH", traits: [])],
    targets: [
        .executableTarget(
            name: "App",
            dependencies: [
                .product(name: "MemcacheClient", package: "swift-channels"),
                .product(name: "MemcacheServer", package: "swift-channels"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]
        )
    ]
)
