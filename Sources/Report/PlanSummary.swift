import Foundation
import Planner
import Profile

/// A cluster plan (`tune plan`) for a person: the best candidates with their predicted TFLOP/s
/// per device, MFU, memory per device and where the step's time goes, and what was pruned.
public enum PlanSummary {
  public static func text(_ plan: Plan, top: Int? = nil, seconds: Double? = nil) -> String {
    let c = plan.modelConfig
    let model = PlanModel(c, tiedEmbeddings: plan.tiedEmbeddings)
    var lines = [
      String(format: "%@ (%.1fB parameters, seq %d) on %d × %@ (%d nodes of %d), global batch %d", c.name, model.parameters / 1e9, c.seq, plan.devices,
        plan.device, plan.nodes, plan.devicesPerNode, plan.globalBatch),
      "\(plan.evaluated) layouts evaluated" + (seconds.map { String(format: " in %.2f s", $0) } ?? "") + "; \(plan.candidates.count) kept",
      "",
      "  #  " + pad("layout", 72) + "  prec   step s  TFLOP/s  MFU    GB/dev  where the step goes",
    ]
    for (index, candidate) in plan.candidates.prefix(top ?? plan.candidates.count).enumerated() {
      let p = candidate.predicted
      let parts = p.timeParts.named.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }.prefix(4)
        .map { String(format: "%@ %.0f%%", $0.0, 100 * $0.1 / p.stepSeconds) }.joined(separator: ", ")
      lines.append(String(format: "%3d  %@  %@ %7.3f  %7.1f  %4.1f%%  %6.1f  %@", index + 1, pad(candidate.layout.description, 72), pad(candidate.precision.rawValue, 5),
        p.stepSeconds, p.tflopsPerDevice, 100 * p.mfu, p.memoryBytesPerDevice / 1e9, parts))
    }
    if !plan.prunedCounts.isEmpty {
      lines.append("")
      lines.append("pruned: " + plan.prunedCounts.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: "; "))
      if let first = plan.pruned.first(where: { $0.predicted != nil }) {
        lines.append("  fastest over memory: \(first.layout) \(first.precision): \(first.reason)")
      }
      if plan.candidates.isEmpty {
        lines.append("  closest to fitting:")
        let closest = plan.pruned.filter { $0.predicted != nil }.sorted { $0.predicted!.memoryBytesPerDevice < $1.predicted!.memoryBytesPerDevice }
        for pruned in closest.prefix(5) { lines.append("  \(pruned.layout) \(pruned.precision): \(pruned.reason)") }
      }
    }
    return lines.joined(separator: "\n")
  }

  /// `text` padded with spaces to `width` characters (String(format:)'s %-Ns pads bytes, not characters).
  public static func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
  }
}

extension ReportCharts {
  /// The plan's candidates: predicted TFLOP/s per device against memory per device, the pick
  /// marked, the device's memory as a line, and the layouts pruned for memory beyond it (each
  /// point's title says its layout and, pruned, why).
  static func plan(_ plan: Plan) -> String? {
    let kept = plan.candidates.map { ($0.layout, $0.precision, $0.predicted, reason: String?.none) }
    let over = plan.pruned.compactMap { pruned in pruned.predicted.map { (pruned.layout, pruned.precision, $0, reason: Optional(pruned.reason)) } }
    let all = kept + over
    guard !all.isEmpty else { return nil }
    let capacity = Device.catalogue[plan.device]?.memoryBytes
    let memories = all.map { $0.2.memoryBytesPerDevice / 1e9 } + (capacity.map { [$0 / 1e9] } ?? [])
    let rates = all.map(\.2.tflopsPerDevice)
    guard let lowMemory = memories.min(), let highMemory = memories.max(), let lowRate = rates.min(), let highRate = rates.max() else { return nil }
    var chart = SVGChart(
      title: "\(plan.model) on \(plan.devices) × \(plan.device): candidates", xLabel: "memory per device (GB)", yLabel: "TFLOP/s per device",
      xScale: .linear, yScale: .linear, xRange: max(0, lowMemory * 0.9)...highMemory * 1.1 + 1, yRange: max(0, lowRate * 0.9)...highRate * 1.1 + 1)
    if let capacity {
      chart.line([(capacity / 1e9, max(0, lowRate * 0.9)), (capacity / 1e9, highRate * 1.1 + 1)], color: "#999", dashed: true)
      chart.text(capacity / 1e9, highRate * 1.05 + 1, "device memory", color: "#666", size: 9, anchor: "end")
    }
    for (layout, precision, predicted, reason) in over.map({ ($0.0, $0.1, $0.2, $0.reason) }) {
      chart.point(predicted.memoryBytesPerDevice / 1e9, predicted.tflopsPerDevice, color: "#bbbbbb",
        label: "\(layout) \(precision): pruned, \(reason ?? "")", radius: 3)
    }
    for (index, (layout, precision, predicted, _)) in kept.enumerated().reversed() {
      let label = String(format: "%@ %@: %.3f s per step, MFU %.1f%%", layout.description, precision.rawValue, predicted.stepSeconds, 100 * predicted.mfu)
      chart.point(predicted.memoryBytesPerDevice / 1e9, predicted.tflopsPerDevice, color: index == 0 ? "#d62728" : "#1f77b4", label: (index == 0 ? "the pick: " : "") + label,
        radius: index == 0 ? 6 : 3.5)
    }
    return chart.svg()
  }
}
