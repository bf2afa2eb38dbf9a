// swift-tools-version:6.2
// Hummingbird 2 on swift-channels' memcache client: a `PersistDriver` on `MemcachePool` (or
// any `MemcacheRequestSender`: a server set, a replicated route) for Hummingbird's sessions
// and caches, and an example app. Its own package, so that the library stays SwiftNIO-free:
// Hummingbird brings SwiftNIO into the app, not into the library's modules. It depends on the
// library by path, as a user's package would.
import PackageDescription

import struct Foundation.URL

// A path dependency's identity is its folder's name, which depends on where the repository
// was cloned; compute it instead of hard-coding it.
let library = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().lastPathComponent

let settings: [SwiftSetting] = [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error)]

let package = Package(
    name: "HummingbirdMemcache",
    platforms: [.macOS(.v15)],
    products: [.library(name: "HummingbirdMemcache", targets: ["HummingbirdMemcache"])],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
    ],
    targets: [
        .target(
            name: "HummingbirdMemcache",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "MemcacheClient", package: library),
                .product(name: "Codecs", package: library),
                .product(name: "Channels", package: library),
            ],
            swiftSettings: settings),
        // The example app: sessions and a cached endpoint on memcached.
        .executableTarget(
            name: "HummingbirdMemcacheExample",
            dependencies: [
                "HummingbirdMemcache",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "MemcacheClient", package: library),
            ],
            swiftSettings: settings),
        .testTarget(
            name: "HummingbirdMemcacheTests",
            dependencies: [
                "HummingbirdMemcache",
                "HummingbirdMemcacheExample",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "MemcacheClient", package: library),
            ],
            swiftSettings: settings),
    ]
)
