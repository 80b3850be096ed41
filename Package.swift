// swift-tools-version:6.1
// Lockstep: data-parallel neural-network training in Swift over MPI.
// Layers (lowest first): CMPI/CBLAS/CZlib system libraries -> MPI, NeuralNet, Data ->
// Lockstep (coordinator) -> lockstep (CLI). See README.md, "Design".
import PackageDescription

let package = Package(
    name: "Lockstep",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lockstep", targets: ["LockstepCLI"]),
        .library(name: "MPI", targets: ["MPI"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Data", targets: ["Data"]),
        .library(name: "Lockstep", targets: ["Lockstep"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // System libraries: module maps plus header-only shims.
        .systemLibrary(
            name: "CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // A plain C call of MPI_Allreduce, the baseline of `lockstep bench allreduce`.
        .target(name: "CMPIBaseline", dependencies: ["CMPI"]),

        .target(name: "MPI", dependencies: ["CMPI"]),
        // Direct convolution kernels (AVX2/FMA, chosen at run time) behind NeuralNet's Conv2d.
        .target(name: "CConvKernels"),
        .target(name: "NeuralNet", dependencies: ["CBLAS", "CConvKernels"]),
        .target(name: "Data", dependencies: ["CZlib", "NeuralNet"]),
        .target(
            name: "Lockstep",
            dependencies: [
                "MPI", "NeuralNet", "Data", "CMPIBaseline", "CBLAS",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The `lockstep` command (a different module name from the `Lockstep` library, so
        // that case-insensitive file systems keep them apart).
        .executableTarget(
            name: "LockstepCLI",
            dependencies: [
                "Lockstep", "MPI", "NeuralNet", "Data",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]),
        // Multi-process MPI tests: run under `mpirun -np N` by scripts/test.sh.
        .executableTarget(name: "MPITestRunner", dependencies: ["MPI", "Lockstep"]),

        .testTarget(name: "MPITests", dependencies: ["MPI"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DataTests", dependencies: ["Data"]),
        .testTarget(name: "LockstepTests", dependencies: ["Lockstep", "NeuralNet", "Data"]),
    ],
    swiftLanguageModes: [.v6]
)
