import Foundation
import Kernels

/// The collectives of one process group (a rank's data-, tensor- or pipeline-parallel peers), as
/// the model and runtime call them. Every member calls the same collectives in the same order;
/// sums add the members' values in rank order, so every member gets bit-identical results.
/// `SharedMemoryCommunicator` implements it for ranks that are threads of one process; a
/// multi-process implementation (MPI, sockets) implements the same protocol and the model does
/// not change.
public protocol Communicator: AnyObject, Sendable {
  /// This member's index in the group, and the group's size.
  var rank: Int { get }
  var size: Int { get }
  /// buffer ← Σ over members of buffer.
  func allReduce<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int)
  /// This member's shard (`shard(count:)`) of buffer ← Σ over members of that shard; the rest of
  /// buffer is left as it was.
  func reduceScatter<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int)
  /// Each member's shard of buffer is copied into every member's buffer.
  func allGather<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int)
  /// buffer ← root's buffer.
  func broadcast<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int, root: Int)
  /// Sends count values to member `peer` (returns once they are copied out).
  func send<T: TrainScalar>(_ buffer: UnsafePointer<T>, count: Int, to peer: Int)
  /// Receives count values from member `peer`, in the order they were sent.
  func recv<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int, from peer: Int)
}

extension Communicator {
  /// The part of 0..<count that member `member` owns in reduce-scatter and all-gather.
  public func shard(count: Int, member: Int? = nil) -> Range<Int> {
    let r = member ?? rank
    return count * r / size..<count * (r + 1) / size
  }
}

/// What the members of one shared-memory group share: a barrier, a pointer slot per member, a
/// scratch buffer for sums, and a mailbox per ordered pair for send/recv.
public final class SharedMemoryGroup: @unchecked Sendable {
  public let size: Int
  private let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
  fileprivate let slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  fileprivate let scratch = MemorySlot()
  fileprivate let mailboxes: [Mailbox]

  public init(size: Int) {
    precondition(size >= 1)
    self.size = size
    pthread_barrier_init(barrier, nil, UInt32(size))
    slots = .allocate(capacity: size)
    slots.initialize(repeating: nil, count: size)
    mailboxes = (0..<size * size).map { _ in Mailbox() }
  }

  deinit {
    pthread_barrier_destroy(barrier)
    barrier.deallocate()
    slots.deallocate()
  }

  fileprivate func wait() { _ = pthread_barrier_wait(barrier) }

  /// One communicator per member.
  public func members() -> [SharedMemoryCommunicator] { (0..<size).map { SharedMemoryCommunicator(group: self, rank: $0) } }
}

/// A FIFO of messages from one member to another.
final class Mailbox: @unchecked Sendable {
  private let condition = NSCondition()
  private var queue: [[UInt8]] = []

  func put(_ message: [UInt8]) {
    condition.lock()
    queue.append(message)
    condition.signal()
    condition.unlock()
  }

  func take() -> [UInt8] {
    condition.lock()
    defer { condition.unlock() }
    while queue.isEmpty { condition.wait() }
    return queue.removeFirst()
  }
}

/// One member of a `SharedMemoryGroup`: ranks that are threads of this process.
public final class SharedMemoryCommunicator: Communicator, @unchecked Sendable {
  public let rank: Int
  public var size: Int { group.size }
  private let group: SharedMemoryGroup

  init(group: SharedMemoryGroup, rank: Int) {
    self.group = group
    self.rank = rank
  }

  /// A group of one: every collective is the identity.
  public static func alone() -> SharedMemoryCommunicator { SharedMemoryGroup(size: 1).members()[0] }

  @_specialize(where T == Float)
  public func allReduce<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int) {
    guard size > 1, count > 0 else { return }
    _ = sumShard(buffer, count: count)
    // Every member copies the whole sum out of the scratch.
    let shared = group.scratch.raw(0).assumingMemoryBound(to: T.self)
    buffer.update(from: shared, count: count)
    group.wait()
  }

  @_specialize(where T == Float)
  public func reduceScatter<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int) {
    guard size > 1, count > 0 else { return }
    let mine = sumShard(buffer, count: count)
    let shared = group.scratch.raw(0).assumingMemoryBound(to: T.self)
    (buffer + mine.lowerBound).update(from: shared + mine.lowerBound, count: mine.count)
    group.wait()
  }

  /// Publishes buffer, sums this member's shard over all members into the group's scratch, and
  /// waits until every shard is summed. The sources stay untouched until the caller's last wait.
  @_specialize(where T == Float)
  private func sumShard<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int) -> Range<Int> {
    if rank == 0 { _ = group.scratch.raw(count * MemoryLayout<T>.stride) }
    group.slots[rank] = UnsafeMutableRawPointer(buffer)
    group.wait()
    let shared = group.scratch.raw(0).assumingMemoryBound(to: T.self)
    let mine = shard(count: count)
    let first = group.slots[0]!.assumingMemoryBound(to: T.self)
    for i in mine { shared[i] = first[i] }
    for member in 1..<size {
      let source = group.slots[member]!.assumingMemoryBound(to: T.self)
      for i in mine { shared[i] += source[i] }
    }
    group.wait()
    return mine
  }

  @_specialize(where T == Float)
  public func allGather<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int) {
    guard size > 1, count > 0 else { return }
    group.slots[rank] = UnsafeMutableRawPointer(buffer)
    group.wait()
    for member in 0..<size where member != rank {
      let source = group.slots[member]!.assumingMemoryBound(to: T.self)
      let theirs = shard(count: count, member: member)
      (buffer + theirs.lowerBound).update(from: source + theirs.lowerBound, count: theirs.count)
    }
    group.wait()
  }

  @_specialize(where T == Float)
  public func broadcast<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int, root: Int) {
    guard size > 1, count > 0 else { return }
    group.slots[rank] = UnsafeMutableRawPointer(buffer)
    group.wait()
    if rank != root { buffer.update(from: group.slots[root]!.assumingMemoryBound(to: T.self), count: count) }
    group.wait()
  }

  @_specialize(where T == Float)
  public func send<T: TrainScalar>(_ buffer: UnsafePointer<T>, count: Int, to peer: Int) {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: buffer, count: count * MemoryLayout<T>.stride))
    group.mailboxes[rank * size + peer].put(bytes)
  }

  @_specialize(where T == Float)
  public func recv<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int, from peer: Int) {
    let bytes = group.mailboxes[peer * size + rank].take()
    precondition(bytes.count == count * MemoryLayout<T>.stride, "recv of \(count) values got \(bytes.count / MemoryLayout<T>.stride)")
    bytes.withUnsafeBytes { UnsafeMutableRawPointer(buffer).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
  }
}

/// A rank's communication thread: runs submitted collectives in order, beside the compute (the
/// data-parallel gradient buckets overlap the rest of the backward this way).
final class CommunicationThread: @unchecked Sendable {
  private let condition = NSCondition()
  private var jobs: [() -> Void] = []
  private var pending = 0
  private var stopping = false
  private var thread: Thread?
  /// Seconds spent in jobs.
  private(set) var busySeconds = 0.0

  init() {
    // The thread holds the object until `stop` ends its loop.
    let thread = Thread { self.loop() }
    thread.stackSize = 1 << 20
    self.thread = thread
    thread.start()
  }

  func submit(_ job: @escaping () -> Void) {
    condition.lock()
    jobs.append(job)
    pending += 1
    condition.signal()
    condition.unlock()
  }

  /// Waits until every submitted job has run.
  func drain() {
    condition.lock()
    while pending > 0 { condition.wait() }
    condition.unlock()
  }

  func stop() {
    condition.lock()
    stopping = true
    condition.broadcast()
    condition.unlock()
  }

  private func loop() {
    while true {
      condition.lock()
      while jobs.isEmpty && !stopping { condition.wait() }
      if jobs.isEmpty && stopping {
        condition.unlock()
        return
      }
      let job = jobs.removeFirst()
      condition.unlock()
      let start = DispatchTime.now().uptimeNanoseconds
      job()
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      condition.lock()
      busySeconds += seconds
      pending -= 1
      condition.broadcast()
      condition.unlock()
    }
  }
}
