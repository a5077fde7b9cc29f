import Foundation
import Profile

/// The pictures of `tune report`, one set per profile.
enum ReportCharts {
  static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"]
  static let statusColor = ["ok": "#2ca02c", "wrong": "#d62728", "failed": "#7f7f7f", "pruned": "#bbbbbb", "timeout": "#ff7f0e", "unstable": "#9467bd", "oom": "#8c564b"]

  static func color(_ precision: String) -> String {
    palette[(ProfileSummary.precisionRank.firstIndex(of: precision) ?? palette.count - 1) % palette.count]
  }

  /// Bytes per element of a GEMM operand stored in `precision` (scales amortised).
  static func bytes(_ precision: String) -> Double {
    switch precision {
    case "fp64": return 8
    case "fp32": return 4
    case "fp16", "bf16": return 2
    case "fp8-e4m3", "fp8-e5m2": return 1
    case "mxfp8-e4m3", "mxfp8-e5m2": return 8.25 / 8
    case "mxfp6-e2m3", "mxfp6-e3m2": return 6.25 / 8
    case "mxfp4": return 4.25 / 8
    case "nvfp4": return 4.5 / 8
    default: return 4
    }
  }

  /// FLOPs per byte moved at least once: 2MNK over A and B in their precision plus C in fp32.
  static func intensity(_ entry: GEMMEntry) -> Double {
    let e = bytes(entry.precision.rawValue)
    let moved = e * Double(entry.m * entry.k + entry.k * entry.n) + (entry.precision.rawValue == "fp64" ? 8 : 4) * Double(entry.m * entry.n)
    return 2 * Double(entry.m) * Double(entry.n) * Double(entry.k) / moved
  }

  static func roofline(_ profile: Profile) -> String? {
    guard let machine = profile.machine, !machine.peaks.isEmpty else { return nil }
    let peaks = machine.peaks.map { ($0.precision + " " + $0.isa, $0.allCoresBest) }
    let bandwidth = machine.memoryBandwidth?.triadGBPerSecond.median
    let points = profile.kernels?.gemm?.entries.compactMap { entry -> (GEMMEntry, Double)? in
      guard let g = entry.winner?.gflops?.median else { return nil }
      return (entry, g)
    } ?? []
    let top = max(peaks.map(\.1).max() ?? 1, points.map(\.1).max() ?? 1) * 2
    var chart = SVGChart(title: "Roofline: \(machine.hostname)", xLabel: "arithmetic intensity (FLOP/byte)", yLabel: "GFLOP/s",
                         xScale: .log, yScale: .log, xRange: 0.1...10_000, yRange: 1...max(10, top))
    for (index, peak) in peaks.enumerated() {
      let ridge = bandwidth.map { peak.1 / $0 } ?? 0.1
      chart.line([(max(0.1, ridge), peak.1), (10_000, peak.1)], color: palette[index % palette.count], width: 2)
      chart.text(10_000, peak.1 * 1.12, "\(peak.0) \(Int(peak.1))", color: palette[index % palette.count], size: 9, anchor: "end")
    }
    if let bandwidth {
      let top = peaks.map(\.1).max() ?? 1
      chart.line([(0.1, 0.1 * bandwidth), (top / bandwidth, top)], color: "#444", width: 2)
      chart.text(0.15, 0.15 * bandwidth * 1.6, String(format: "triad %.1f GB/s", bandwidth), size: 9)
    }
    for (entry, g) in points {
      chart.point(intensity(entry), g, color: color(entry.precision.rawValue), label: "\(entry.precision.rawValue) \(entry.shape): \(String(format: "%.1f", g)) GFLOP/s (\(entry.winner!.backend.rawValue))")
    }
    return chart.svg()
  }

  static func gemmByShape(_ profile: Profile) -> String? {
    guard let entries = profile.kernels?.gemm?.entries.filter({ $0.precision.rawValue == "fp32" && $0.winner?.gflops != nil }), !entries.isEmpty else { return nil }
    let sorted = entries.sorted { Double($0.m) * Double($0.n) * Double($0.k) < Double($1.m) * Double($1.n) * Double($1.k) }
    let top = (sorted.compactMap { $0.winner?.gflops?.max }.max() ?? 1) * 1.1
    var chart = SVGChart(title: "fp32 GEMM by shape (winner)", xLabel: "", yLabel: "GFLOP/s", xScale: .linear, yScale: .linear,
                         xRange: -0.6...(Double(sorted.count) - 0.4), yRange: 0...top)
    chart.categories = sorted.map(\.shape)
    for (index, entry) in sorted.enumerated() {
      let winner = entry.winner!
      chart.bar(at: Double(index), width: 0.7, value: winner.gflops!.median, color: libraryColors[winner.backend.rawValue]?.hex ?? "#000",
                label: "\(entry.shape): \(String(format: "%.1f", winner.gflops!.median)) GFLOP/s, \(winner.backend.rawValue)")
    }
    chart.text(Double(sorted.count) - 0.5, top * 0.97, legend(Array(Set(sorted.map { $0.winner!.backend.rawValue })).sorted()), size: 9, anchor: "end")
    return chart.svg()
  }

  /// Each GEMM backend's colour in the charts, and its name in the legend.
  static let libraryColors: [String: (hex: String, name: String)] = [
    "native": ("#1f77b4", "blue"), "openblas": ("#ff7f0e", "orange"), "blis": ("#2ca02c", "green"), "onednn": ("#d62728", "red"),
    "amx": ("#9467bd", "purple"),
  ]

  /// Each library's best verified rate per shape, side by side: where one library wins and by
  /// how much. One chart per precision.
  static func librariesByShape(_ profile: Profile, precision: String) -> String? {
    guard let entries = profile.kernels?.gemm?.entries.filter({ $0.precision.rawValue == precision && $0.winner != nil }), !entries.isEmpty else { return nil }
    let libraries = ["native", "openblas", "blis", "amx", "onednn"].filter { backend in
      entries.contains { $0.candidates.contains { $0.backend.rawValue == backend && $0.status == .ok } }
    }
    guard libraries.count > 1 else { return nil }
    let sorted = entries.sorted { Double($0.m) * Double($0.n) * Double($0.k) < Double($1.m) * Double($1.n) * Double($1.k) }
    let top = (sorted.flatMap { entry in libraries.compactMap { GEMMBackend(rawValue: $0).flatMap { entry.bestRate(of: $0) }?.max } }.max() ?? 1) * 1.15
    var chart = SVGChart(title: "\(precision) GEMM by library and shape (best verified rate of each)", xLabel: "", yLabel: "GFLOP/s",
                         xScale: .linear, yScale: .linear, xRange: -0.6...(Double(sorted.count) - 0.4), yRange: 0...top)
    chart.categories = sorted.map(\.label)
    let width = 0.8 / Double(libraries.count)
    for (index, entry) in sorted.enumerated() {
      for (slot, backend) in libraries.enumerated() {
        guard let g = GEMMBackend(rawValue: backend).flatMap({ entry.bestRate(of: $0) }) else { continue }
        let x = Double(index) - 0.4 + width * (Double(slot) + 0.5)
        let winner = entry.winner?.backend.rawValue == backend ? " (winner)" : ""
        chart.bar(at: x, width: width * 0.9, value: g.median, color: libraryColors[backend]?.hex ?? "#000",
                  label: "\(entry.shape) \(backend): \(String(format: "%.1f", g.median)) GFLOP/s\(winner)")
      }
    }
    chart.text(Double(sorted.count) - 0.5, top * 0.97, legend(libraries), size: 9, anchor: "end")
    return chart.svg()
  }

  static func legend(_ backends: [String]) -> String {
    backends.map { "\(libraryColors[$0]?.name ?? "black"): \($0)" }.joined(separator: ", ")
  }

  static func precisionBars(_ profile: Profile) -> String? {
    guard let gemm = profile.kernels?.gemm else { return nil }
    let shape = gemm.search?.shape ?? "2048x2048x2048"
    let entries = gemm.entries.filter { $0.shape == shape && $0.winner?.gflops != nil }
      .sorted { ProfileSummary.precisionOrder($0.precision.rawValue, $1.precision.rawValue) }
    guard !entries.isEmpty else { return nil }
    let top = (entries.compactMap { $0.winner?.gflops?.max }.max() ?? 1) * 1.1
    var chart = SVGChart(title: "GEMM \(shape) by precision", xLabel: "", yLabel: "GFLOP/s (conversions included)", xScale: .linear, yScale: .linear,
                         xRange: -0.6...(Double(entries.count) - 0.4), yRange: 0...top)
    chart.categories = entries.map(\.precision.rawValue)
    for (index, entry) in entries.enumerated() {
      let g = entry.winner!.gflops!
      chart.bar(at: Double(index), width: 0.7, value: g.median, color: color(entry.precision.rawValue), label: "\(entry.precision.rawValue): \(String(format: "%.1f [%.1f-%.1f]", g.median, g.min, g.max))")
    }
    return chart.svg()
  }

  static func accuracyVersusSpeed(_ profile: Profile) -> String? {
    guard let gemm = profile.kernels?.gemm else { return nil }
    let points = gemm.entries.compactMap { entry -> (String, Double, Double)? in
      guard let winner = entry.winner, let g = winner.gflops?.median, let error = winner.errorNormal else { return nil }
      return (entry.precision.rawValue, g, max(error, 1e-17))
    }
    guard !points.isEmpty else { return nil }
    let top = (points.map(\.1).max() ?? 1) * 1.15
    // An error of exactly zero (fp64 against the same dgemm) sits on the bottom edge.
    let floor = pow(10, floor(log10(points.map(\.2).filter { $0 > 1e-17 }.min() ?? 1e-10)) - 1)
    var chart = SVGChart(title: "Accuracy against speed", xLabel: "GFLOP/s", yLabel: "normwise error vs fp64 (log)", xScale: .linear, yScale: .log,
                         xRange: 0...top, yRange: floor...1)
    for (precision, g, rawError) in points {
      let error = max(rawError, floor)
      chart.point(g, error, color: color(precision), label: "\(precision): \(String(format: "%.1f", g)) GFLOP/s, error \(String(format: "%.2e", error))", radius: 5)
      chart.text(g, error * 2.2, precision, color: color(precision), size: 8, anchor: "middle")
    }
    return chart.svg()
  }

  static func attention(_ profile: Profile) -> String? {
    guard let section = profile.kernels?.attention else { return nil }
    let entries = section.entries.filter { $0.winner?.forwardGflops != nil && $0.precision.rawValue == "fp32" }
    guard !entries.isEmpty else { return nil }
    let top = max(section.gemmGflops, entries.compactMap { $0.winner?.forwardGflops?.max }.max() ?? 1) * 1.1
    var chart = SVGChart(title: "Attention forward, fp32 (the winning backend per problem)", xLabel: "", yLabel: "GFLOP/s", xScale: .linear, yScale: .linear,
                         xRange: -0.6...(Double(entries.count) - 0.4), yRange: 0...top)
    chart.categories = entries.map(\.shape)
    for (index, entry) in entries.enumerated() {
      let g = entry.winner!.forwardGflops!
      chart.bar(at: Double(index), width: 0.7, value: g.median, color: entry.causal ? "#9467bd" : "#17becf",
                label: "\(entry.shape): \(String(format: "%.1f", g.median)) GFLOP/s forward (\(entry.winner!.backend.rawValue))")
    }
    chart.line([(-0.6, section.gemmGflops), (Double(entries.count) - 0.4, section.gemmGflops)], color: "#d62728", dashed: true)
    chart.text(Double(entries.count) - 0.5, section.gemmGflops * 1.03, String(format: "fp32 GEMM %.0f", section.gemmGflops), color: "#d62728", size: 9, anchor: "end")
    return chart.svg()
  }

  static func candidates(_ profile: Profile) -> String? {
    guard let entry = profile.kernels?.gemm?.entries.max(by: { $0.candidates.count < $1.candidates.count }), entry.candidates.count > 1 else { return nil }
    let ordered = entry.candidates.sorted { ($0.gflops?.median ?? -1) > ($1.gflops?.median ?? -1) }
    let top = (ordered.compactMap { $0.gflops?.max }.max() ?? 1) * 1.1
    var chart = SVGChart(title: "Tuner's candidates: \(entry.precision.rawValue) \(entry.shape)", xLabel: "candidate (fastest first)", yLabel: "GFLOP/s",
                         xScale: .linear, yScale: .linear, xRange: -1...Double(ordered.count), yRange: 0...top)
    for (index, candidate) in ordered.enumerated() {
      let value = candidate.gflops?.median ?? top * 0.02
      let parameters = candidate.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
      chart.point(Double(index), value, color: statusColor[candidate.status.rawValue] ?? "#000",
                  label: "\(candidate.backend.rawValue)[\(parameters)] \(candidate.status.rawValue)\(candidate.reason.map { ": " + $0 } ?? "")", radius: 3.5)
    }
    var legendY = top * 0.95
    for status in ["ok", "wrong", "failed", "pruned", "timeout"] {
      let count = ordered.filter { $0.status.rawValue == status }.count
      guard count > 0 else { continue }
      chart.text(Double(ordered.count) * 0.98, legendY, "\(status): \(count)", color: statusColor[status]!, size: 10, anchor: "end")
      legendY -= top * 0.07
    }
    return chart.svg()
  }
}
