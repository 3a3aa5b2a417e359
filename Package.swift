// swift-tools-version:6.0
//
// libntk: Neural Tangent Kernels in Swift with a stable C ABI.
//
// Layers (see README.md, "Architecture"):
//   CBLAS  system library: OpenBLAS cblas + LAPACKE (Debian libopenblas-dev, liblapacke-dev)
//   CNTK   include/ntk.h as a Clang module: the C boundary is declared with the header's types
//   CKernels  C helpers of the core: inner loops that need vector instructions (AVX2 with a runtime
//             check), and dladdr
//   NTK    the Swift core and Swift API (`import NTK`); pure numerics, throws typed errors
//   NTKC   the C boundary (@_cdecl functions declared in include/ntk.h), built as libntk.so
import PackageDescription

/// This folder, for the linker's version script (the link does not run here).
let packageDirectory = String(#filePath.dropLast("Package.swift".count))

let package = Package(
    name: "libntk",
    products: [
        // Swift programs: `.product(name: "NTK", package: "libntk")`, then `import NTK`.
        .library(name: "NTK", targets: ["NTK"]),
        // C and Python programs: libntk.so, the Swift runtime linked in statically so the
        // library loads into any process without a Swift toolchain. It exports only the ntk_*
        // functions (Sources/NTKC/exports.map). The build folder's copy has no soname, so a C
        // program linked against it runs after a plain `swift build -c release`;
        // scripts/install.sh installs it as libntk.so.X.Y.Z with the soname (libntk.so.0.MINOR
        // before 1.0, libntk.so.MAJOR after) and its links.
        .library(name: "ntk", type: .dynamic, targets: ["NTKC"]),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        .target(
            name: "CKernels",
            path: "Sources/CKernels"
        ),
        .target(
            name: "NTK",
            dependencies: ["CBLAS", "CKernels"]
        ),
        .systemLibrary(
            name: "CNTK",
            path: "Sources/CNTK"
        ),
        .target(
            name: "NTKC",
            dependencies: ["NTK", "CNTK"],
            exclude: ["exports.map"],
            linkerSettings: [
                .unsafeFlags([
                    "-static-stdlib",
                    "-Xlinker", "--version-script=\(packageDirectory)Sources/NTKC/exports.map",
                ]),
            ]
        ),
        .testTarget(
            name: "NTKTests",
            dependencies: ["NTK"]
        ),
    ]
)
