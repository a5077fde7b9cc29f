import CMPI
import Foundation
import Kernels

/// One member of a group whose members are ranks of several processes: the members this process
/// hosts sum in shared memory first (a `SharedMemoryGroup` of them), then the first of them
/// reduces those partial sums with the other processes' through MPI (on the communicator of the
/// processes that host members), and hands the result back to its local peers. Point-to-point
/// messages go through the local mailboxes when the peer is on this process, through MPI
/// otherwise. Every member of one process takes part in each collective, so the local step works
/// as in a single process.
final class HierarchicalCommunicator: Communicator, @unchecked Sendable {
  let rank: Int
  let size: Int
  /// This process's members of the group, in shared memory (local index: order of group rank).
  private let local: SharedMemoryCommunicator
  /// The processes hosting members (nil when this process hosts them all).
  private let inter: MPI_Comm?
  /// Per group member: its index in `inter` (the hosting processes in rank order) and its index
  /// among its own process's members.
  private let memberProcess: [Int]
  private let memberLocalIndex: [Int]
  private let myProcess: Int
  private let job: MPIJob
  private let scratch = MemorySlot()
  /// "the data-parallel group of ranks 0,2": what a failure names.
  let name: String

  init(
    rank: Int, size: Int, local: SharedMemoryCommunicator, inter: MPI_Comm?, memberProcess: [Int], memberLocalIndex: [Int], job: MPIJob, name: String
  ) {
    self.name = name
    self.rank = rank
    self.size = size
    self.local = local
    self.inter = inter
    self.memberProcess = memberProcess
    self.memberLocalIndex = memberLocalIndex
    myProcess = memberProcess[rank]
    self.job = job
  }

  static func datatype<T>(_: T.Type) -> MPI_Datatype? { MemoryLayout<T>.size == 8 ? st_mpi_double() : st_mpi_float() }

  func allReduce<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int) {
    guard size > 1, count > 0 else { return }
    local.allReduce(buffer, count: count)
    if let inter {
      if local.rank == 0 {
        let type = Self.datatype(T.self)
        let what = "an all-reduce of \(count) values in \(name)"
        let code = job.engine.wait(what, operation: { RingAllReduce(buffer, count: count, communicator: inter, type: type) })
        if code != st_mpi_success() { job.fail("\(what) failed (MPI error \(code))") }
      }
      local.broadcast(buffer, count: count, root: 0)
    }
  }

  /// The sum over members into a scratch copy, of which this member keeps its shard.
  func reduceScatter<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int) {
    guard size > 1, count > 0 else { return }
    let copy = scratch.raw(count * MemoryLayout<T>.stride).assumingMemoryBound(to: T.self)
    copy.update(from: buffer, count: count)
    allReduce(copy, count: count)
    let mine = shard(count: count)
    (buffer + mine.lowerBound).update(from: copy + mine.lowerBound, count: mine.count)
  }

  /// Each member's shard, the rest zero, summed: exactly every member's shard (x + 0 = x).
  func allGather<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int) {
    guard size > 1, count > 0 else { return }
    let copy = scratch.raw(count * MemoryLayout<T>.stride).assumingMemoryBound(to: T.self)
    copy.update(repeating: 0, count: count)
    let mine = shard(count: count)
    (copy + mine.lowerBound).update(from: buffer + mine.lowerBound, count: mine.count)
    allReduce(copy, count: count)
    buffer.update(from: copy, count: count)
  }

  func broadcast<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int, root: Int) {
    guard size > 1, count > 0 else { return }
    let copy = scratch.raw(count * MemoryLayout<T>.stride).assumingMemoryBound(to: T.self)
    if rank == root { copy.update(from: buffer, count: count) } else { copy.update(repeating: 0, count: count) }
    allReduce(copy, count: count)
    if rank != root { buffer.update(from: copy, count: count) }
  }

  /// A message's tag: its sender's and receiver's group ranks (MPI keeps each tag's order).
  private func tag(from sender: Int, to receiver: Int) -> Int32 { Int32(sender * size + receiver) }

  func send<T: TrainScalar>(_ buffer: UnsafePointer<T>, count: Int, to peer: Int) {
    guard let inter, memberProcess[peer] != myProcess else {
      local.send(buffer, count: count, to: memberLocalIndex[peer])
      return
    }
    // Copied out, sent in the background: the sender goes on as with a local mailbox.
    let bytes = count * MemoryLayout<T>.stride
    let copy = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes), alignment: 64)
    copy.copyMemory(from: buffer, byteCount: bytes)
    let destination = Int32(memberProcess[peer]), tag = tag(from: rank, to: peer), type = Self.datatype(T.self)
    job.engine.post("a send of \(count) values from member \(rank) to member \(peer) of \(name)", {
      var request: MPI_Request? = nil
      MPI_Isend(copy, Int32(count), type, destination, tag, inter, &request)
      return request
    }, cleanup: { copy.deallocate() })
  }

  func recv<T: TrainScalar>(_ buffer: UnsafeMutablePointer<T>, count: Int, from peer: Int) {
    guard let inter, memberProcess[peer] != myProcess else {
      local.recv(buffer, count: count, from: memberLocalIndex[peer])
      return
    }
    let raw = UnsafeMutableRawPointer(buffer), source = Int32(memberProcess[peer]), tag = tag(from: peer, to: rank), type = Self.datatype(T.self)
    let what = "a receive of \(count) values by member \(rank) from member \(peer) of \(name)"
    let code = job.engine.wait(what) {
      var request: MPI_Request? = nil
      MPI_Irecv(raw, Int32(count), type, source, tag, inter, &request)
      return request
    }
    if code != st_mpi_success() { job.fail("\(what) failed (MPI error \(code))") }
  }
}

extension MPIJob {
  /// A collective that failed on this process ends the job: the message says where, every
  /// process exits (MPI_Abort), none is left waiting.
  func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("Error: process \(rank) of \(size) on \(node): \(message)\n".utf8))
    abort(status: 1)
  }
}

/// The communicators of the world's groups for the ranks this process hosts. Every process asks
/// for every group, in the same order (a group spanning processes is made collectively).
protocol GroupFabric: AnyObject {
  /// The global ranks this process hosts.
  var hosted: Range<Int> { get }
  /// For a group of global ranks (in group-rank order), each hosted member's communicator;
  /// `kind` names the group in messages ("data-parallel").
  func members(_ group: [Int], kind: String) -> [Int: Communicator]
}

/// Every rank a thread of this process, every group in shared memory.
final class SingleProcessFabric: GroupFabric {
  let hosted: Range<Int>
  init(world: Int) { hosted = 0..<world }

  func members(_ group: [Int], kind: String) -> [Int: Communicator] { Self.sharedMemory(group) }

  /// The group's members as threads of one process, in shared memory.
  static func sharedMemory(_ group: [Int]) -> [Int: Communicator] {
    Dictionary(uniqueKeysWithValues: zip(group, SharedMemoryGroup(size: group.count).members().map { $0 as Communicator }))
  }
}

/// The world's ranks in blocks of world / P over the job's P processes (process p hosts ranks
/// p·k ..< (p+1)·k: tensor-parallel peers, adjacent in the rank order, share a process first).
final class MPIFabric: GroupFabric {
  let job: MPIJob
  let perProcess: Int
  let hosted: Range<Int>
  private var groupsMade = 0

  init(job: MPIJob, world: Int) {
    self.job = job
    perProcess = world / job.size
    hosted = job.rank * perProcess..<(job.rank + 1) * perProcess
  }

  func process(of rank: Int) -> Int { rank / perProcess }

  func members(_ group: [Int], kind: String) -> [Int: Communicator] {
    groupsMade += 1
    let processes = Array(Set(group.map(process(of:)))).sorted()
    let mine = group.filter { hosted.contains($0) }
    if processes.count == 1 {
      return mine.isEmpty ? [:] : SingleProcessFabric.sharedMemory(group)
    }
    let inter = job.split(member: !mine.isEmpty, color: groupsMade)
    guard !mine.isEmpty else { return [:] }
    let memberProcess = group.map { processes.firstIndex(of: process(of: $0))! }
    let memberLocalIndex = group.map { member in group.filter { process(of: $0) == process(of: member) }.firstIndex(of: member)! }
    let locals = SharedMemoryGroup(size: mine.count).members()
    var result: [Int: Communicator] = [:]
    for (groupRank, member) in group.enumerated() where hosted.contains(member) {
      result[member] = HierarchicalCommunicator(
        rank: groupRank, size: group.count, local: locals[memberLocalIndex[groupRank]], inter: inter, memberProcess: memberProcess,
        memberLocalIndex: memberLocalIndex, job: job, name: "the \(kind) group of ranks \(group.map(String.init).joined(separator: ","))")
    }
    return result
  }
}
