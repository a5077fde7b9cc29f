import CKernels
import Foundation
import Synchronization

/// A team of persistent threads, started once and woken for each parallel region: what a kernel
/// context runs its threads on, so that a call costs a wake-up (microseconds), not a thread start.
///
/// `run(count, body)` calls body(0) on the calling thread and body(1..<count) on workers 1…, and
/// returns when all are done. Workers spin briefly on the next job (calls come in quick
/// succession in a training step), then sleep on a condition variable, so an idle pool costs
/// nothing. One region at a time: `run` is not reentrant, and concurrent callers are serialised
/// by the pool's owner (a kernel context). The workers stop when the pool is released.
public final class WorkerPool: @unchecked Sendable {
  /// Participants in a region: the caller and `size - 1` workers.
  public let size: Int
  private let shared: Shared

  /// - Parameters:
  ///   - size: participants, at least 1 (1 starts no thread).
  ///   - pin: called first on each worker with its index (1..<size), to bind it to a core.
  public init(size: Int, pin: @escaping @Sendable (Int) -> Void = { _ in }) {
    precondition(size >= 1, "a pool has at least its caller")
    self.size = size
    shared = Shared(size: size)
    for index in 1..<size {
      shared.exited.enter()
      let shared = self.shared
      let thread = Thread {
        pin(index)
        shared.work(index)
        shared.exited.leave()
      }
      thread.stackSize = 8 << 20
      thread.start()
    }
  }

  deinit {
    shared.stop()
  }

  /// Runs body(i) for i in 0..<count (count ≤ size), body(0) on the calling thread.
  public func run(_ count: Int, _ body: (Int) -> Void) {
    precondition(count >= 1 && count <= size, "a region of \(count) on a pool of \(size)")
    if count == 1 {
      body(0)
      return
    }
    withoutActuallyEscaping(body) { shared.run(count, $0) }
  }

  /// What the workers and the caller share. Workers hold it, not the pool, so that releasing the
  /// pool stops them.
  final class Shared: @unchecked Sendable {
    let size: Int
    let exited = DispatchGroup()
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var stopping = false
    private var job: ((Int) -> Void)?
    private var jobCount = 0

    /// Spins before a worker (or the waiting caller) goes to sleep: some tens of microseconds.
    static let spinLimit = 4000

    init(size: Int) {
      self.size = size
      pthread_mutex_init(mutex, nil)
      pthread_cond_init(wake, nil)
      pthread_cond_init(done, nil)
    }

    deinit {
      pthread_cond_destroy(wake)
      pthread_cond_destroy(done)
      pthread_mutex_destroy(mutex)
      wake.deallocate()
      done.deallocate()
      mutex.deallocate()
    }

    func stop() {
      pthread_mutex_lock(mutex)
      stopping = true
      pthread_cond_broadcast(wake)
      pthread_mutex_unlock(mutex)
      exited.wait()
    }

    func run(_ count: Int, _ body: @escaping (Int) -> Void) {
      pthread_mutex_lock(mutex)
      job = body
      jobCount = count
      remaining.store(size - 1, ordering: .relaxed)
      generation.add(1, ordering: .releasing)
      pthread_cond_broadcast(wake)
      pthread_mutex_unlock(mutex)
      body(0)
      var spins = 0
      while remaining.load(ordering: .acquiring) != 0 && spins < Self.spinLimit {
        spins += 1
        ck_pause()
      }
      pthread_mutex_lock(mutex)
      while remaining.load(ordering: .acquiring) != 0 { pthread_cond_wait(done, mutex) }
      job = nil
      pthread_mutex_unlock(mutex)
    }

    func work(_ index: Int) {
      var seen = 0
      while true {
        var spins = 0
        while generation.load(ordering: .acquiring) == seen && spins < Self.spinLimit {
          spins += 1
          ck_pause()
        }
        pthread_mutex_lock(mutex)
        while generation.load(ordering: .acquiring) == seen && !stopping { pthread_cond_wait(wake, mutex) }
        if stopping {
          pthread_mutex_unlock(mutex)
          return
        }
        seen = generation.load(ordering: .acquiring)
        do {
          // The job's closure must be released before the caller learns that this worker is
          // done: the caller's closure is not allowed to outlive its call.
          let (body, count) = (job, jobCount)
          pthread_mutex_unlock(mutex)
          if index < count, let body { body(index) }
        }
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
          pthread_mutex_lock(mutex)
          pthread_cond_signal(done)
          pthread_mutex_unlock(mutex)
        }
      }
    }
  }
}
