import Foundation
import Probe

enum ResultsPath {
  /// results/<host>-<UTC time>.json under the current directory.
  static func `default`(hostname: String, date: Date) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyyMMdd-HHmmss"
    return "results/\(safe(hostname))-\(formatter.string(from: date)).json"
  }

  /// The newest profile of this host under results/, by the timestamp in its name.
  static func latest(hostname: String = MachineProbe.hostname()) -> String? {
    let prefix = safe(hostname) + "-"
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "results") else { return nil }
    return names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted().last.map { "results/\($0)" }
  }

  static func safe(_ hostname: String) -> String {
    String(hostname.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
  }

  /// The commit of the source tree the tool runs from, when it runs inside a git checkout.
  static func gitCommit() -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "rev-parse", "HEAD"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return text.isEmpty ? nil : text
  }
}
