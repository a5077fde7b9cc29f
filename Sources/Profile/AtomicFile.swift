import Foundation

/// Writes a file whole or not at all: the data goes to a temporary file beside the target, which
/// is then renamed over it, so a crash or a kill never leaves half a file (profiles, checkpoints,
/// exports all write this way).
public enum AtomicFile {
  public struct Failure: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
  }

  /// - Throws: `Failure` with the system's reason; the temporary file is removed.
  public static func write(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    do {
      try data.write(to: temporary)
    } catch {
      try? FileManager.default.removeItem(at: temporary)
      throw Failure(reason: error.localizedDescription)
    }
    if rename(temporary.path, url.path) != 0 {
      let reason = String(cString: strerror(errno))
      try? FileManager.default.removeItem(at: temporary)
      throw Failure(reason: reason)
    }
  }
}
