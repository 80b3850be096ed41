// swift-tools-version:6.1
// Lockstep: data-parallel neural-network training in Swift over MPI.
// Modules (lowest first; the README's "Design" draws the same graph):
//   CMPI, CBLAS, CZlib, CConvKernels, CAtomics, CMPIBaseline   C libraries, shims and kernels
//   Randomness                                       seeded generators, no dependencies
//   MPI <- CMPI;  NeuralNet <- CBLAS, CConvKernels, Randomness, Yams;  Datasets <- CZlib, Randomness
//   Checkpoints                                      safetensors, SHA-256, durable files (no MPI)
//   Lockstep <- MPI, NeuralNet, Datasets, Checkpoints, CAtomics, Logging   the coordinator
//   LockstepBenchmarks <- Lockstep, MPI, NeuralNet, CMPIBaseline, CBLAS   `lockstep bench`
//   LockstepCLI (`lockstep`) <- everything above
import PackageDescription

let package = Package(
    name: "Lockstep",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lockstep", targets: ["LockstepCLI"]),
        .library(name: "MPI", targets: ["MPI"]),
        .library(name: "Randomness", targets: ["Randomness"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Checkpoints", targets: ["Checkpoints"]),
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
        // Atomic 64-bit loads and stores (the stall watchdog's records, shared across processes).
        .target(name: "CAtomics"),
        // Direct convolution kernels (AVX2/FMA, chosen at run time) behind NeuralNet's Conv2d, and GELU's.
        .target(name: "CConvKernels"),

        .target(name: "Randomness"),
        .target(name: "MPI", dependencies: ["CMPI"]),
        // Model files are YAML or JSON, read with Yams (which keeps each value's line for errors).
        .target(name: "NeuralNet", dependencies: ["CBLAS", "CConvKernels", "Randomness", .product(name: "Yams", package: "Yams")]),
        .target(name: "Datasets", dependencies: ["CZlib", "Randomness"]),
        .target(name: "Checkpoints", dependencies: ["Datasets"]),
        .target(
            name: "Lockstep",
            dependencies: [
                "MPI", "NeuralNet", "Datasets", "Checkpoints", "CAtomics",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "LockstepBenchmarks",
            dependencies: ["Lockstep", "MPI", "NeuralNet", "CMPIBaseline", "CBLAS"]),
        // The `lockstep` command (a different module name from the `Lockstep` library, so
        // that case-insensitive file systems keep them apart).
        .executableTarget(
            name: "LockstepCLI",
            dependencies: [
                "Lockstep", "LockstepBenchmarks", "MPI", "NeuralNet", "Datasets", "Checkpoints",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]),

        // Multi-process MPI tests: run under `mpirun -np N` by scripts/test.sh.
        .executableTarget(
            name: "MPITestRunner", dependencies: ["MPI", "Lockstep", "NeuralNet", "Datasets"],
            path: "Tests/MPITestRunner"),
        .testTarget(name: "MPITests", dependencies: ["MPI"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Datasets"]),
        .testTarget(name: "LockstepTests", dependencies: ["Lockstep", "NeuralNet", "Datasets", "Checkpoints"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
