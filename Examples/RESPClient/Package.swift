// swift-tools-version:6.2
// A Redis (RESP2) client on swift-channels: pooled connections, many callers' commands
// pipelined on each, the library's PipelinedClientHandler underneath. An example package:
// it depends on the library by path, as a user's package would.
import PackageDescription

import struct Foundation.URL

// A path dependency's identity is its folder's name, which depends on where the repository
// was cloned; compute it instead of hard-coding it.
let library = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().lastPathComponent

let settings: [SwiftSetting] = [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]

let package = Package(
    name: "RESPClient",
    products: [.library(name: "RESPClient", targets: ["RESPClient"])],
    dependencies: [.package(path: "../..")],
    targets: [
        .target(
            name: "RESPClient",
            dependencies: [
                .product(name: "Channels", package: library),
                .product(name: "Codecs", package: library),
                .product(name: "Pool", package: library),
            ],
            swiftSettings: settings),
        // 64 callers' GETs against a redis-server, for the README's table (run by bench.sh).
        .executableTarget(
            name: "resp-bench",
            dependencies: ["RESPClient", .product(name: "Channels", package: library)],
            swiftSettings: settings),
        .testTarget(
            name: "RESPClientTests",
            dependencies: [
                "RESPClient",
                .product(name: "Channels", package: library),
                .product(name: "ChannelsTestUtils", package: library),
            ],
            swiftSettings: settings),
    ]
)
