// swift-tools-version:6.2
// libFuzzer harnesses over the library's parsers: a separate package, so the library keeps
// no fuzzing flags. Build and run them all with scripts/fuzz.sh [SECONDS].
import Foundation
import PackageDescription

// The library is this package's parent folder, and a path dependency is named after its
// folder: whatever the checkout is called (main, ci-clone, swift-channels).
let library = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent

let harness: (String) -> Target = { name in
    .executableTarget(
        name: name,
        dependencies: [
            "FuzzSupport", .product(name: "Codecs", package: library), .product(name: "Channels", package: library),
        ],
        swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]
    )
}

let package = Package(
    name: "fuzz",
    dependencies: [.package(path: ".."), .package(url: "https://github.com/apple/swift-log", from: "1.16.2")],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "Codecs", package: library), .product(name: "Channels", package: library)],
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]
        ),
        harness("FuzzMemcacheReplies"),
        harness("FuzzMemcacheRequests"),
        harness("FuzzFraming"),
        harness("FuzzMemcacheUDP"),
        .executableTarget(
            name: "FuzzMemcacheClient",
            dependencies: [
                "FuzzSupport", .product(name: "MemcacheClient", package: library),
                .product(name: "Codecs", package: library),
                .product(name: "Channels", package: library),
            ],
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]
        ),
        harness("FuzzTLSServer"),
        .executableTarget(
            name: "FuzzPoolStateMachine",
            dependencies: [
                "FuzzSupport", .product(name: "Pool", package: library), .product(name: "Channels", package: library),
            ],
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]
        ),
        .executableTarget(
            name: "FuzzMemcacheServer",
            dependencies: [
                "FuzzSupport", .product(name: "MemcacheServer", package: library),
                .product(name: "Codecs", package: library),
                .product(name: "Channels", package: library), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]
        ),
    ]
)
