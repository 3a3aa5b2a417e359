// swift-tools-version:6.0
//
// NTKDistributed: the Swift binding of libntk_mpi (include/ntk_mpi.h) for MPI programs in Swift.
// A separate package so that the core package never needs MPI. It calls the C libraries
// libntk_mpi.so and libntk.so (build them with scripts/build.sh and scripts/build_mpi.sh) and
// needs Debian's libopenmpi-dev for mpi.h:
//
//   swift build -c release --package-path bindings/swift-mpi \
//       -Xlinker -L<dir of libntk_mpi.so> -Xlinker -rpath -Xlinker <that dir>
//   mpirun -np 2 bindings/swift-mpi/.build/release/ntk-mpi-check
//
// (scripts/test_mpi.sh does this.) Swift programs on one machine use the core package's NTK
// module instead; this one works with libntk's C handles, as the Python binding does.
import PackageDescription

let package = Package(
    name: "NTKDistributed",
    products: [
        .library(name: "NTKDistributed", targets: ["NTKDistributed"]),
        .executable(name: "ntk-mpi-check", targets: ["ntk-mpi-check"]),
    ],
    targets: [
        // ntk.h, ntk_mpi.h and mpi.h as one Clang module (mpi.h's include path from pkg-config).
        .systemLibrary(name: "CNTKMPI", path: "Sources/CNTKMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "NTKDistributed", dependencies: ["CNTKMPI"]),
        // The MPI test of the binding (run under mpirun; prints "N passed, N failed").
        .executableTarget(name: "ntk-mpi-check", dependencies: ["NTKDistributed", "CNTKMPI"]),
    ]
)
