import CMPI
import Foundation
import Kernels
import Platform
import Profile

/// The measurements `tune fleet` takes over a job of one process per node: Open MPI's
/// collectives across the nodes, the trainer's shared-memory collectives within a node, and
/// ping-pong between every pair of nodes. Timed loops run on the engine's thread with blocking
/// MPI calls (nothing queued between a call and its clock).
extension MPIJob {
  /// Waits until every process arrives.
  public func barrier() {
    engine.blocking { MPI_Barrier(st_mpi_comm_world()) }
  }

  /// Every process's bytes, in rank order, on every process.
  public func allGather(_ bytes: [UInt8]) -> [[UInt8]] {
    let longest = Int(maximum(Double(bytes.count), of: "the gathered records' lengths"))
    var mine = bytes + [UInt8](repeating: 0, count: longest - bytes.count)
    var lengths = [Double](repeating: 0, count: size)
    lengths[rank] = Double(bytes.count)
    allReduce(&lengths)
    var all = [UInt8](repeating: 0, count: longest * size)
    let count = Int32(longest)
    engine.blocking {
      mine.withUnsafeMutableBytes { send in
        all.withUnsafeMutableBytes { receive in
          _ = MPI_Allgather(send.baseAddress, count, st_mpi_byte(), receive.baseAddress, count, st_mpi_byte(), st_mpi_comm_world())
        }
      }
    }
    return (0..<size).map { Array(all[$0 * longest..<$0 * longest + Int(lengths[$0])]) }
  }

  /// The transport between processes, as Open MPI was asked for it (its `OMPI_MCA_btl` setting,
  /// else its default selection).
  public var transport: String {
    let environment = ProcessInfo.processInfo.environment
    return "Open MPI " + (environment["OMPI_MCA_btl"].map { "btl \($0)" } ?? "default btl selection (shared memory within a node, TCP across)")
  }

  /// One `operation` over every process on `bytes` bytes of floats: the median over `repetitions`
  /// (after one warm-up) of each call's slowest process. Returns the bytes actually moved (the
  /// count rounded to whole floats per process) and the seconds.
  public func timeCollective(_ operation: CollectiveMeasurement.Operation, bytes: Int, repetitions: Int) -> (bytes: Int, seconds: Double) {
    let n = size
    let perMember = max(1, bytes / 4 / (operation == .reduceScatter || operation == .allGather ? n : 1))
    let total = operation == .reduceScatter || operation == .allGather ? perMember * n : perMember
    var buffer = [Float](repeating: 1, count: total), other = [Float](repeating: 0, count: total)
    var times = [Double](repeating: 0, count: repetitions)
    engine.blocking {
      buffer.withUnsafeMutableBytes { a in
        other.withUnsafeMutableBytes { b in
          let (x, y) = (a.baseAddress!, b.baseAddress!)
          func call() {
            switch operation {
            case .allReduce: MPI_Allreduce(x, y, Int32(total), st_mpi_float(), st_mpi_sum(), st_mpi_comm_world())
            case .reduceScatter: MPI_Reduce_scatter_block(x, y, Int32(perMember), st_mpi_float(), st_mpi_sum(), st_mpi_comm_world())
            case .allGather: MPI_Allgather(x, Int32(perMember), st_mpi_float(), y, Int32(perMember), st_mpi_float(), st_mpi_comm_world())
            case .broadcast: MPI_Bcast(x, Int32(total), st_mpi_float(), 0, st_mpi_comm_world())
            }
          }
          call()
          for repetition in 0..<repetitions {
            MPI_Barrier(st_mpi_comm_world())
            let start = MPI_Wtime()
            call()
            times[repetition] = MPI_Wtime() - start
          }
        }
      }
    }
    // Each call as long as its slowest process.
    maximum(&times, of: "the collective's times")
    return (total * 4, Statistics(samples: times).median)
  }

  /// Half the round trip of `bytes` between this process and `peer` (both call it; the others do
  /// not), median over `repetitions` after one warm-up.
  public func pingPong(with peer: Int, bytes: Int, repetitions: Int) -> Double {
    var buffer = [UInt8](repeating: 1, count: max(1, bytes))
    var times: [Double] = []
    let first = rank < peer, count = Int32(max(1, bytes))
    engine.blocking {
      buffer.withUnsafeMutableBytes { raw in
        let pointer = raw.baseAddress!
        for repetition in 0...repetitions {
          let start = MPI_Wtime()
          if first {
            MPI_Send(pointer, count, st_mpi_byte(), Int32(peer), 7, st_mpi_comm_world())
            MPI_Recv(pointer, count, st_mpi_byte(), Int32(peer), 7, st_mpi_comm_world(), st_mpi_status_ignore())
          } else {
            MPI_Recv(pointer, count, st_mpi_byte(), Int32(peer), 7, st_mpi_comm_world(), st_mpi_status_ignore())
            MPI_Send(pointer, count, st_mpi_byte(), Int32(peer), 7, st_mpi_comm_world())
          }
          if repetition > 0 { times.append((MPI_Wtime() - start) / 2) }
        }
      }
    }
    return Statistics(samples: times).median
  }
}

/// The trainer's shared-memory collectives among `members` threads of this process (what a
/// group within a node runs), timed like nccl-tests: the median over `repetitions` of each call's
/// slowest member.
public enum SharedMemoryBench {
  public static func time(_ operation: CollectiveMeasurement.Operation, members: Int, bytes: Int, repetitions: Int) -> Double {
    let slowest = slowestMember(SharedMemoryGroup(size: members).members(), count: max(members, bytes / 4), repetitions: repetitions) { communicator, buffer, count in
      switch operation {
      case .allReduce: communicator.allReduce(buffer, count: count)
      case .reduceScatter: communicator.reduceScatter(buffer, count: count)
      case .allGather: communicator.allGather(buffer, count: count)
      case .broadcast: communicator.broadcast(buffer, count: count, root: 0)
      }
    }
    return Statistics(samples: slowest).median
  }

  /// `call` on every communicator at once, one thread each, `repetitions` times after a warm-up,
  /// every member starting together (a one-value all-reduce first): each repetition's slowest
  /// member's seconds.
  static func slowestMember(
    _ communicators: [Communicator], count: Int, repetitions: Int, _ call: @escaping @Sendable (Communicator, UnsafeMutablePointer<Float>, Int) -> Void
  ) -> [Double] {
    let table = ResultTable<[Double]>(count: communicators.count)
    let done = DispatchGroup()
    for (index, communicator) in communicators.enumerated() {
      done.enter()
      let thread = Thread {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count), token = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        buffer.initialize(repeating: 1, count: count)
        token.initialize(to: 0)
        defer {
          buffer.deallocate()
          token.deallocate()
        }
        var times: [Double] = []
        for repetition in 0...repetitions {
          communicator.allReduce(token, count: 1)
          let start = DispatchTime.now().uptimeNanoseconds
          call(communicator, buffer, count)
          if repetition > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        table.set(index, times)
        done.leave()
      }
      thread.stackSize = 1 << 20
      thread.start()
    }
    done.wait()
    return (0..<repetitions).map { repetition in table.values.map { $0![repetition] }.max() ?? 0 }
  }
}

/// ScaleTune's all-reduce over a job's processes (the trainer's world group: `ranksPerProcess`
/// threads in each process, summed in shared memory, then across the processes through MPI on the
/// engine's thread), timed as `MPIJob.timeCollective` times Open MPI's own: what `tune bench
/// collectives` sets against a bare MPI_Allreduce of the same buffer. Every process makes it (its
/// group is made collectively).
public final class ScaleTuneAllReduce {
  let job: MPIJob
  let communicators: [Communicator]

  public init(job: MPIJob, ranksPerProcess: Int) {
    self.job = job
    let fabric = MPIFabric(job: job, world: job.size * ranksPerProcess)
    let members = fabric.members(Array(0..<job.size * ranksPerProcess), kind: "benchmark world")
    communicators = fabric.hosted.map { members[$0]! }
  }

  /// The median over `repetitions` (after one warm-up) of each call's slowest rank (over every
  /// process), for `bytes` bytes of floats per rank.
  public func time(bytes: Int, repetitions: Int) -> Double {
    var slowest = SharedMemoryBench.slowestMember(communicators, count: max(1, bytes / 4), repetitions: repetitions) { communicator, buffer, count in
      communicator.allReduce(buffer, count: count)
    }
    job.maximum(&slowest, of: "the all-reduce's times")
    return Statistics(samples: slowest).median
  }
}
