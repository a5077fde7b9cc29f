import Foundation

/// A process and every process below it, from /proc's parent links: what a launcher started.
public enum ProcessTree {
  /// `pid` and its descendants, parents first.
  public static func descendants(of pid: Int32) -> [Int32] {
    var children: [Int32: [Int32]] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
      guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
        let fields = stat.split(separator: ")").last?.split(separator: " "), fields.count > 1, let parent = Int32(fields[1])
      else { continue }
      children[parent, default: []].append(child)
    }
    var result = [pid], index = 0
    while index < result.count {
      result += children[result[index]] ?? []
      index += 1
    }
    return result
  }
}
