// swift-tools-version:6.2
// An HTTP/1.1 server on swift-channels' async API: keep-alive, pipelined requests,
// Content-Length bodies, a bounded head, 400 for what it cannot read. An example package: it
// depends on the library by path, as a user's package would.
import PackageDescription

import struct Foundation.URL

// A path dependency's identity is its folder's name; compute it (see Examples/RESPClient).
let library = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().lastPathComponent

let settings: [SwiftSetting] = [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]

let package = Package(
    name: "HTTPServer",
    products: [
        .library(name: "MiniHTTP", targets: ["MiniHTTP"]),
        .executable(name: "http-server", targets: ["http-server"]),
    ],
    dependencies: [.package(path: "../..")],
    targets: [
        .target(
            name: "MiniHTTP",
            dependencies: [.product(name: "Channels", package: library), .product(name: "Codecs", package: library)],
            swiftSettings: settings),
        .executableTarget(
            name: "http-server",
            dependencies: ["MiniHTTP", .product(name: "Channels", package: library)],
            swiftSettings: settings),
        .testTarget(
            name: "MiniHTTPTests",
            dependencies: [
                "MiniHTTP",
                .product(name: "Channels", package: library),
                .product(name: "ChannelsTestUtils", package: library),
            ],
            swiftSettings: settings),
    ]
)
