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
    .executableTarget(
      name: "AttentionBenchmark",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "ScaleTuneTuning", package: "ScaleTune"),
      ],
      path: "Benchmarks/AttentionBenchmark",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    .executableTarget(
      name: "GEMMBenchmark",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "ScaleTuneTuning", package: "ScaleTune"),
      ],
      path: "Benchmarks/GEMMBenchmark",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    .executableTarget(
      name: "NumberFormatsBenchmark",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "ScaleTuneNumberFormats", package: "ScaleTune"),
      ],
      path: "Benchmarks/NumberFormatsBenchmark",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
  ]
)
