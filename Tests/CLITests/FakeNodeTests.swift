import Foundation
import Platform
import Profile
import Testing

/// Fake nodes for multi-node tests: network namespaces joined by a bridge (scripts/fake-nodes.sh),
/// addresses only in 198.18.0.0/15 and only inside the namespaces a test makes, torn down after
/// it, also when it fails.
enum FakeNodes {
  static let script = TrainCLITests.repository + "/scripts/fake-nodes.sh"

  /// Whether this machine lets a test make namespaces (root, iproute2, CAP_NET_ADMIN): tried once
  /// with a namespace of one node, removed at once.
  static let available: Bool = {
    guard getuid() == 0, let probe = try? launch(URL(fileURLWithPath: script), ["up", "stprobe", "250", "1gbit"], timeout: 30) else { return false }
    _ = try? launch(URL(fileURLWithPath: script), ["down", "stprobe"], timeout: 30)
    return probe.status == 0
  }()

  /// Nodes `name-n0 …`, one per rate, on 198.18.`subnet`.0/24; `body` runs with them, and they are
  /// removed after it whatever happens.
  static func with<T>(_ name: String, subnet: Int, rates: [String], _ body: () throws -> T) throws -> T {
    let up = try launch(URL(fileURLWithPath: script), ["up", name, String(subnet)] + rates, timeout: 60)
    defer { _ = try? launch(URL(fileURLWithPath: script), ["down", name], timeout: 60) }
    guard up.status == 0 else { throw FakeNodeError.cannotMake(up.stderr) }
    return try body()
  }

  enum FakeNodeError: Error, CustomStringConvertible {
    case cannotMake(String)
    var description: String {
      switch self {
      case .cannotMake(let reason): return "fake nodes could not be made: \(reason)"
      }
    }
  }

  /// Whether Slurm's daemons and client are installed (Debian's slurmctld, slurmd, slurm-client).
  static let slurmInstalled: Bool = ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/srun", "/usr/bin/sinfo"].allSatisfy {
    FileManager.default.isExecutableFile(atPath: $0)
  }

  /// A Slurm on `name`'s nodes (scripts/fake-slurm.sh): its SLURM_CONF for `body`; stopped and
  /// removed after it whatever happens.
  static func withSlurm<T>(_ name: String, subnet: Int, cpus: Int, _ body: (String) throws -> T) throws -> T {
    let script = TrainCLITests.repository + "/scripts/fake-slurm.sh"
    let up = try launch(URL(fileURLWithPath: script), ["up", name, String(subnet), String(cpus)], timeout: 90)
    defer { _ = try? launch(URL(fileURLWithPath: script), ["down", name], timeout: 60) }
    guard up.status == 0 else { throw FakeNodeError.cannotMake("Slurm: " + up.stderr) }
    return try body(up.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// mpirun's options for a job on `name`'s nodes: their hostfile, processes placed round-robin
  /// over the nodes, started in each namespace by the script's agent, Open MPI's TCP transport on
  /// the nodes' subnet only, and a lost node noticed within seconds.
  static func mpirunOptions(_ name: String, subnet: Int, directory: String) throws -> [String] {
    let hosts = try launch(URL(fileURLWithPath: script), ["hostfile", name, String(subnet), "4"], timeout: 30)
    let hostfile = directory + "/hosts"
    try Data(hosts.stdout.utf8).write(to: URL(fileURLWithPath: hostfile))
    let net = "198.18.\(subnet).0/24"
    return [
      "--hostfile", hostfile, "--map-by", "node", "--oversubscribe", "--bind-to", "none", "--mca", "plm_rsh_agent", "\(script) agent",
      "--mca", "oob_tcp_if_include", net, "--mca", "btl_tcp_if_include", net, "--mca", "pml", "ob1", "--mca", "btl", "self,vader,tcp",
      "--mca", "oob_tcp_keepalive_time", "10", "--mca", "oob_tcp_keepalive_intvl", "5", "--mca", "oob_tcp_keepalive_probes", "3",
    ] + (getuid() == 0 ? ["--allow-run-as-root"] : [])
  }
}

/// `train` as one job over two fake nodes, its processes talking over TCP through the nodes'
/// shaped links: the one-process loss curve, whatever the layout puts across the nodes.
@Suite(.serialized, .enabled(if: FakeNodes.available, "needs root and network namespaces (ip netns, tc) to make fake nodes"))
struct FakeNodeTests {
  @Test(arguments: [(4, "dp=2,tp=2"), (4, "tp=2,pp=2,micro=2"), (2, "dp=2,zero=1,micro=2"), (4, "dp=4,micro=2,recompute=on")])
  func twoNodesTrainTheOneProcessCurve(processes: Int, layout: String) throws {
    let directory = try scratch()
    let arguments = ["--model", "tiny", "--layout", layout, "--steps", "10", "--json", "--oversubscribe", "--seed", "5"]
    let alone = try train(arguments, directory: directory)
    #expect(alone.status == 0, "\(alone.stderr)")
    let job = try FakeNodes.with("stft", subnet: 21, rates: ["1gbit", "1gbit"]) {
      try launch(
        try MPIJobTests.mpirun(), try FakeNodes.mpirunOptions("stft", subnet: 21, directory: directory) + ["-np", String(processes), try builtBinary("train").path] + arguments,
        directory: directory, timeout: 300)
    }
    #expect(job.status == 0 && !job.timedOut, "\(job.stderr)")
    let (one, many) = (TrainCLITests.losses(alone.stdout), TrainCLITests.losses(job.stdout))
    #expect(one.count == 10 && many.count == 10)
    for (a, b) in zip(one, many) { #expect(abs(a - b) <= 1e-5 * abs(a), "\(layout) on 2 nodes: \(a) alone, \(b) in the job") }
  }

  /// `tune fleet` over three fake nodes, the third on a 200 Mbit/s link: every node probed, every
  /// collective across and within the nodes with nccl-tests' bandwidths, every pair's link; the
  /// slow node named as a straggler on its links, the others not; `tune report` and `tune compare`
  /// read the fleet profile.
  @Test func aFleetNamesItsSlowNode() throws {
    let directory = try scratch()
    let output = directory + "/fleet.json"
    let job = try FakeNodes.with("stfl", subnet: 22, rates: ["1gbit", "1gbit", "200mbit"]) {
      try launch(
        try MPIJobTests.mpirun(),
        try FakeNodes.mpirunOptions("stfl", subnet: 22, directory: directory).filter { $0 != "--oversubscribe" }
          + ["-np", "3", try builtBinary("tune").path, "fleet", "--quick", "--max-bytes", "1048576", "--output", output],
        directory: directory, timeout: 300)
    }
    #expect(job.status == 0 && !job.timedOut, "\(job.stderr)")
    let fleet = try #require(try ProfileStore.read(output).fleet)
    #expect(fleet.nodes.map(\.name) == ["node0", "node1", "node2"])
    #expect(fleet.links.count == 3 && fleet.links.allSatisfy { $0.gbPerSecond > 0 && $0.latencyMicroseconds > 0 })
    for scope in [CollectiveMeasurement.Scope.acrossNodes, .withinNode] {
      for operation in CollectiveMeasurement.Operation.allCases {
        let measured = fleet.collectives.filter { $0.scope == scope && $0.operation == operation }
        #expect(measured.contains { $0.bytes <= 16 } && measured.contains { $0.bytes >= 1 << 20 - 64 }, "\(operation) \(scope): 8 B up to the largest")
        for m in measured {
          #expect(abs(m.busGBPerSecond - m.algGBPerSecond * CollectiveMeasurement.busFactor(operation, members: m.members)) <= 1e-12)
        }
      }
    }
    // The 200 Mbit/s node's links are well below the 1 Gbit/s pair's.
    let fast = try #require(fleet.links.first { $0.from == "node0" && $0.to == "node1" })
    let slow = fleet.links.filter { $0.to == "node2" || $0.from == "node2" }
    #expect(slow.allSatisfy { $0.gbPerSecond < 0.6 * fast.gbPerSecond }, "\(fleet.links)")
    let linkStragglers = fleet.stragglers.filter { $0.figure.hasPrefix("link bandwidth") }
    #expect(linkStragglers.map(\.node) == ["node2"], "\(fleet.stragglers)")
    let report = try tune(["report", output])
    #expect(report.status == 0 && report.stdout.contains("STRAGGLERS") && report.stdout.contains("node2: link bandwidth"), "\(report.stdout) \(report.stderr)")
    let html = try tune(["report", output, "--html", directory + "/fleet.html"])
    let page = (try? String(contentsOfFile: directory + "/fleet.html", encoding: .utf8)) ?? ""
    #expect(html.status == 0 && page.contains("Links between nodes") && page.contains("Collectives across 3 nodes"), "\(html.stderr)")
    let compare = try tune(["compare", output])
    #expect(compare.status == 0 && compare.stdout.contains("fleet.json#node2"), "\(compare.stdout) \(compare.stderr)")
  }

  /// `srun --mpi=pmix` inside a Slurm the test starts on two fake nodes (slurmctld and a slurmd
  /// per node, auth/none, no munge, no systemd): the job's ranks find each other through PMIx and
  /// train the one-process curve.
  @Test(.enabled(if: FakeNodes.slurmInstalled, "needs Slurm (Debian's slurmctld, slurmd, slurm-client, slurm-wlm-basic-plugins)"))
  func srunTrainsTheOneProcessCurve() throws {
    let directory = try scratch()
    let arguments = ["--model", "tiny", "--layout", "dp=2,tp=2", "--steps", "6", "--json", "--oversubscribe", "--seed", "9"]
    let alone = try train(arguments, directory: directory)
    let job = try FakeNodes.with("stsl", subnet: 23, rates: ["1gbit", "1gbit"]) {
      try FakeNodes.withSlurm("stsl", subnet: 23, cpus: 4) { conf in
        try launch(
          URL(fileURLWithPath: "/usr/bin/srun"), ["-N", "2", "-n", "4", "--mpi=pmix", try builtBinary("train").path] + arguments,
          environment: ["SLURM_CONF": conf], directory: directory, timeout: 300)
      }
    }
    #expect(job.status == 0 && !job.timedOut, "\(job.stderr)")
    let (one, many) = (TrainCLITests.losses(alone.stdout), TrainCLITests.losses(job.stdout))
    #expect(one.count == 6 && many == one, "srun: \(many), one process: \(one)")
  }

  /// `tune fleet --kernels`: each node also runs the kernel stages, on its own, into its part of
  /// the fleet profile (compare's rule then covers its kernel figures too).
  @Test func aFleetWithKernelsHoldsEachNodesChoices() throws {
    let directory = try scratch()
    let output = directory + "/fleet.json"
    let job = try FakeNodes.with("stfk", subnet: 24, rates: ["1gbit", "1gbit"]) {
      try launch(
        try MPIJobTests.mpirun(),
        try FakeNodes.mpirunOptions("stfk", subnet: 24, directory: directory)
          + ["-np", "2", try builtBinary("tune").path, "fleet", "--quick", "--kernels", "--kernel-budget", "20", "--max-bytes", "65536", "--output", output],
        directory: directory, timeout: 400)
    }
    #expect(job.status == 0 && !job.timedOut, "\(job.stderr)")
    let fleet = try #require(try ProfileStore.read(output).fleet)
    #expect(fleet.nodes.count == 2)
    for node in fleet.nodes {
      #expect((node.kernels?.gemm?.entries.filter { $0.winner != nil }.count ?? 0) > 0, "\(node.name) has tuned GEMMs")
      #expect(node.kernels?.attention != nil, "\(node.name) has its attention stage")
    }
  }

  /// A node's link cut mid-run, with mpirun on the first node as on a cluster: every process of
  /// the job exits within 60 s, the one that waited naming itself, its node and the collective
  /// that did not complete (after SCALETUNE_MPI_TIMEOUT, 10 s here), and mpirun ends non-zero
  /// once it gives up on the cut node's daemon (the nodes' TCP retransmissions, about 25 s).
  @Test func aCutLinkEndsEveryProcessOfTheJob() throws {
    let directory = try scratch()
    let job = try FakeNodes.with("stcut", subnet: 25, rates: ["1gbit", "1gbit"]) {
      try MPIJobTests.disrupted(
        on: [FakeNodes.script, "on", "stcut", "0"],
        try FakeNodes.mpirunOptions("stcut", subnet: 25, directory: directory), ["--model", "tiny", "--layout", "dp=2", "--steps", "10000000", "--oversubscribe"],
        timeout: "10"
      ) { _ in _ = try launch(URL(fileURLWithPath: FakeNodes.script), ["cut", "stcut", "1"], timeout: 30) }
    }
    #expect(job.survivors.isEmpty, "processes still running 60 s after the cut: \(job.survivors)")
    #expect(job.launcherEnded && job.status != 0, "mpirun ended non-zero within 60 s of the cut (status \(job.status))")
    // Which collective was in flight at the cut depends on the moment: the data-parallel
    // gradients' (named with its group), or the step time's maximum over the job's processes.
    #expect(
      job.stderr.contains("did not complete in 10 s") && job.stderr.contains("on node")
        && (job.stderr.contains(" group of ranks ") || job.stderr.contains("'s time (1 values) over the job's processes")), "\(job.stderr)")
  }
}
