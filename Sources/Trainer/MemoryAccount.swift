import Foundation

/// What a rank's memory holds, part by part: one vocabulary for the account (what was allocated)
/// and the plan (what will be: `TrainingOptions.rankMemoryPlans`).
public enum MemoryPart: String, CaseIterable, Sendable {
  case parameters, gradients
  case optimizerState = "optimizer state"
  case activations
  /// One layer's intermediates, rebuilt in the backward under recomputation.
  case recomputeBuffer = "recompute buffer"
  case workBuffers = "work buffers"
  /// The rounded copies of a GEMM's operands under a low-precision policy (the GEMM runner's).
  case roundingBuffers = "rounding buffers"
}

/// What one rank holds, counted where it is allocated (llm.c's way: memory counted, not
/// guessed): parameters, gradients, optimizer state, activations, work buffers. The peak is the
/// most held at once. Its allocations live as long as the account.
public final class MemoryAccount: @unchecked Sendable {
  private let lock = NSLock()
  public private(set) var bytes: [MemoryPart: Int] = [:]
  public private(set) var current = 0
  public private(set) var peak = 0
  private var blocks: [UnsafeMutableRawPointer] = []

  public init() {}

  deinit { for block in blocks { block.deallocate() } }

  /// Allocates `count` elements of T (zeroed, 64-byte aligned) and counts them under `part`.
  func allocate<T>(_ type: T.Type, count: Int, part: MemoryPart) -> UnsafeMutablePointer<T> {
    let size = max(1, count) * MemoryLayout<T>.stride
    let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    lock.lock()
    blocks.append(raw)
    lock.unlock()
    add(size, part: part)
    return raw.bindMemory(to: T.self, capacity: max(1, count))
  }

  /// Counts bytes held elsewhere (work buffers that grow on demand); negative to release.
  func add(_ size: Int, part: MemoryPart) {
    lock.lock()
    bytes[part, default: 0] += size
    current += size
    peak = max(peak, current)
    lock.unlock()
  }

  public var total: Int { current }
}

/// The process's resident set: now and its peak (VmRSS and VmHWM of /proc/self/status), in bytes.
public enum ProcessMemory {
  public static func resident() -> (current: Int, peak: Int) {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
      guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return 0 }
      let number = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
      return number * 1024
    }
    return (field("VmRSS"), field("VmHWM"))
  }
}
