import CKernels
import Foundation
import Platform
import Profile

/// Where one rank's kernels run: its own persistent worker threads (started once, pinned by its
/// placement), its own packing buffers and scratch, kept and reused across calls. GEMM and
/// attention run in a context; two contexts share nothing, so ranks calling kernels side by side
/// never wait for each other inside one.
///
/// A context runs one call at a time (a second caller waits for the first). The thread that calls
/// it takes part as thread 0 (bound to the placement's first hardware thread for a call on several
/// threads, and given its own binding back after); workers 1… are bound to the next ones. A rank
/// that wants its own thread pinned for good binds it itself (`Topology.bindCurrentThread`).
public final class KernelContext: @unchecked Sendable {
  /// The most threads a call in this context can use.
  public let threads: Int
  public let placement: ThreadPlacement?
  private let pool: WorkerPool
  private let pus: [Int]
  private let packSlots: [MemorySlot]
  private let scratchSlots: [MemorySlot]
  private let sharedSlot = MemorySlot()
  private let librarySlot = MemorySlot()
  private let lock = NSLock()
  private let sharedLock = NSLock()
  /// Per worker thread: whether its AMX tiles are configured (they stay so for its life). Raw
  /// memory, one flag per thread, each written only by its own thread (an array property written
  /// from several threads at once would be a data race).
  private let tilesConfigured: UnsafeMutablePointer<Bool>

  /// - Parameters:
  ///   - threads: at least 1; `threads - 1` workers are started now.
  ///   - placement: hardware threads to bind to, cycled when there are more threads; nil binds nothing.
  public init(threads: Int = 1, placement: ThreadPlacement? = nil) {
    precondition(threads >= 1, "a kernel context has at least one thread")
    self.threads = threads
    self.placement = placement
    let pus = placement?.pus(for: threads) ?? []
    self.pus = pus
    let topology = placement?.topology
    pool = WorkerPool(size: threads) { index in
      if let topology, !pus.isEmpty { _ = topology.bindCurrentThread(toPU: pus[index]) }
    }
    packSlots = (0..<threads).map { _ in MemorySlot() }
    scratchSlots = (0..<threads).map { _ in MemorySlot() }
    tilesConfigured = UnsafeMutablePointer<Bool>.allocate(capacity: threads)
    tilesConfigured.initialize(repeating: false, count: threads)
  }

  deinit { tilesConfigured.deallocate() }

  /// Runs `body` on thread `thread` of a call with this thread's AMX tiles configured. The
  /// context's own workers configure theirs once and keep them; the calling thread (thread 0,
  /// which belongs to the caller and may be another on the next call) configures and releases
  /// them around `body`. Only inside `parallel`.
  func withTiles(thread: Int, _ body: () -> Void) {
    if thread == 0 {
      ck_amx_begin()
      defer { ck_amx_end() }
      body()
      return
    }
    if !tilesConfigured[thread] {
      ck_amx_begin()
      tilesConfigured[thread] = true
    }
    body()
  }

  /// Throws unless a call asking for `requested` threads fits in this context.
  func check(threads requested: Int, for kernel: String) throws {
    guard requested >= 1 else { throw KernelError.invalidParameters("\(kernel): threads must be at least 1 (got \(requested))") }
    guard requested <= threads else {
      throw KernelError.invalidParameters("\(kernel) asks for \(requested) threads; its kernel context has \(threads) (make the context with at least \(requested))")
    }
  }

  /// Runs body(thread) for thread in 0..<count (count ≤ threads) on this context's threads, one
  /// call at a time. With several threads and a placement, the calling thread (thread 0) is bound
  /// to the placement's first hardware thread for the call and given its own binding back after.
  public func parallel(_ count: Int, _ body: (Int) -> Void) {
    lock.lock()
    defer { lock.unlock() }
    let count = max(1, min(count, threads))
    if count > 1, let topology = placement?.topology, let first = pus.first {
      topology.withCurrentThreadBound(toPU: first) { pool.run(count, body) }
    } else {
      pool.run(count, body)
    }
  }

  /// Runs a library's call (BLIS, oneDNN) on `threads` of this context's hardware threads, one call
  /// at a time. Such a library starts its own OpenMP threads, once, from the thread that calls it,
  /// and they inherit that thread's binding: the caller is bound to this context's first
  /// `threads` hardware threads (all of them, not one) for the call, so that two ranks calling
  /// side by side each keep their team on their own cores, and given its own binding back after.
  func library(threads: Int, _ body: () -> Void) {
    library(threads: threads, scratchBytes: 0) { _ in body() }
  }

  /// `library` with `scratchBytes` of this context's library scratch (page-aligned, contents
  /// undefined, kept and grown across calls): one buffer per context for every plan's operand
  /// copies (oneDNN's bf16 conversions), sized by the largest call, not one per shape.
  func library(threads: Int, scratchBytes: Int, _ body: (UnsafeMutableRawPointer) -> Void) {
    lock.lock()
    defer { lock.unlock() }
    let scratch = librarySlot.memory(bytes: max(64, scratchBytes))
    if let topology = placement?.topology, !pus.isEmpty {
      topology.withCurrentThreadBound(toPUs: Array(pus.prefix(max(1, threads)))) { body(scratch) }
    } else {
      body(scratch)
    }
  }

  /// Bytes of the library scratch (a rank's memory account adds them).
  public var libraryScratchBytes: Int {
    lock.lock()
    defer { lock.unlock() }
    return librarySlot.bytes
  }

  /// Buffers of `counts[i]` floats each (64-byte aligned, contents undefined) for `thread`,
  /// reused across calls. Only inside `parallel`. Always inlined: the kernels' bodies run inside
  /// `body`, and a body left as a closure of its own was seen to lose its optimisations (the flash
  /// forward at a third of its speed).
  @inline(__always)
  func withFloats<R>(thread: Int, counts: [Int], _ body: ([UnsafeMutablePointer<Float>]) -> R) -> R {
    let sizes = counts.map { (max(0, $0) * MemoryLayout<Float>.stride + 63) / 64 * 64 }
    let base = scratchSlots[thread].memory(bytes: max(64, sizes.reduce(0, +)))
    var offset = 0
    var buffers: [UnsafeMutablePointer<Float>] = []
    buffers.reserveCapacity(sizes.count)
    for size in sizes {
      buffers.append((base + offset).bindMemory(to: Float.self, capacity: size / MemoryLayout<Float>.stride))
      offset += size
    }
    return body(buffers)
  }

  /// `count` floats (64-byte aligned, contents undefined) that every thread of the call's
  /// parallel regions may read and write: partial sums to reduce, say. Held for `body`, in which
  /// the caller runs its regions; reused across calls.
  func withSharedFloats<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    sharedLock.lock()
    defer { sharedLock.unlock() }
    let base = sharedSlot.memory(bytes: max(64, count * MemoryLayout<Float>.stride))
    return body(base.bindMemory(to: Float.self, capacity: max(16, count)))
  }

  /// The native GEMM's packing buffers for `thread` (A block, B panel, edge tile, decode row).
  @inline(__always)
  func withPackBuffers<T: GEMMScalar, R>(
    thread: Int, _ type: T.Type, parameters: BlockingParameters, kernel: MicroKernel<T>, _ body: (PackBuffers<T>) -> R
  ) -> R {
    let stride = MemoryLayout<T>.stride
    func rounded(_ bytes: Int) -> Int { (bytes + 4095) / 4096 * 4096 }
    let aBytes = rounded(((parameters.mc + kernel.mr - 1) / kernel.mr * kernel.mr) * parameters.kc * stride)
    let bBytes = rounded(((parameters.nc + kernel.nr - 1) / kernel.nr * kernel.nr) * parameters.kc * stride)
    let edgeBytes = rounded(kernel.mr * kernel.nr * stride)
    let scratchBytes = rounded(parameters.kc * MemoryLayout<Float>.stride)
    let base = packSlots[thread].memory(bytes: aBytes + bBytes + edgeBytes + scratchBytes)
    return body(PackBuffers<T>(
      a: base.bindMemory(to: T.self, capacity: aBytes / stride),
      b: (base + aBytes).bindMemory(to: T.self, capacity: bBytes / stride),
      edge: (base + aBytes + bBytes).bindMemory(to: T.self, capacity: edgeBytes / stride),
      scratch: (base + aBytes + bBytes + edgeBytes).bindMemory(to: Float.self, capacity: scratchBytes / 4)))
  }

}

/// The native GEMM's per-thread packing buffers.
struct PackBuffers<T> {
  let a: UnsafeMutablePointer<T>
  let b: UnsafeMutablePointer<T>
  let edge: UnsafeMutablePointer<T>
  let scratch: UnsafeMutablePointer<Float>
}

/// Memory kept and reused across calls, grown when a call needs more: allocating megabytes per
/// call would cost page faults on every GEMM. A context keeps one per thread (guarded by its
/// lock); the trainer's rounding buffers and collectives' scratch are the same kind.
public final class MemorySlot: @unchecked Sendable {
  private var base: UnsafeMutableRawPointer?
  public private(set) var bytes = 0

  public init() {}

  /// At least `count` bytes, page-aligned, contents undefined; grown when too small.
  public func memory(bytes count: Int) -> UnsafeMutableRawPointer {
    if bytes < count || base == nil {
      base?.deallocate()
      base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 64), alignment: 4096)
      bytes = max(count, 64)
    }
    return base!
  }

  deinit { base?.deallocate() }
}
