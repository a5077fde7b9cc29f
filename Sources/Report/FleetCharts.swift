import Foundation
import Profile

extension ReportCharts {
  /// The fleet's link matrix as a heat map: one cell per pair of nodes, its shade the pair's
  /// point-to-point bandwidth against the fastest link (darker is faster), its text the GB/s and
  /// latency; the slow rows and columns stand out.
  static func fleetLinks(_ profile: Profile) -> String? {
    guard let fleet = profile.fleet, !fleet.links.isEmpty else { return nil }
    let names = fleet.nodes.map(\.name)
    let fastest = fleet.links.map(\.gbPerSecond).max() ?? 1
    let cell = 64.0, left = 80.0, top = 44.0
    let width = left + cell * Double(names.count) + 16, height = top + cell * Double(names.count) + 36
    var parts = [
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\">",
      "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#fff\"/>",
      "<text x=\"\(SVGChart.f(width / 2))\" y=\"16\" font-size=\"13\" text-anchor=\"middle\" font-weight=\"bold\">Links between nodes (GB/s, µs)</text>",
    ]
    for (index, name) in names.enumerated() {
      let centre = left + cell * (Double(index) + 0.5)
      parts.append("<text x=\"\(SVGChart.f(centre))\" y=\"\(SVGChart.f(top - 6))\" font-size=\"10\" text-anchor=\"middle\">\(SVGChart.escape(name))</text>")
      parts.append("<text x=\"\(SVGChart.f(left - 6))\" y=\"\(SVGChart.f(top + cell * (Double(index) + 0.5) + 3))\" font-size=\"10\" text-anchor=\"end\">\(SVGChart.escape(name))</text>")
    }
    for (row, from) in names.enumerated() {
      for (column, to) in names.enumerated() {
        let x = left + cell * Double(column), y = top + cell * Double(row)
        guard let link = fleet.links.first(where: { ($0.from == from && $0.to == to) || ($0.from == to && $0.to == from) }) else {
          parts.append("<rect x=\"\(SVGChart.f(x))\" y=\"\(SVGChart.f(y))\" width=\"\(SVGChart.f(cell - 2))\" height=\"\(SVGChart.f(cell - 2))\" fill=\"#f4f4f4\"/>")
          continue
        }
        let share = max(0, min(1, link.gbPerSecond / fastest))
        let shade = Int(235 - 175 * share)
        let colour = String(format: "#%02x%02x%02x", shade, shade, 255)
        let label = String(format: "%@ – %@: %.3g GB/s, %.0f µs", from, to, link.gbPerSecond, link.latencyMicroseconds)
        parts.append("<rect x=\"\(SVGChart.f(x))\" y=\"\(SVGChart.f(y))\" width=\"\(SVGChart.f(cell - 2))\" height=\"\(SVGChart.f(cell - 2))\" fill=\"\(colour)\"><title>\(SVGChart.escape(label))</title></rect>")
        parts.append("<text x=\"\(SVGChart.f(x + cell / 2 - 1))\" y=\"\(SVGChart.f(y + cell / 2 - 4))\" font-size=\"10\" text-anchor=\"middle\" fill=\"\(share > 0.6 ? "#fff" : "#000")\">\(String(format: "%.3g", link.gbPerSecond))</text>")
        parts.append("<text x=\"\(SVGChart.f(x + cell / 2 - 1))\" y=\"\(SVGChart.f(y + cell / 2 + 9))\" font-size=\"9\" text-anchor=\"middle\" fill=\"\(share > 0.6 ? "#fff" : "#000")\">\(String(format: "%.0f µs", link.latencyMicroseconds))</text>")
      }
    }
    let stragglers = fleet.stragglers.map(\.node)
    parts.append("<text x=\"\(SVGChart.f(left))\" y=\"\(SVGChart.f(height - 12))\" font-size=\"10\">"
      + SVGChart.escape(stragglers.isEmpty ? "no straggler" : "stragglers: " + Array(Set(stragglers)).sorted().joined(separator: ", ")) + "</text>")
    parts.append("</svg>")
    return parts.joined(separator: "\n")
  }

  /// Bus bandwidth against message size, one line per collective, across the nodes (log-log).
  static func fleetBandwidth(_ profile: Profile) -> String? {
    guard let fleet = profile.fleet else { return nil }
    let measured = fleet.collectives.filter { $0.scope == .acrossNodes && $0.busGBPerSecond > 0 }
    guard let smallest = measured.map(\.bytes).min(), let largest = measured.map(\.bytes).max(), largest > smallest,
      let low = measured.map(\.busGBPerSecond).min(), let high = measured.map(\.busGBPerSecond).max()
    else { return nil }
    var chart = SVGChart(
      title: "Collectives across \(fleet.nodes.count) nodes", xLabel: "message size (bytes)", yLabel: "busbw (GB/s)", xScale: .log, yScale: .log,
      xRange: Double(smallest) / 2...Double(largest) * 2, yRange: low / 2...high * 2)
    let colours: [CollectiveMeasurement.Operation: String] = [.allReduce: "#1f77b4", .reduceScatter: "#ff7f0e", .allGather: "#2ca02c", .broadcast: "#d62728"]
    for (index, operation) in CollectiveMeasurement.Operation.allCases.enumerated() {
      let points = measured.filter { $0.operation == operation }.sorted { $0.bytes < $1.bytes }
      guard !points.isEmpty else { continue }
      chart.line(points.map { (Double($0.bytes), $0.busGBPerSecond) }, color: colours[operation]!)
      for point in points {
        chart.point(Double(point.bytes), point.busGBPerSecond, color: colours[operation]!, label: "\(operation.rawValue) \(point.bytes) B: \(String(format: "%.3g", point.busGBPerSecond)) GB/s", radius: 2.5)
      }
      chart.text(Double(smallest), high * pow(0.6, Double(index)), operation.rawValue, color: colours[operation]!, size: 9)
    }
    return chart.svg()
  }
}
