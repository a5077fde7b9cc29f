import Foundation

/// Monotonic time in seconds, for measuring intervals.
public func monotonicSeconds() -> Double {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// CPU time the calling thread has run, in seconds: what a loop's rate is counted against when
/// other work shares its core (time the scheduler gave to others does not count).
public func threadCPUSeconds() -> Double {
  var now = timespec()
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
  return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// Runs one closure on several threads at once, each pinned to a hardware thread, all released
/// from one barrier so that their work overlaps. Results come back in thread order.
public enum ThreadTeam {
  /// - Parameters:
  ///   - pus: OS indices of the hardware threads to pin to, one thread each; empty pins nothing.
  ///   - threads: number of threads (when `pus` is empty).
  ///   - body: called with the thread's index in 0..<threads, after the start barrier.
  public static func run<T: Sendable>(
    threads: Int, pinnedTo pus: [Int] = [], topology: Topology? = nil,
    _ body: @escaping @Sendable (Int) -> T
  ) -> [T] {
    precondition(threads >= 1 && (pus.isEmpty || pus.count == threads), "one PU per thread")
    if threads == 1 && pus.isEmpty { return [body(0)] }
    let slots = Slots<T>(count: threads)
    let barrier = Barrier(count: threads)
    let done = DispatchGroup()
    for index in 0..<threads {
      done.enter()
      let thread = Thread {
        if let topology, !pus.isEmpty { topology.bindCurrentThread(toPU: pus[index]) }
        barrier.wait()
        slots.store(body(index), at: index)
        done.leave()
      }
      thread.stackSize = 8 << 20
      thread.start()
    }
    done.wait()
    return slots.values()
  }
}

/// One slot per thread; each thread writes only its own, and the values are read after all joined.
final class Slots<T>: @unchecked Sendable {
  private var storage: [T?]
  private let lock = NSLock()
  init(count: Int) { storage = Array(repeating: nil, count: count) }
  func store(_ value: T, at index: Int) { lock.withLock { storage[index] = value } }
  func values() -> [T] { lock.withLock { storage.map { $0! } } }
}

final class Barrier: @unchecked Sendable {
  private let pointer = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
  init(count: Int) { pthread_barrier_init(pointer, nil, UInt32(count)) }
  func wait() { pthread_barrier_wait(pointer) }
  deinit {
    pthread_barrier_destroy(pointer)
    pointer.deallocate()
  }
}
