import ArgumentParser
import Foundation
import Platform
import Probe
import Profile
import Report
import Trainer

struct FleetCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fleet",
    abstract: "Measure the nodes of a job, one process per node: each node's probe, collectives across and within nodes, every pair's link; name the stragglers.",
    discussion: """
      Run as `mpirun --hostfile H -np N tune fleet` (N the nodes, one process each: --map-by node) or `srun -N N tune fleet`. \
      Writes one fleet profile (results/fleet-<time>.json unless --output) that `tune report` and `tune compare` read and \
      `tune parallel --fleet` takes its link rates from.
      """)

  @OptionGroup var options: CommonOptions

  @Option(help: "A node is a straggler below the fleet's median by more than this fraction (0.10 = 10%).")
  var threshold = 0.10

  @Option(name: .customLong("max-bytes"), help: "The largest collective measured, in bytes (default 256 MiB; 4 MiB with --quick).")
  var maxBytes: Int?

  @Flag(help: "Also run the kernel stages (GEMM, attention) on every node, each on its own, into its node's part of the fleet profile.")
  var kernels = false

  @Option(name: .customLong("kernel-budget"), help: "Seconds for each node's kernel stages with --kernels (default 240, 40 with --quick).")
  var kernelBudget: Double?

  func validate() throws {
    guard threshold > 0 && threshold < 1 else { throw ValidationError("--threshold must be between 0 and 1 (0.10 = 10%); got \(threshold)") }
    if let maxBytes, maxBytes < 8 { throw ValidationError("--max-bytes must be at least 8; got \(maxBytes)") }
  }

  func run() throws {
    guard let job = MPIJob.current else {
      throw CommandFailure("tune fleet runs as one process per node of a job: mpirun --hostfile H -np N --map-by node tune fleet, or srun -N N tune fleet")
    }
    var status: Int32 = 0
    do {
      try measure(job)
    } catch {
      FileHandle.standardError.write(Data("Error: process \(job.rank) on \(job.node): \(error)\n".utf8))
      status = 1
    }
    if status != 0 { job.abort(status: status) }
    job.finish()
  }

  /// The message sizes: 8 B, then ×8 up to the largest.
  static func sizes(upTo largest: Int) -> [Int] {
    var sizes: [Int] = []
    var bytes = 8
    while bytes < largest {
      sizes.append(bytes)
      bytes *= 8
    }
    return sizes + [largest]
  }

  static func repetitions(_ bytes: Int, quick: Bool) -> Int { bytes <= 1 << 16 ? (quick ? 10 : 50) : bytes <= 1 << 22 ? (quick ? 5 : 20) : 3 }

  func measure(_ job: MPIJob) throws {
    let speaks = job.rank == 0
    func say(_ text: String) { if speaks { options.progress(text) } }
    let started = Date()
    // One process per node: a second process on a node would share its links and cores.
    let names = job.allGather(Array(job.node.utf8)).map { String(decoding: $0, as: UTF8.self) }
    let duplicated = Dictionary(grouping: names.indices, by: { names[$0] }).filter { $0.value.count > 1 }
    if let (node, ranks) = duplicated.first {
      throw CommandFailure("processes \(ranks.map(String.init).joined(separator: ", ")) share node \(node): tune fleet runs one process per node (mpirun --map-by node with -np equal to the nodes, or srun -N N --ntasks-per-node 1)")
    }
    say("fleet: \(job.size) nodes (\(names.joined(separator: ", "))); probing each")
    let machine = try MachineProbe.run(ProbeOptions(quick: options.quick), progress: { _ in })
    let machines = try job.allGather(Array(try ProfileStore.encode(machine))).map { try JSONDecoder().decode(MachineSection.self, from: Data($0)) }
    var nodeKernels: [KernelsSection?] = Array(repeating: nil, count: job.size)
    if kernels {
      say("fleet: the kernel stages on every node")
      let mine = try runKernelStages(machine: machine, node: job.node)
      nodeKernels = try job.allGather(Array(try ProfileStore.encode(mine))).map { try JSONDecoder().decode(KernelsSection.self, from: Data($0)) }
    }
    let nodes = machines.enumerated().map { FleetNode(name: names[$0.offset], rank: $0.offset, machine: $0.element, kernels: nodeKernels[$0.offset]) }

    let largest = maxBytes ?? (options.quick ? 4 << 20 : 256 << 20)
    var collectives: [CollectiveMeasurement] = []
    for operation in CollectiveMeasurement.Operation.allCases {
      for bytes in Self.sizes(upTo: largest) {
        let (moved, seconds) = job.timeCollective(operation, bytes: bytes, repetitions: Self.repetitions(bytes, quick: options.quick))
        collectives.append(CollectiveMeasurement(operation: operation, scope: .acrossNodes, node: nil, members: job.size, bytes: moved, seconds: seconds))
      }
      say("fleet: \(operation.rawValue) across nodes measured up to \(largest) bytes")
    }
    // Within each node: the trainer's shared-memory groups among its cores, measured on every node at once.
    let cores = max(2, MachineProbe.limits(topology: try Topology()).usableThreads)
    var mine: [CollectiveMeasurement] = []
    for operation in CollectiveMeasurement.Operation.allCases {
      for bytes in Self.sizes(upTo: min(largest, 64 << 20)) {
        let seconds = SharedMemoryBench.time(operation, members: cores, bytes: bytes, repetitions: Self.repetitions(bytes, quick: options.quick))
        mine.append(CollectiveMeasurement(operation: operation, scope: .withinNode, node: job.node, members: cores, bytes: max(cores, bytes / 4) * 4, seconds: seconds))
      }
    }
    for part in job.allGather(Array(try JSONEncoder().encode(mine))) {
      collectives += try JSONDecoder().decode([CollectiveMeasurement].self, from: Data(part))
    }
    say("fleet: collectives within each node measured (\(cores) ranks in shared memory)")
    // Every pair of nodes, one pair at a time: a large message's bandwidth, a small one's latency.
    let large = options.quick ? 1 << 20 : 16 << 20
    var links: [LinkMeasurement] = []
    for first in 0..<job.size {
      for second in first + 1..<job.size {
        job.barrier()
        guard job.rank == first || job.rank == second else { continue }
        let peer = job.rank == first ? second : first
        let bandwidthSeconds = job.pingPong(with: peer, bytes: large, repetitions: options.quick ? 3 : 10)
        let latency = job.pingPong(with: peer, bytes: 8, repetitions: options.quick ? 20 : 200)
        if job.rank == first {
          links.append(LinkMeasurement(
            from: names[first], to: names[second], bytes: large, gbPerSecond: Double(large) / bandwidthSeconds / 1e9, latencyMicroseconds: latency * 1e6))
        }
      }
    }
    job.barrier()
    var allLinks: [LinkMeasurement] = []
    for part in job.allGather(Array(try JSONEncoder().encode(links))) {
      allLinks += try JSONDecoder().decode([LinkMeasurement].self, from: Data(part))
    }
    say("fleet: \(allLinks.count) links measured")
    guard speaks else { return }
    let section = FleetSection(
      nodes: nodes, collectives: collectives, links: allLinks,
      stragglers: Self.stragglers(nodes: nodes, links: allLinks, threshold: threshold), threshold: threshold, transport: job.transport)
    let path = options.output ?? ResultsPath.default(hostname: "fleet", date: started)
    let profile = Profile(
      fleet: section,
      provenance: Provenance(runs: [
        Provenance.Run(commandLine: CommandLine.arguments, gitCommit: ResultsPath.gitCommit(), startedAt: started, finishedAt: Date(), stages: ["fleet"])
      ]))
    try ProfileStore.write(profile, to: path)
    print(options.json ? String(decoding: try ProfileStore.encode(section), as: UTF8.self) : FleetSummary.text(section))
    options.progress("fleet profile written to \(path)")
  }

  /// This node's GEMM and attention stages (the whole `tune`'s kernel stages at `small`'s shapes),
  /// into a profile of its own beside the fleet's; returns their sections.
  func runKernelStages(machine: MachineSection, node: String) throws -> KernelsSection {
    let budget = kernelBudget ?? (options.quick ? 40 : 240)
    let path = NSTemporaryDirectory() + "scaletune-fleet-\(node)-\(getpid()).json"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let run = Provenance.Run(commandLine: CommandLine.arguments, gitCommit: ResultsPath.gitCommit(), startedAt: Date(), finishedAt: Date(), stages: ["probe"])
    try ProfileStore.write(Profile(machine: machine, provenance: Provenance(runs: [run])), to: path)
    var stageOptions = options
    stageOptions.output = path
    stageOptions.quiet = true
    stageOptions.json = true
    // The stages print their sections; a fleet prints once, from its first process.
    fflush(nil)
    let saved = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY)
    dup2(null, STDOUT_FILENO)
    defer {
      fflush(nil)
      dup2(saved, STDOUT_FILENO)
      close(saved)
      close(null)
    }
    let gemm = try GEMMOptions.parse(["--model", "small", "--budget", String(Int(0.6 * budget))])
    try GEMMStage.execute(options: stageOptions, gemm: gemm, stages: ["gemm"])
    let model = try ModelConfig.named("small")
    let attention = try AttentionOptions.parse(["--seq", String(model.seq), "--head-dim", String(model.headDim), "--attention-budget", String(Int(0.4 * budget))])
    try AttentionStage.execute(options: stageOptions, attention: attention, stages: ["attention"])
    return try ProfileStore.read(path).kernels ?? KernelsSection()
  }

  /// The nodes that fall behind: on their links (a node's median bandwidth to the others below the
  /// fleet's median), and on their probe against same-fingerprint peers (`tune compare`'s rule:
  /// peaks, memory bandwidth).
  static func stragglers(nodes: [FleetNode], links: [LinkMeasurement], threshold: Double) -> [Straggler] {
    var result: [Straggler] = []
    if nodes.count >= 3 {
      let perNode = nodes.map { node -> (node: String, value: Double) in
        let rates = links.filter { $0.from == node.name || $0.to == node.name }.map(\.gbPerSecond).sorted()
        return (node.name, rates.isEmpty ? 0 : rates[rates.count / 2])
      }
      result += Straggler.below(perNode, figure: "link bandwidth (median to the other nodes)", unit: "GB/s", threshold: threshold)
    }
    let summaries = nodes.map {
      ProfileSummary(profile: Profile(machine: $0.machine, kernels: $0.kernels, provenance: Provenance(runs: [])), path: $0.name, label: $0.name)
    }
    if summaries.count >= 2 {
      for suspect in Comparison(summaries, threshold: threshold).suspects {
        let node = nodes.first { $0.machine.hostname == suspect.hostname }?.name ?? suspect.hostname
        for deviation in suspect.deviations {
          result.append(Straggler(node: node, figure: deviation.figure, value: deviation.value, median: deviation.peerMedian, unit: ""))
        }
      }
    }
    return result
  }
}
