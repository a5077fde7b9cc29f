import Foundation
import Profile

/// The readable summary `tune attention` prints.
public enum AttentionSummary {
  public static func text(_ section: AttentionSection) -> String {
    var lines = [String(format: "Attention tuning: %.0f s of a %.0f s budget", section.tuningSeconds, section.budgetSeconds)]
    for rate in section.gemmRates ?? [GEMMRate(precision: .fp32, gflops: section.gemmGflops, source: section.gemmSource)] {
      lines.append(String(format: "  %@ GEMM reference %.1f GFLOP/s (%@)", rate.precision.rawValue, rate.gflops, rate.source))
    }
    func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count + 1), withPad: " ", startingAt: 0) }
    lines.append(
      pad("problem", 27) + pad("precision", 10) + pad("winner", 22) + pad("forward GFLOP/s", 22) + pad("% of GEMM", 11) + pad("backward GFLOP/s", 18)
        + pad("error", 9) + "vs unquantised")
    for entry in section.entries {
      let name = pad(entry.shape, 27) + pad(entry.precision.rawValue, 10)
      guard let w = entry.winner, let f = w.forwardGflops else {
        lines.append(name + "no candidate passed (\(entry.candidates.map(\.status.rawValue).joined(separator: ",")))")
        continue
      }
      let kernel = w.parameters["kernel"].map { "," + ($0.split(separator: "-").last.map(String.init) ?? $0) } ?? ""
      let split = w.parameters["split"].flatMap { $0 == "1" ? nil : ",split=\($0)" } ?? ""
      let params = w.backend == .flash ? "flash[br=\(w.parameters["br"] ?? "?"),bc=\(w.parameters["bc"] ?? "?")\(kernel)\(split)]" : "gemm"
      // The backward runs on flash: the winner's, or the best flash candidate's when gemm won.
      let flash = w.backend == .flash ? w : entry.candidates.first { $0.backend == .flash && $0.backwardGflops != nil }
      lines.append(
        name + pad(params, 22) + pad(String(format: "%.1f [%.1f-%.1f]", f.median, f.min, f.max), 22)
          + pad(w.percentOfGEMM.map { String(format: "%.0f%%", $0) } ?? "-", 11)
          + pad(flash?.backwardGflops.map { String(format: "%.1f", $0.median) } ?? "-", 18)
          + pad(w.maxError.map { String(format: "%.1e", $0) } ?? "-", 9) + (w.precisionError.map { String(format: "%.1e", $0) } ?? "-"))
    }
    return lines.joined(separator: "\n")
  }
}
