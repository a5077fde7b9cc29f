import Foundation
import Profile

/// The readable summary `tune gemm` prints.
public enum GEMMSummary {
  public static func text(_ section: GEMMSection) -> String {
    var lines: [String] = []
    lines.append(String(format: "GEMM tuning: %.0f s of a %.0f s budget, strategy %@", section.tuningSeconds, section.budgetSeconds, section.strategy as NSString))
    if let search = section.search {
      lines.append("search on \(search.shape) \(search.precision): \(search.evaluated) of \(search.spaceSize) configurations evaluated (\(search.fromJournal) from the journal)")
    }
    lines.append("environment for train: " + section.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    lines.append("shape               precision    winner                                   GFLOP/s [min-max]        %peak       err N(0,1)  err outliers  ok/all")
    for entry in section.entries {
      let okCount = entry.candidates.filter { $0.status == .ok }.count
      guard let winner = entry.winner, let g = winner.gflops else {
        if entry.candidates.allSatisfy({ $0.status == .timeout }) {
          lines.append("\(pad(entry.label, 19)) \(pad(entry.precision.rawValue, 12)) not measured: the budget ran out first (--budget)")
          continue
        }
        lines.append("\(pad(entry.label, 19)) \(pad(entry.precision.rawValue, 12)) no candidate passed (\(okCount)/\(entry.candidates.count))")
        continue
      }
      let name = winner.backend.rawValue + "[" + describe(winner.parameters) + "]"
      lines.append(
        "\(pad(entry.label, 19)) \(pad(entry.precision.rawValue, 12)) \(pad(name, 40)) "
          + pad(String(format: "%.1f [%.1f-%.1f]", g.median, g.min, g.max), 24) + " "
          + pad(PeakBounds.percentText(winner.percentOfPeak), 11)
          + pad(winner.errorNormal.map { String(format: "%.2e", $0) } ?? "-", 12)
          + pad(winner.errorOutliers.map { String(format: "%.2e", $0) } ?? "-", 14) + "\(okCount)/\(entry.candidates.count)")
    }
    return lines.joined(separator: "\n")
  }

  static func describe(_ parameters: [String: String]) -> String {
    let order = ["kernel", "mc", "kc", "nc", "loop", "threads", "core"]
    return order.compactMap { key in parameters[key].map { "\(key)=\($0)" } }.joined(separator: ",")
  }

  static func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
  }
}
