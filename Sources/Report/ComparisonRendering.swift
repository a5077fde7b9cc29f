import Foundation

/// The table of a comparison as rows of cells, shared by the text, Markdown and HTML renderings.
extension Comparison {
  public enum Format: String, CaseIterable, Sendable { case text, markdown, json, html }

  public func render(_ format: Format) throws -> String {
    switch format {
    case .text: return textTable()
    case .markdown: return markdownTable()
    case .json:
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      return String(decoding: try encoder.encode(self), as: UTF8.self)
    case .html: return HTMLPage.comparison(self)
    }
  }

  /// Header and rows: facts, then figures (with ratio or "absent"), each cell a string.
  func rows() -> (header: [String], rows: [[String]]) {
    var header = ["", ]
    for profile in profiles {
      header.append(profile.label)
      if ratios[profile.label] != nil { header.append("ratio") }
    }
    var rows: [[String]] = []
    for fact in ProfileSummary.factOrder {
      var row = [fact]
      for profile in profiles {
        row.append(profile.facts[fact] ?? "absent")
        if ratios[profile.label] != nil { row.append("") }
      }
      rows.append(row)
    }
    for name in figureNames {
      var row = [name]
      for profile in profiles {
        if let figure = profile.figure(name) {
          var cell = String(format: "%.1f %@", figure.value, figure.unit)
          if let percent = figure.percentOfPeak { cell += percent > 100 ? " (above its peak)" : String(format: " (%.0f%% peak)", percent) }
          if profile.suspicions != nil { cell += " (suspect)" }
          row.append(cell)
        } else {
          row.append("absent")
        }
        if let ratio = ratios[profile.label] { row.append(ratio[name].map { String(format: "%.2fx", $0) } ?? "-") }
      }
      rows.append(row)
    }
    var sectionRow = ["sections"]
    for profile in profiles {
      sectionRow.append(profile.sections.joined(separator: ", "))
      if ratios[profile.label] != nil { sectionRow.append("") }
    }
    rows.append(sectionRow)
    return (header, rows)
  }

  var findings: [String] {
    var lines: [String] = []
    if suspects.isEmpty {
      lines.append("No suspect node: no peer is more than \(Int(threshold * 100))% worse than its peers' median on any figure.")
    }
    for suspect in suspects {
      let list = suspect.deviations.map { String(format: "%@ %.1f vs peers' median %.1f (%.0f%% worse)", $0.figure, $0.value, $0.peerMedian, $0.shortfall * 100) }
      lines.append("SUSPECT NODE \(suspect.hostname) (fingerprint \(suspect.fingerprint)): " + list.joined(separator: "; "))
    }
    for suspect in suspectProfiles {
      lines.append("SUSPECT FIGURES in \(suspect.label) (left out of the peer comparison): " + suspect.reasons.joined(separator: "; "))
    }
    lines += libraryDifferences
    for spread in spreads {
      let worst = spread.items.sorted { $0.relativeSpread > $1.relativeSpread }.prefix(5)
      lines.append("\(spread.hostname): \(spread.runs) runs; run-to-run spread (noise): " + worst.map { String(format: "%@ %.1f%%", $0.figure, $0.relativeSpread * 100) }.joined(separator: ", "))
    }
    return lines
  }

  /// Where a machine's GEMM tuner picked another library than the first profile's for the same
  /// entry (precision, shape, transposes).
  var libraryDifferences: [String] {
    guard let first = profiles.first, let base = first.gemmPicks else { return [] }
    var lines: [String] = []
    for profile in profiles.dropFirst() {
      guard let picks = profile.gemmPicks else { continue }
      let shared = base.keys.filter { picks[$0] != nil }.sorted()
      let differing = shared.filter { base[$0] != picks[$0] }
      guard !differing.isEmpty else { continue }
      let listed = differing.prefix(6).map { "\($0): \(base[$0]!) → \(picks[$0]!)" }.joined(separator: "; ")
      lines.append(
        "GEMM libraries differ: \(profile.label) picks another library than \(first.label) for \(differing.count) of \(shared.count) shared entries: "
          + listed + (differing.count > 6 ? "; …" : ""))
    }
    return lines
  }

  func textTable() -> String {
    let (header, rows) = self.rows()
    let all = [header] + rows
    let widths = (0..<header.count).map { column in min(60, all.map { $0[column].count }.max() ?? 0) }
    func line(_ cells: [String]) -> String {
      zip(cells, widths).map { cell, width in
        let text = cell.count > width ? String(cell.prefix(width - 1)) + "…" : cell
        return text + String(repeating: " ", count: width - text.count)
      }.joined(separator: "  ")
    }
    return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line) + [""] + findings).joined(separator: "\n")
  }

  func markdownTable() -> String {
    let (header, rows) = self.rows()
    func escape(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }
    var lines = ["| " + header.map(escape).joined(separator: " | ") + " |", "|" + String(repeating: "---|", count: header.count)]
    lines += rows.map { "| " + $0.map(escape).joined(separator: " | ") + " |" }
    lines.append("")
    lines += findings.map { "- " + $0 }
    return lines.joined(separator: "\n")
  }
}
