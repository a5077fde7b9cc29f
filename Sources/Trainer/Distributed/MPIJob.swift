import CMPI
import Foundation

/// This process's place in an MPI job (launched by `mpirun`, or by `srun --mpi=pmix`): its rank
/// and size, and its node (`MPI_Comm_split_type` shared, never the launcher's variables, which
/// differ between launchers). Every MPI call runs on one thread, the engine's: Open MPI 4.1 makes
/// no progress in the background, so a thread that only communicates is what lets ranks compute
/// while messages move, and one owner keeps calls ordered.
public final class MPIJob: @unchecked Sendable {
  public let rank: Int
  public let size: Int
  /// This process's index among the processes of its node, and their count.
  public let localRank: Int
  public let localSize: Int
  /// The node's name (MPI_Get_processor_name).
  public let node: String
  let engine: MPIEngine

  /// The job this process belongs to: MPI initialised when a launcher started the process (its
  /// PMIx or Open MPI variables are set; rank and size then come from MPI itself); nil for a
  /// process started on its own.
  public static let current: MPIJob? = {
    let environment = ProcessInfo.processInfo.environment
    guard environment["PMIX_RANK"] != nil || environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMI_RANK"] != nil else { return nil }
    return MPIJob()
  }()

  private init() {
    engine = MPIEngine()
    var facts = (rank: 0, size: 1, localRank: 0, localSize: 1, node: "")
    engine.blocking {
      var provided: Int32 = 0
      MPI_Init_thread(nil, nil, st_mpi_thread_multiple(), &provided)
      // Failures come back as codes (a dead peer is an error to report, not an abort inside MPI).
      MPI_Comm_set_errhandler(st_mpi_comm_world(), st_mpi_errors_return())
      var rank: Int32 = 0, size: Int32 = 0
      MPI_Comm_rank(st_mpi_comm_world(), &rank)
      MPI_Comm_size(st_mpi_comm_world(), &size)
      var node: MPI_Comm? = nil
      MPI_Comm_split_type(st_mpi_comm_world(), st_mpi_comm_type_shared(), rank, st_mpi_info_null(), &node)
      var localRank: Int32 = 0, localSize: Int32 = 1
      MPI_Comm_rank(node, &localRank)
      MPI_Comm_size(node, &localSize)
      MPI_Comm_free(&node)
      var name = [CChar](repeating: 0, count: Int(st_mpi_max_processor_name()) + 1)
      var length: Int32 = 0
      MPI_Get_processor_name(&name, &length)
      let bytes = name.prefix(Int(length)).map { UInt8(bitPattern: $0) }
      facts = (Int(rank), Int(size), Int(localRank), Int(localSize), String(decoding: bytes, as: UTF8.self))
    }
    (rank, size, localRank, localSize, node) = facts
    let limit = ProcessInfo.processInfo.environment["SCALETUNE_MPI_TIMEOUT"].flatMap(Double.init) ?? 45
    engine.watch(limit: limit) { [unowned self] what, seconds in
      self.fail(String(format: "%@ did not complete in %.0f s: a process of the job died, hangs, or its link is down", what, seconds))
    }
  }

  /// Throws `LaunchError.mismatched` unless every process runs the same build on a machine of the
  /// same fingerprint: a job's ranks must compute alike (the same kernels, the same numerics).
  public func requireUniform(fingerprint: String, build: String) throws {
    let facts = allGather(Array("\(fingerprint) \(build)".utf8)).map { String(decoding: $0, as: UTF8.self) }
    let nodes = allGather(Array(node.utf8)).map { String(decoding: $0, as: UTF8.self) }
    let kinds = Dictionary(grouping: facts.indices, by: { facts[$0] })
    guard kinds.count > 1 else { return }
    let described = kinds.sorted { $0.value[0] < $1.value[0] }.map { fact, ranks in
      let parts = fact.split(separator: " ")
      return "process\(ranks.count == 1 ? "" : "es") \(ranks.map { "\($0) (\(nodes[$0]))" }.joined(separator: ", ")): fingerprint \(parts.first ?? ""), build \(parts.last ?? "")"
    }
    throw LaunchError.mismatched(described)
  }

  /// Ends the job's MPI use (every process calls it once, after its last collective).
  public func finish() {
    engine.blocking { MPI_Finalize() }
    engine.stop()
  }

  /// Ends every process of the job with `status` (a failure on one process must not leave the
  /// others waiting in a collective).
  public func abort(status: Int32) -> Never {
    // MPI_Abort asks the launcher to end every process; where the launcher cannot be reached (a
    // cut link), this process still ends on its own, a few seconds later.
    let fallback = Thread {
      sleep(3)
      _exit(status)
    }
    fallback.start()
    MPI_Abort(st_mpi_comm_world(), status)
    _exit(status)
  }

  /// Sums `values` over every process, in place.
  public func allReduce(_ values: inout [Double]) { sum(&values, st_mpi_double()) }
  public func allReduce(_ values: inout [Float]) { sum(&values, st_mpi_float()) }

  private func sum<T>(_ values: inout [T], _ type: MPI_Datatype?) {
    let count = values.count
    guard count > 0 else { return }
    values.withUnsafeMutableBufferPointer { buffer in
      let pointer = UnsafeMutableRawPointer(buffer.baseAddress!)
      let code = engine.wait("a sum of \(count) values over the job's processes") {
        var request: MPI_Request? = nil
        MPI_Iallreduce(st_mpi_in_place(), pointer, Int32(count), type, st_mpi_sum(), st_mpi_comm_world(), &request)
        return request
      }
      if code != st_mpi_success() { fail("a sum of \(count) values over the job's processes failed (MPI error \(code))") }
    }
  }

  /// Each element's largest value over every process, in place; `what` names the values for a
  /// failure ("the step's time").
  public func maximum(_ values: inout [Double], of what: String) {
    let count = values.count
    guard count > 0 else { return }
    values.withUnsafeMutableBufferPointer { buffer in
      let pointer = UnsafeMutableRawPointer(buffer.baseAddress!)
      engine.wait("the maximum of \(what) (\(count) values) over the job's processes") {
        var request: MPI_Request? = nil
        MPI_Iallreduce(st_mpi_in_place(), pointer, Int32(count), st_mpi_double(), st_mpi_max(), st_mpi_comm_world(), &request)
        return request
      }
    }
  }

  /// The largest of `value` over every process.
  public func maximum(_ value: Double, of what: String) -> Double {
    var values = [value]
    maximum(&values, of: what)
    return values[0]
  }

  /// The communicator of the processes that pass `member` (MPI_Comm_split over the world: every
  /// process calls this, in the same order), ordered by process rank; nil for the others.
  func split(member: Bool, color: Int) -> MPI_Comm? {
    var result: MPI_Comm? = nil
    let key = Int32(rank)
    engine.blocking {
      MPI_Comm_split(st_mpi_comm_world(), member ? Int32(color) : st_mpi_undefined(), key, &result)
      if let result { MPI_Comm_set_errhandler(result, st_mpi_errors_return()) }
    }
    return member ? result : nil
  }
}

public enum LaunchError: Error, CustomStringConvertible {
  case mismatched([String])
  public var description: String {
    switch self {
    case .mismatched(let kinds):
      return "the job's processes run on different machines or builds (" + kinds.joined(separator: "; ")
        + "): a job trains with one build on nodes of one fingerprint; launch it on nodes of the same fingerprint (tune fleet lists each node's) with the same train binary"
    }
  }
}

/// The thread that owns every MPI call: operations are queued to it; a nonblocking one is started
/// there and tested until it completes (the loop's tests are what move the messages), while the
/// caller waits for its completion.
final class MPIEngine: @unchecked Sendable {
  private final class Completion: @unchecked Sendable {
    let condition = NSCondition()
    var done = false
    var code: Int32 = 0

    func finish(_ code: Int32) {
      condition.lock()
      self.code = code
      done = true
      condition.signal()
      condition.unlock()
    }

    func wait() -> Int32 {
      condition.lock()
      while !done { condition.wait() }
      condition.unlock()
      return code
    }
  }

  private enum Job {
    case blocking(() -> Void, Completion)
    /// Starts a nonblocking operation (`what` names it) and returns its request; `completion` is
    /// nil for a fire-and-forget send (its buffer is released by `cleanup` when it completes).
    case start(String, () -> EngineOperation, Completion?, cleanup: (() -> Void)?)
  }

  /// How long an operation may wait before the job is declared broken, and what then.
  private var limit = Double.infinity
  private var onStall: ((String, Double) -> Void)?

  /// Operations still incomplete after `limit` seconds are reported to `stalled` (which ends the
  /// job: a peer that died or a cut link must not leave this process waiting for ever).
  func watch(limit: Double, stalled: @escaping (String, Double) -> Void) {
    condition.lock()
    self.limit = limit
    onStall = stalled
    condition.unlock()
  }

  private let condition = NSCondition()
  private var queue: [Job] = []
  private var stopping = false
  private var thread: Thread?

  init() {
    let thread = Thread { self.loop() }
    thread.stackSize = 1 << 20
    self.thread = thread
    thread.start()
  }

  private func enqueue(_ job: Job) {
    condition.lock()
    queue.append(job)
    condition.signal()
    condition.unlock()
  }

  /// Runs `body` on the engine's thread and waits for it.
  func blocking(_ body: @escaping () -> Void) {
    let completion = Completion()
    enqueue(.blocking(body, completion))
    _ = completion.wait()
  }

  /// Starts the operation `start` returns the request of, and waits until it completes.
  @discardableResult
  func wait(_ what: String, _ start: @escaping () -> MPI_Request?) -> Int32 {
    wait(what, operation: { SingleRequest(start()) })
  }

  /// Starts the operation `start` makes (on the engine's thread), and waits until it completes.
  @discardableResult
  func wait(_ what: String, operation start: @escaping () -> EngineOperation) -> Int32 {
    let completion = Completion()
    enqueue(.start(what, start, completion, cleanup: nil))
    return completion.wait()
  }

  /// Starts the operation and returns at once; `cleanup` runs once it completes.
  func post(_ what: String, _ start: @escaping () -> MPI_Request?, cleanup: @escaping () -> Void) {
    enqueue(.start(what, { SingleRequest(start()) }, nil, cleanup: cleanup))
  }

  func stop() {
    condition.lock()
    stopping = true
    condition.broadcast()
    condition.unlock()
  }

  private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

  private func loop() {
    var active: [(operation: EngineOperation, completion: Completion?, cleanup: (() -> Void)?, what: String, started: Double)] = []
    while true {
      condition.lock()
      while queue.isEmpty && active.isEmpty && !stopping { condition.wait() }
      if queue.isEmpty && active.isEmpty && stopping {
        condition.unlock()
        return
      }
      let jobs = queue
      queue.removeAll()
      let (limit, onStall) = (self.limit, self.onStall)
      condition.unlock()
      for job in jobs {
        switch job {
        case .blocking(let body, let completion):
          body()
          completion.finish(0)
        case .start(let what, let start, let completion, let cleanup):
          active.append((start(), completion, cleanup, what, Self.now()))
        }
      }
      // Advance every active operation: completed ones are handed back.
      var progressed = false
      var index = 0
      while index < active.count {
        if let code = active[index].operation.advance() {
          active[index].completion?.finish(code)
          active[index].cleanup?()
          active.remove(at: index)
          progressed = true
        } else {
          index += 1
        }
      }
      if let oldest = active.min(by: { $0.started < $1.started }), Self.now() - oldest.started > limit {
        onStall?(oldest.what, Self.now() - oldest.started)
      }
      // Nothing completed: offer the core to a rank that needs it (sched_yield), then test again.
      // Testing is what moves a large message's fragments, so the loop never sleeps while one is
      // in flight (a 20 µs sleep between tests cut a 16 MiB all-reduce to 0.6 of MPI's own rate).
      if !active.isEmpty && !progressed && jobs.isEmpty { sched_yield() }
    }
  }
}

/// An operation in flight on the engine: every pass of its loop advances it (tests its requests,
/// starts its next ones) until it returns its MPI error code (MPI_SUCCESS when done).
protocol EngineOperation: AnyObject {
  func advance() -> Int32?
}

/// One nonblocking MPI request.
final class SingleRequest: EngineOperation {
  private var request: MPI_Request?
  init(_ request: MPI_Request?) { self.request = request }

  func advance() -> Int32? {
    var flag: Int32 = 0
    let code = MPI_Test(&request, &flag, st_mpi_status_ignore())
    return flag != 0 || code != st_mpi_success() ? code : nil
  }
}

/// An in-place all-reduce (sum) over a communicator's processes as a ring of nonblocking sends
/// and receives: n − 1 steps of reduce-scatter (each process sends a chunk to the next, receives
/// one from the previous and adds it in), then n − 1 of all-gather (the summed chunks passed
/// round). Bandwidth-optimal, and driven by the engine's loop like any request; Open MPI 4.1's
/// own nonblocking all-reduce (libnbc) ran at 0.4–0.5 of its blocking one here. Every process ends
/// with the same bits: each chunk is summed once and then copied.
final class RingAllReduce<T: TrainScalar>: EngineOperation {
  private let buffer: UnsafeMutablePointer<T>
  private let count: Int
  private let communicator: MPI_Comm?
  private let type: MPI_Datatype?
  private let rank: Int, size: Int
  private let incoming: UnsafeMutablePointer<T>
  private var step = 0
  private var requests: [MPI_Request?] = [nil, nil]
  private var failed: Int32?
  /// Tags above the point-to-point messages' (sender · size + receiver).
  static var tagBase: Int32 { 1 << 20 }

  init(_ buffer: UnsafeMutablePointer<T>, count: Int, communicator: MPI_Comm?, type: MPI_Datatype?) {
    self.buffer = buffer
    self.count = count
    self.communicator = communicator
    self.type = type
    var rank: Int32 = 0, size: Int32 = 1
    MPI_Comm_rank(communicator, &rank)
    MPI_Comm_size(communicator, &size)
    (self.rank, self.size) = (Int(rank), Int(size))
    incoming = .allocate(capacity: max(1, count / Int(size) + 1))
    if size > 1 { post() }
  }

  deinit { incoming.deallocate() }

  /// target += source, in the element type's own loop (a generic loop over TrainScalar is not
  /// specialised here, and ran an order of magnitude slower than the transfer it follows).
  static func add(_ source: UnsafePointer<T>, into target: UnsafeMutablePointer<T>, count: Int) {
    if T.self == Float.self {
      let (s, t) = (UnsafeRawPointer(source).assumingMemoryBound(to: Float.self), UnsafeMutableRawPointer(target).assumingMemoryBound(to: Float.self))
      for i in 0..<count { t[i] += s[i] }
    } else if T.self == Double.self {
      let (s, t) = (UnsafeRawPointer(source).assumingMemoryBound(to: Double.self), UnsafeMutableRawPointer(target).assumingMemoryBound(to: Double.self))
      for i in 0..<count { t[i] += s[i] }
    } else {
      for i in 0..<count { target[i] += source[i] }
    }
  }

  private func chunk(_ index: Int) -> Range<Int> {
    let i = ((index % size) + size) % size
    return count * i / size..<count * (i + 1) / size
  }

  /// This step's receive from the previous process and send to the next.
  private func post() {
    let reducing = step < size - 1
    let (sent, received) = reducing ? (chunk(rank - step), chunk(rank - step - 1)) : (chunk(rank + 1 - (step - size + 1)), chunk(rank - (step - size + 1)))
    let next = Int32((rank + 1) % size), previous = Int32((rank + size - 1) % size), tag = Self.tagBase + Int32(step)
    let target = reducing ? incoming : buffer + received.lowerBound
    var code = MPI_Irecv(target, Int32(received.count), type, previous, tag, communicator, &requests[0])
    if code == st_mpi_success() { code = MPI_Isend(buffer + sent.lowerBound, Int32(sent.count), type, next, tag, communicator, &requests[1]) }
    if code != st_mpi_success() { failed = code }
  }

  func advance() -> Int32? {
    if let failed { return failed }
    guard size > 1 else { return st_mpi_success() }
    var flag: Int32 = 0
    let code = MPI_Testall(2, &requests, &flag, st_mpi_statuses_ignore())
    if code != st_mpi_success() { return code }
    guard flag != 0 else { return nil }
    if step < size - 1 {
      let received = chunk(rank - step - 1)
      Self.add(incoming, into: buffer + received.lowerBound, count: received.count)
    }
    step += 1
    if step == 2 * (size - 1) { return st_mpi_success() }
    post()
    return failed
  }
}
