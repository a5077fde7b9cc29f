import Profile

/// A whole profile as text, as `tune report` prints it: the machine, then each section it has.
public enum ProfileText {
  public static func text(_ profile: Profile) -> String {
    var parts: [String] = []
    if let machine = profile.machine { parts.append(MachineSummary.text(machine)) }
    if let gemm = profile.kernels?.gemm { parts.append(GEMMSummary.text(gemm)) }
    if let attention = profile.kernels?.attention { parts.append(AttentionSummary.text(attention)) }
    if let parallel = profile.parallel { parts.append(ParallelSummary.text(parallel)) }
    if let fleet = profile.fleet { parts.append(FleetSummary.text(fleet)) }
    if parts.isEmpty { parts.append("(no machine or kernel sections)") }
    let excesses = PeakBounds.excesses(profile)
    if !excesses.isEmpty {
      parts.append((["PEAK CHECK FAILED: \(excesses.count) kernel rate\(excesses.count == 1 ? "" : "s") above the peak of every unit that can run them (the profile is shown as written):"]
        + excesses.prefix(10).map { "  " + $0.description } + (excesses.count > 10 ? ["  … and \(excesses.count - 10) more"] : [])).joined(separator: "\n"))
    }
    return parts.joined(separator: "\n\n")
  }
}
