import Foundation
import Platform
import Profile

/// A fleet profile in words: the nodes, bus bandwidth against message size for each collective
/// across the nodes and within them, the link matrix, and the stragglers.
public enum FleetSummary {
  public static func text(_ fleet: FleetSection) -> String {
    var lines = ["Fleet: \(fleet.nodes.count) nodes over \(fleet.transport)"]
    for node in fleet.nodes {
      let fp32 = node.machine.peaks.filter { $0.precision == "fp32" }.map(\.allCoresBest).max()
      let triad = node.machine.memoryBandwidth?.triadGBPerSecond.median
      lines.append(
        "  \(node.name) (rank \(node.rank)): \(node.machine.cpu.modelName), fingerprint \(node.machine.fingerprint)"
          + (fp32.map { String(format: ", fp32 peak %.1f GFLOP/s", $0) } ?? "") + (triad.map { String(format: ", triad %.1f GB/s", $0) } ?? ""))
    }
    for scope in [CollectiveMeasurement.Scope.acrossNodes, .withinNode] {
      let measured = fleet.collectives.filter { $0.scope == scope }
      guard !measured.isEmpty else { continue }
      lines.append("Collectives \(scope.rawValue) (busbw GB/s by message size\(scope == .withinNode ? ", median over the nodes" : "")):")
      let sizes = Array(Set(measured.map(\.bytes))).sorted()
      for operation in CollectiveMeasurement.Operation.allCases {
        var row = "  " + operation.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
        for bytes in sizes {
          let rates = measured.filter { $0.operation == operation && $0.bytes == bytes }.map(\.busGBPerSecond).sorted()
          guard !rates.isEmpty else { continue }
          row += String(format: " %@ %.3g", MemoryPlan.binary(bytes), rates[rates.count / 2])
        }
        lines.append(row)
      }
    }
    if !fleet.links.isEmpty {
      lines.append("Links (GB/s, one-way latency µs):")
      let names = fleet.nodes.map(\.name)
      lines.append("  " + "".padding(toLength: 10, withPad: " ", startingAt: 0) + names.map { $0.padding(toLength: 16, withPad: " ", startingAt: 0) }.joined())
      for from in names {
        var row = "  " + from.padding(toLength: 10, withPad: " ", startingAt: 0)
        for to in names {
          let link = fleet.links.first { ($0.from == from && $0.to == to) || ($0.from == to && $0.to == from) }
          row += (link.map { String(format: "%.3g / %.0f", $0.gbPerSecond, $0.latencyMicroseconds) } ?? "-").padding(toLength: 16, withPad: " ", startingAt: 0)
        }
        lines.append(row)
      }
    }
    if fleet.stragglers.isEmpty {
      lines.append(String(format: "No straggler (threshold %.0f%% below the fleet's median).", fleet.threshold * 100))
    } else {
      lines.append(String(format: "STRAGGLERS (more than %.0f%% below the fleet's median):", fleet.threshold * 100))
      for straggler in fleet.stragglers { lines.append("  \(straggler)") }
    }
    return lines.joined(separator: "\n")
  }
}
