import ArgumentParser
import Foundation
import Platform
import Profile
import Trainer

/// `tune bench collectives`: under mpirun, ScaleTune's all-reduce against a bare MPI_Allreduce of
/// the same buffer in the same run, size by size, with nccl-tests' bus bandwidth and their ratio.
struct CollectivesBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "collectives",
    abstract: "Under mpirun: ScaleTune's all-reduce bus bandwidth against a bare MPI_Allreduce of the same buffer, from 8 B up, and their ratio.")

  @Option(name: .customLong("max-bytes"), help: "The largest buffer, in bytes (default 256 MiB).")
  var maxBytes = 256 << 20

  @Flag(help: "Fewer repetitions.")
  var quick = false

  @Flag(help: "Print JSON rows.")
  var json = false

  struct Row: Codable {
    var bytes: Int
    var processes: Int
    var mpiBusGBPerSecond: Double
    var scaleTuneBusGBPerSecond: Double
    var ratio: Double
  }

  func validate() throws {
    guard maxBytes >= 8 else { throw ValidationError("--max-bytes must be at least 8; got \(maxBytes)") }
  }

  func run() throws {
    guard let job = MPIJob.current, job.size > 1 else {
      throw CommandFailure("tune bench collectives measures a job of several processes: mpirun -np N tune bench collectives")
    }
    let ours = ScaleTuneAllReduce(job: job, ranksPerProcess: 1)
    var rows: [Row] = []
    for bytes in FleetCommand.sizes(upTo: maxBytes) {
      let repetitions = FleetCommand.repetitions(bytes, quick: quick)
      // Alternated, so that neither always runs on a warmer link.
      let (moved, mpi) = job.timeCollective(.allReduce, bytes: bytes, repetitions: repetitions)
      let scaleTune = ours.time(bytes: moved, repetitions: repetitions)
      let bare = CollectiveMeasurement(operation: .allReduce, scope: .acrossNodes, node: nil, members: job.size, bytes: moved, seconds: mpi)
      let mine = CollectiveMeasurement(operation: .allReduce, scope: .acrossNodes, node: nil, members: job.size, bytes: moved, seconds: scaleTune)
      rows.append(Row(
        bytes: moved, processes: job.size, mpiBusGBPerSecond: bare.busGBPerSecond, scaleTuneBusGBPerSecond: mine.busGBPerSecond,
        ratio: bare.busGBPerSecond > 0 ? mine.busGBPerSecond / bare.busGBPerSecond : 0))
    }
    if job.rank == 0 {
      if json {
        for row in rows { print(String(decoding: try JSONEncoder().encode(row), as: UTF8.self)) }
      } else {
        print("all-reduce over \(job.size) processes (\(job.transport)); busbw GB/s = S/t × 2(n−1)/n")
        print("bytes".padding(toLength: 12, withPad: " ", startingAt: 0) + "MPI_Allreduce  ScaleTune  ratio")
        for row in rows {
          print(MemoryPlan.binary(row.bytes).padding(toLength: 12, withPad: " ", startingAt: 0)
            + String(format: "%13.4g  %9.4g  %5.2f", row.mpiBusGBPerSecond, row.scaleTuneBusGBPerSecond, row.ratio))
        }
      }
    }
    job.finish()
  }
}
