import Foundation

/// A hash of this executable: measurements journaled by another build of the kernels are stale.
public enum BuildIdentity {
  public static let current: String = {
    guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return "unknown" }
    return of(path)
  }()

  /// A hash of the executable at `path` (the `train` whose trials a journal keeps, say).
  public static func of(_ path: String) -> String {
    guard let data = FileManager.default.contents(atPath: path) else { return "unknown" }
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in data { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    return String(hash, radix: 16)
  }
}
