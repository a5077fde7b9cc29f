import Foundation

/// Running this program again with settings that only take effect at load (`OPENBLAS_CORETYPE`
/// is read when OpenBLAS loads, before any BLAS call): how `train --profile` applies a profile's
/// environment.
public enum Reexecution {
  /// Marks the re-executed process, so that it never re-executes again.
  public static let marker = "SCALETUNE_REEXECUTED"

  /// The settings of `wanted` that `environment` lacks or holds otherwise; none in a process that
  /// is itself the re-execution.
  public static func missing(_ wanted: [String: String], in environment: [String: String]) -> [String: String] {
    guard environment[marker] == nil else { return [:] }
    return wanted.filter { environment[$0.key] != $0.value }
  }

  /// Runs this executable again with the same arguments and `wanted` set, and waits for it.
  /// - Returns: nil when nothing needed setting (go on in this process); else the child's exit
  ///   status, which this process should exit with.
  public static func withEnvironment(_ wanted: [String: String], note: (String) -> Void) throws -> Int32? {
    var environment = ProcessInfo.processInfo.environment
    let missing = missing(wanted, in: environment)
    guard !missing.isEmpty else { return nil }
    for (key, value) in missing { environment[key] = value }
    environment[marker] = "1"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    process.arguments = Array(CommandLine.arguments.dropFirst())
    process.environment = environment
    note("re-running with \(missing.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) from the profile")
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
  }
}
