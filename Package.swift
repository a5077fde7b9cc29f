// swift-tools-version: 6.1
import PackageDescription

/// Speed-critical Swift code is compiled for the CPU it runs on (each node builds its own), as
/// SIMD conversions and kernels need the host's vector ISA (F16C, AVX2, AVX-512). Set
/// SCALETUNE_TARGET_CPU (e.g. x86-64-v3) to build a binary for another machine.
let targetCPU = Context.environment["SCALETUNE_TARGET_CPU"] ?? "native"
let hostCPUFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", targetCPU])]

/// Kernels are compiled for speed without bounds checks in release builds; everything else keeps
/// Swift's checks. The C target compiles each ISA-specific function with its own `target`
/// attribute, so one binary runs on any x86-64 and picks at run time what the CPU can do.
let package = Package(
  name: "ScaleTune",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "tune", targets: ["tune"]),
    .executable(name: "train", targets: ["train"]),
    .library(name: "ScaleTuneProbe", targets: ["Probe"]),
    .library(name: "ScaleTuneProfile", targets: ["Profile"]),
    .library(name: "ScaleTuneNumberFormats", targets: ["NumberFormats"]),
    .library(name: "ScaleTuneTuning", targets: ["Tuning", "Kernels", "Platform", "Profile", "NumberFormats"]),
    .library(name: "ScaleTuneTrainer", targets: ["Trainer", "Kernels", "Platform", "Profile", "NumberFormats"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
  ],
  targets: [
    .systemLibrary(
      name: "CHwloc",
      pkgConfig: "hwloc",
      providers: [.apt(["libhwloc-dev"])]
    ),
    // Open MPI (Debian's libopenmpi-dev): ranks as processes across nodes.
    .systemLibrary(
      name: "CMPI",
      pkgConfig: "ompi-c",
      providers: [.apt(["libopenmpi-dev"])]
    ),
    .systemLibrary(
      name: "COpenBLAS",
      pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]
    ),
    // BLIS and oneDNN, opened at run time (see Sources/CLibraries/include/CLibraries.h).
    .target(
      name: "CLibraries",
      cSettings: [.unsafeFlags(["-O2"])],
      linkerSettings: [.linkedLibrary("dl")]
    ),
    .target(
      name: "CKernels",
      cSettings: [.unsafeFlags(["-O2", "-fno-strict-aliasing"])]
    ),
    .target(
      name: "Platform",
      dependencies: ["CHwloc", "CKernels"]
    ),
    .target(name: "Profile", dependencies: ["Autotune", "NumberFormats", "Platform"], resources: [.copy("Resources/profile.schema.json")]),
    .target(name: "NumberFormats", swiftSettings: hostCPUFlags),
    .target(
      name: "Probe",
      dependencies: ["Platform", "Profile", "COpenBLAS", "CKernels", "CLibraries", "Kernels"]
    ),
    .target(
      name: "Kernels",
      dependencies: ["Platform", "NumberFormats", "Profile", "COpenBLAS", "CKernels", "CLibraries"],
      swiftSettings: hostCPUFlags + [.unsafeFlags(["-Ounchecked"])]
    ),
    .target(name: "Autotune", dependencies: ["Platform"]),
    .target(name: "Report", dependencies: ["Planner", "Profile", "Platform"]),
    // The trainer's elementwise layers are optimised in debug builds too, so that tests train at speed.
    .target(
      name: "Trainer", dependencies: ["CMPI", "Kernels", "NumberFormats", "Platform", "Profile"],
      swiftSettings: hostCPUFlags + [.unsafeFlags(["-O"])]),
    .target(name: "Bench", dependencies: ["NumberFormats", "Platform", "Profile"]),
    .target(name: "Tuning", dependencies: ["Autotune", "Kernels", "NumberFormats", "Platform", "Profile", "COpenBLAS"]),
    .executableTarget(
      name: "tune",
      dependencies: [
        "Probe", "Profile", "Bench", "NumberFormats", "Tuning", "Kernels", "Platform", "Autotune", "Report", "ParallelTune", "Planner", "Trainer",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    // `tune plan`: layouts for GPU clusters, by arithmetic alone; the node tuner's cost model too.
    .target(name: "Planner", dependencies: ["NumberFormats", "Profile"]),
    .target(name: "ParallelTune", dependencies: ["Autotune", "Trainer", "Kernels", "NumberFormats", "Planner", "Platform", "Profile"]),
    .executableTarget(
      name: "train",
      dependencies: [
        "Trainer", "Probe", "Profile", "Kernels", "Platform",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .testTarget(name: "ParallelTuneTests", dependencies: ["ParallelTune", "Planner", "Trainer", "Autotune", "Profile", "Platform"]),
    .testTarget(name: "PlannerTests", dependencies: ["Planner", "Profile"], resources: [.copy("Fixtures")]),
    .testTarget(name: "TrainerTests", dependencies: ["Trainer", "Kernels", "Profile", "Platform", "NumberFormats"]),
    .testTarget(name: "ProfileTests", dependencies: ["Profile", "Platform", "NumberFormats", "Autotune"]),
    .testTarget(name: "NumberFormatsTests", dependencies: ["NumberFormats"]),
    .testTarget(name: "AutotuneTests", dependencies: ["Autotune", "Platform"], resources: [.copy("Fixtures")]),
    .testTarget(name: "ReportTests", dependencies: ["Report", "Planner", "Profile", "Platform", "NumberFormats"]),
    .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Tuning", "Autotune", "NumberFormats", "Platform"], resources: [.copy("Fixtures")]),
    .testTarget(name: "ProbeTests", dependencies: ["Probe", "Platform", "Profile", "Report", "CKernels"]),
    // Runs the built `tune` binary as a person would: exit codes, messages, files left behind.
    .testTarget(name: "CLITests", dependencies: ["tune", "train", "Profile", "Platform", "Tuning", "Trainer"]),
  ]
)
