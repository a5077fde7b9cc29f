/// Memory kept per thread index and reused across calls, carved into fp32 buffers. A kernel that
/// allocated its buffers on every call would pay the page faults (and the allocator's locks) each
/// time, and the threads a call starts never get the main thread's warm heap.
enum ThreadScratch {
  static let slots: [PackBuffers.Slot] = (0..<256).map { _ in PackBuffers.Slot() }

  /// Buffers of `counts[i]` floats each (64-byte aligned, contents undefined) for thread `thread`.
  static func withFloats<R>(thread: Int, counts: [Int], _ body: ([UnsafeMutablePointer<Float>]) -> R) -> R {
    let sizes = counts.map { (max(0, $0) * MemoryLayout<Float>.stride + 63) / 64 * 64 }
    let total = max(64, sizes.reduce(0, +))
    return slots[thread % slots.count].withMemory(bytes: total) { base in
      var offset = 0
      var buffers: [UnsafeMutablePointer<Float>] = []
      for size in sizes {
        buffers.append((base + offset).bindMemory(to: Float.self, capacity: size / MemoryLayout<Float>.stride))
        offset += size
      }
      return body(buffers)
    }
  }
}
