import Foundation
import Platform
import Profile

/// The parallel section as text: the pick, then every trial (fastest first) with its status,
/// tokens/s, predicted and measured step time and memory, and the pruned candidates with why.
public enum ParallelSummary {
  public static func text(_ section: ParallelSection) -> String {
    var lines: [String] = []
    lines.append("parallel: \(section.model.name), \(section.worldThreads) hardware threads, global batch \(section.globalBatch); "
      + String(format: "%.0f of %.0f s spent; all-reduce %.1f GB/s", section.spentSeconds, section.budgetSeconds, section.collectiveGBPerSecond)
      + (section.costCalibration.map { String(format: "; cost model scaled ×%.2f by the fp32 reference", $0) } ?? ""))
    if let pick = section.pick {
      lines.append(String(format: "pick: %@ %@, %d thread(s) per rank: %.0f tokens/s (%@)", pick.layout.description, pick.precision.rawValue, pick.threadsPerRank, pick.tokensPerSecond, pick.reason))
    } else {
      lines.append("pick: none (no trial was stable)")
    }
    let ran = section.trials.filter { $0.status != .pruned }.sorted { ($0.tokensPerSecond?.median ?? -1) > ($1.tokensPerSecond?.median ?? -1) }
    lines.append("trials (\(ran.count)):")
    lines.append("  status    tokens/s   MFU  step s (pred)   MiB/rank (pred)  candidate")
    for t in ran {
      let rate = t.tokensPerSecond.map { String(format: "%8.0f", $0.median) } ?? "       -"
      let mfu = t.mfu.map { String(format: "%4.0f%%", min($0, 1) * 100) } ?? "    -"
      let step = t.measuredStepSeconds.map { String(format: "%6.2f", $0) } ?? "     -"
      let predicted = t.predictedStepSeconds.map { String(format: "%6.2f", $0) } ?? "     -"
      let memory = t.measuredPeakBytes.map { String(format: "%6.0f", $0 / 1048576) } ?? "     -"
      lines.append("  \(t.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(rate) \(mfu)  \(step) (\(predicted))  \(memory) (\(String(format: "%6.0f", t.predictedPeakBytes / 1048576)))  \(t.name)"
        + (t.fromJournal == true ? " [journal]" : "") + (t.reason.map { " — \($0)" } ?? ""))
    }
    let pruned = section.trials.filter { $0.status == .pruned }
    var reasons: [String: Int] = [:]
    for t in pruned { reasons[Self.kind(t.reason ?? ""), default: 0] += 1 }
    lines.append("pruned (\(pruned.count)): " + reasons.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: "; "))
    if let errors = modelErrors(section) {
      lines.append(String(format: "models against the trials: memory worst %.0f%%, step time worst %.0f%% (median %.0f%%)", errors.memory * 100, errors.time * 100, errors.medianTime * 100))
    }
    return lines.joined(separator: "\n")
  }

  /// A pruning reason without its numbers, to count alike reasons together.
  static func kind(_ reason: String) -> String {
    if reason.hasPrefix("not tried") { return "not tried (ranked below the first trials by the cost model)" }
    if reason.hasPrefix("predicted") { return "above the memory limit" }
    return String(reason.prefix(60))
  }

  /// The worst relative errors of the memory model (against each trial's largest rank account)
  /// and of the cost model (against the measured step time), over the trials that ran to the end.
  public static func modelErrors(_ section: ParallelSection) -> (memory: Double, time: Double, medianTime: Double)? {
    let ran = section.trials.filter { $0.measuredPeakBytes != nil && $0.measuredStepSeconds != nil && $0.status != .failed }
    guard !ran.isEmpty else { return nil }
    let memory = ran.map { abs($0.predictedPeakBytes - $0.measuredPeakBytes!) / max(1, $0.measuredPeakBytes!) }
    let time = ran.compactMap { t in t.predictedStepSeconds.map { abs($0 - t.measuredStepSeconds!) / max(1e-9, t.measuredStepSeconds!) } }
    return (memory.max() ?? 0, time.max() ?? 0, Statistics(samples: time.isEmpty ? [0] : time).median)
  }
}

extension ReportCharts {
  /// The parallel trials: tokens/s by candidate (fastest first), coloured by status.
  static func parallel(_ profile: Profile) -> String? {
    guard let section = profile.parallel else { return nil }
    let ran = section.trials.filter { $0.status != .pruned }.sorted { ($0.tokensPerSecond?.median ?? -1) > ($1.tokensPerSecond?.median ?? -1) }
    guard !ran.isEmpty else { return nil }
    let top = (ran.compactMap { $0.tokensPerSecond?.max }.max() ?? 1) * 1.1
    var chart = SVGChart(title: "Parallel trials: \(section.model.name), tokens/s by layout", xLabel: "candidate (fastest first)", yLabel: "tokens/s",
                         xScale: .linear, yScale: .linear, xRange: -1...Double(ran.count), yRange: 0...top)
    for (index, trial) in ran.enumerated() {
      chart.point(Double(index), trial.tokensPerSecond?.median ?? top * 0.02, color: statusColor[trial.status.rawValue] ?? "#000",
                  label: "\(trial.name) \(trial.status.rawValue)\(trial.reason.map { ": " + $0 } ?? "")", radius: 4)
    }
    var legendY = top * 0.95
    for status in ParallelTrial.Status.allCases where status != .pruned {
      let count = ran.filter { $0.status == status }.count
      guard count > 0 else { continue }
      chart.text(Double(ran.count) * 0.98, legendY, "\(status.rawValue): \(count)", color: statusColor[status.rawValue] ?? "#000", size: 10, anchor: "end")
      legendY -= top * 0.07
    }
    return chart.svg()
  }
}
