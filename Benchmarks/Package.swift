// swift-tools-version: 6.1
import PackageDescription

// Benchmarks live in their own package so that building and testing ScaleTune never builds
// package-benchmark. Run them with `cd Benchmarks && swift package benchmark` (see README.md).
let package = Package(
  name: "ScaleTuneBenchmarks",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(name: "ScaleTune", path: ".."),
    // The ARC runtime interposer (a default trait) is not needed for throughput benchmarks.
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    benchmark("AttentionBenchmark", using: "ScaleTuneTuning"),
    benchmark("GEMMBenchmark", using: "ScaleTuneTuning"),
    benchmark("NumberFormatsBenchmark", using: "ScaleTuneNumberFormats"),
    benchmark("TrainerBenchmark", using: "ScaleTuneTrainer", "ScaleTuneProbe"),
  ]
)

/// A package-benchmark executable in Benchmarks/NAME using some of ScaleTune's library products.
func benchmark(_ name: String, using products: String...) -> Target {
  .executableTarget(
    name: name,
    dependencies: [.product(name: "Benchmark", package: "benchmark")] + products.map { .product(name: $0, package: "ScaleTune") },
    path: "Benchmarks/\(name)",
    plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
  )
}
