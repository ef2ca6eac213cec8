// swift-tools-version:6.0
// tincd-swift: a tinc 1.0 compatible mesh VPN daemon with an embedded BGP-4 speaker.
// Layout follows the design card: protocol logic lives in libraries that tests import,
// the executable only parses the command line and hands over to TincDaemon / BGPLite.
import PackageDescription

let package = Package(
    name: "tincd-swift",
    products: [
        .executable(name: "tincd-swift", targets: ["tincd-swift"]),
    ],
    dependencies: [
        // Metrics (MeshMetrics): the swift-metrics API with the Prometheus backend.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The operator subcommands `ctl` and `bgp` (help, errors, shell completion); tincd's own
        // getopt-style flags stay hand-parsed in TincConfig (they must match tincd 1.0 exactly).
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C shims: thin wrappers over libcrypto, zlib/LZO and Linux socket/tun ioctls that Swift cannot import directly.
        .target(name: "COpenSSL", linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "CCompression", linkerSettings: [.linkedLibrary("z"), .linkedLibrary("lzo2")]),
        .target(name: "CNetShim"),
        // The build version (git describe, written by the Makefile into Sources/CBuildInfo/build_version.h).
        .target(name: "CBuildInfo"),

        .target(name: "MeshCrypto", dependencies: ["COpenSSL", "CCompression"]),
        .target(name: "MeshRouting"),
        .target(name: "TincConfig"),
        .target(name: "MeshIO", dependencies: ["CNetShim"]),
        .target(name: "TunTap", dependencies: ["CNetShim", "MeshIO"]),
        // The typed state samples every operator view is rendered from (ctl, ctl --json, SIGUSR dumps, /metrics).
        .target(name: "MeshStatus"),
        .target(name: "TincProtocol", dependencies: ["MeshCrypto", "MeshRouting"]),
        .target(name: "TincDaemon",
                dependencies: ["CBuildInfo", "MeshCrypto", "MeshRouting", "TincConfig", "TincProtocol", "MeshIO", "TunTap", "BGPLite", "MeshMetrics", "MeshStatus",
                               .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .target(name: "BGPLite", dependencies: ["MeshIO", "MeshStatus"]),
        // Prometheus exporter + tiny HTTP server on the control loop (MetricsAddress).
        .target(name: "MeshMetrics",
                dependencies: ["MeshIO", "MeshStatus",
                               .product(name: "CoreMetrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus")]),
        .executableTarget(name: "tincd-swift", dependencies: ["TincDaemon", "TincConfig"]),

        .testTarget(name: "MeshCryptoTests", dependencies: ["MeshCrypto"]),
        .testTarget(name: "MeshRoutingTests", dependencies: ["MeshRouting"]),
        .testTarget(name: "TincConfigTests", dependencies: ["TincConfig"]),
        .testTarget(name: "TincProtocolTests", dependencies: ["TincProtocol", "MeshCrypto"]),
        // Test support: counts heap allocations per thread (the no-allocation-per-frame test).
        .target(name: "CAllocCounter", path: "Tests/CAllocCounter"),
        // In-process daemons for tests and fuzz drivers, no root: the harness (no device, listeners or
        // threads) and LiveMesh (running daemons on loopback with socketpair devices).
        .target(name: "DaemonTestSupport", dependencies: ["TincDaemon", "TincConfig", "MeshRouting", "MeshIO", "MeshCrypto", "TunTap"],
                path: "Tests/DaemonTestSupport"),
        .testTarget(name: "TincDaemonTests",
                    dependencies: ["TincDaemon", "TincConfig", "TincProtocol", "MeshRouting", "MeshIO", "TunTap", "CAllocCounter",
                                   "DaemonTestSupport", "MeshStatus"]),
        .testTarget(name: "BGPLiteTests", dependencies: ["BGPLite", "MeshRouting"]),
        .testTarget(name: "MeshMetricsTests", dependencies: ["MeshMetrics", "MeshIO", "MeshStatus"]),
        // The hostile-input tests speak the meta protocol themselves (TincProtocol's Handshake).
        .testTarget(name: "InteropTests", dependencies: ["MeshCrypto", "TincProtocol", "MeshIO"]),
    ]
)

// libFuzzer harnesses (Fuzz/, docs/FUZZING.md). Only declared when TINCD_FUZZ is set, so plain
// `swift build`/`swift test` never see them; `make fuzz` builds them with -sanitize=fuzzer,address
// into .build-fuzz.
import Foundation
if ProcessInfo.processInfo.environment["TINCD_FUZZ"] != nil {
    // The gossip target drives the in-process daemon harness, which needs testability; the fuzz
    // builds have it (-enable-testing) in release too.
    for t in package.targets where t.name == "DaemonTestSupport" {
        t.swiftSettings = (t.swiftSettings ?? []) + [.define("FUZZ_BUILD")]
    }
    package.targets += [
        .target(name: "CFuzzShim", path: "Fuzz/CFuzzShim"),
        .executableTarget(name: "tincd-fuzz",
                          dependencies: ["CFuzzShim", "MeshCrypto", "MeshRouting", "TincProtocol", "TincDaemon",
                                         "TunTap", "BGPLite", "MeshMetrics", "MeshIO", "CCompression", "DaemonTestSupport", "TincConfig"],
                          path: "Fuzz/Sources",
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ]
    package.products += [.executable(name: "tincd-fuzz", targets: ["tincd-fuzz"])]
}
