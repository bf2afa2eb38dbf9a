// swift-tools-version:6.1
// libFuzzer harnesses over the library's parsers: a separate package, so the library keeps
// no fuzzing flags. Build and run them all with scripts/fuzz.sh [SECONDS].
import PackageDescription

let harness: (String) -> Target = { name in
    .executableTarget(
        name: name,
        dependencies: ["FuzzSupport", .product(name: "Codecs", package: "main"), .product(name: "Channels", package: "main")],
        swiftSettings: [.swiftLanguageMode(.v6)]
    )
}

let package = Package(
    name: "fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "Codecs", package: "main"), .product(name: "Channels", package: "main")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        harness("FuzzMemcacheReplies"),
        harness("FuzzMemcacheRequests"),
        harness("FuzzFraming"),
    ]
)
