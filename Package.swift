// swift-tools-version: 6.0
// ruko: git push → sandboxed, size-checked Heroku-style slug, on raw Linux primitives.
import PackageDescription

/// System libraries (Debian `-dev` packages), reached through module maps in `Sources/C*`.
let systemLibraries: [Target] = [
    .systemLibrary(name: "CCap", path: "Sources/CCap"),
    .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp"),
    .systemLibrary(name: "CArchive", path: "Sources/CArchive"),
    .systemLibrary(name: "CMount", path: "Sources/CMount"),
    .systemLibrary(name: "CGit2", path: "Sources/CGit2"),
    .systemLibrary(name: "CDeflate", path: "Sources/CDeflate"),
]

let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "ruko",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ruko-run", targets: ["ruko-run"]),
        .executable(name: "ruko-build", targets: ["ruko-build"]),
        .executable(name: "ruko-shim", targets: ["ruko-shim"]),
        .executable(name: "ruko-api", targets: ["ruko-api"]),
        .library(name: "RukoSandbox", targets: ["RukoSandbox"]),
        .library(name: "RukoArchive", targets: ["RukoArchive"]),
        .library(name: "RukoBuild", targets: ["RukoBuild"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: systemLibraries + [
        // C only for what Swift cannot do safely: the clone child, init, raw capset/seccomp.
        .target(name: "_RukoCShims", path: "Sources/_RukoCShims"),

        // One module per kernel subsystem, each reaching the kernel through RukoSystem.
        .target(name: "RukoSystem", dependencies: ["_RukoCShims"]),
        .target(name: "RukoMount", dependencies: ["RukoSystem"]),
        // libmount's view of mount tables, for leak checks and diagnostics (kept out of ruko-run's
        // link: it drags in libblkid, libselinux and libpcre2, slowing every start).
        .target(name: "RukoMountTable", dependencies: ["RukoSystem", "CMount"]),
        .target(name: "RukoCgroup", dependencies: ["RukoSystem"]),
        .target(name: "RukoCapabilities", dependencies: ["RukoSystem", "CCap"]),
        .target(name: "RukoSeccomp", dependencies: ["RukoSystem", "CSeccomp", "_RukoCShims"]),
        .target(name: "RukoSpawn", dependencies: ["RukoSystem", "RukoMount", "_RukoCShims"]),
        .target(
            name: "RukoSandbox",
            dependencies: [
                "RukoSystem", "RukoMount", "RukoCgroup", "RukoCapabilities", "RukoSeccomp", "RukoSpawn",
            ]
        ),

        // Products built on the sandbox.
        // C for the parallel gzip hot path: walking libdeflate's output to join chunks.
        .target(name: "_RukoDeflateShims", path: "Sources/_RukoDeflateShims"),
        .target(
            name: "RukoArchive",
            dependencies: [
                "CArchive", "CDeflate", "_RukoDeflateShims",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "RukoBuild",
            dependencies: [
                "RukoSandbox", "RukoArchive", "RukoSystem", "CGit2",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "RukoAPI",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "RukoShim",
            dependencies: [
                "RukoBuild", "RukoSandbox", "RukoArchive", "RukoSystem",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // Thin argument-parser front ends.
        .executableTarget(name: "ruko-run", dependencies: ["RukoSandbox", "RukoSystem", argumentParser]),
        .executableTarget(name: "ruko-build", dependencies: ["RukoBuild", argumentParser]),
        .executableTarget(name: "ruko-shim", dependencies: ["RukoShim", argumentParser]),
        .executableTarget(name: "ruko-api", dependencies: ["RukoAPI", argumentParser]),

        // Unit tests: no root, on fakes.
        .testTarget(
            name: "RukoSandboxTests",
            dependencies: ["RukoSandbox", "RukoSystem", "RukoMount", "RukoCgroup", "RukoSeccomp"]
        ),
        .testTarget(name: "RukoArchiveTests", dependencies: ["RukoArchive"]),
        .testTarget(name: "RukoRunTests", dependencies: ["ruko-run", argumentParser]),
        .testTarget(name: "RukoBuildCLITests", dependencies: ["ruko-build", argumentParser]),
        .testTarget(name: "RukoBuildTests", dependencies: ["RukoBuild"]),
        .testTarget(
            name: "RukoAPITests",
            dependencies: [
                "RukoAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(name: "RukoShimTests", dependencies: ["RukoShim"]),
        // Integration tests: root, real kernel, sshd, git, SQLite; they drive the built binaries.
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["RukoSandbox", "RukoSystem", "RukoMountTable", "RukoArchive", "RukoBuild"]
        ),
    ]
)
