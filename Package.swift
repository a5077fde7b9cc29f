// swift-tools-version: 6.1
import PackageDescription

/// Kernels are compiled for speed without bounds checks in release builds; everything else keeps
/// Swift's checks. The C target compiles each ISA-specific function with its own `target`
/// attribute, so one binary runs on any x86-64 and picks at run time what the CPU can do.
let package = Package(
  name: "ScaleTune",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "tune", targets: ["tune"]),
    .library(name: "ScaleTuneProbe", targets: ["Probe"]),
    .library(name: "ScaleTuneProfile", targets: ["Profile"]),
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
    .systemLibrary(
      name: "COpenBLAS",
      pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]
    ),
    .target(
      name: "CKernels",
      cSettings: [.unsafeFlags(["-O2", "-fno-strict-aliasing"])]
    ),
    .target(
      name: "Platform",
      dependencies: ["CHwloc", "CKernels"]
    ),
    .target(name: "Profile", resources: [.copy("Resources/profile.schema.json")]),
    .target(
      name: "Probe",
      dependencies: ["Platform", "Profile", "COpenBLAS", "CKernels"]
    ),
    .executableTarget(
      name: "tune",
      dependencies: [
        "Probe", "Profile",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .testTarget(name: "ProfileTests", dependencies: ["Profile"]),
    .testTarget(name: "ProbeTests", dependencies: ["Probe", "Platform", "Profile", "CKernels"]),
    // Runs the built `tune` binary as a person would: exit codes, messages, files left behind.
    .testTarget(name: "CLITests", dependencies: ["tune", "Profile", "Platform"]),
  ]
)
