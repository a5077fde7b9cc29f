import Foundation

/// `fleet`: what `tune fleet` measured over the nodes of one job (one process per node): each
/// node's machine section, the collectives from 8 B up (algbw and busbw as nccl-tests defines
/// them) across the nodes and within each, every pair's point-to-point bandwidth and latency, and
/// the nodes that fall behind the fleet.
public struct FleetSection: Codable, Equatable, Sendable {
  public var nodes: [FleetNode]
  public var collectives: [CollectiveMeasurement]
  public var links: [LinkMeasurement]
  public var stragglers: [Straggler]
  /// A node is a straggler below the fleet's median by more than this fraction.
  public var threshold: Double
  /// The transport the measurements crossed the nodes with (Open MPI's, as it reported it).
  public var transport: String

  public init(nodes: [FleetNode], collectives: [CollectiveMeasurement], links: [LinkMeasurement], stragglers: [Straggler], threshold: Double, transport: String) {
    self.nodes = nodes
    self.collectives = collectives
    self.links = links
    self.stragglers = stragglers
    self.threshold = threshold
    self.transport = transport
  }
}

/// One node of the fleet: its name (the processor name MPI reports) and its probe.
public struct FleetNode: Codable, Equatable, Sendable {
  public var name: String
  /// Its process's rank in the fleet's job.
  public var rank: Int
  public var machine: MachineSection
  /// Its kernel stages' sections (`tune fleet --kernels`).
  public var kernels: KernelsSection?

  public init(name: String, rank: Int, machine: MachineSection, kernels: KernelsSection? = nil) {
    self.name = name
    self.rank = rank
    self.machine = machine
    self.kernels = kernels
  }
}

/// One collective at one size: the time of one call (median of its repetitions) and its
/// bandwidths. algbw = S / t; busbw = algbw × factor over n members: all-reduce 2(n−1)/n,
/// reduce-scatter and all-gather (n−1)/n (S the whole gathered buffer), broadcast 1
/// (nccl-tests, doc/PERFORMANCE.md).
public struct CollectiveMeasurement: Codable, Equatable, Sendable {
  public enum Operation: String, Codable, Sendable, CaseIterable {
    case allReduce = "all-reduce", reduceScatter = "reduce-scatter", allGather = "all-gather", broadcast
  }

  public enum Scope: String, Codable, Sendable {
    /// One member per node, through the job's transport.
    case acrossNodes = "across nodes"
    /// The ranks of one node (threads in shared memory, as the trainer's groups within a process).
    case withinNode = "within node"
  }

  public var operation: Operation
  public var scope: Scope
  /// The node measured (within a node), or nil (across nodes).
  public var node: String?
  public var members: Int
  public var bytes: Int
  public var seconds: Double
  public var algGBPerSecond: Double
  public var busGBPerSecond: Double

  public init(operation: Operation, scope: Scope, node: String?, members: Int, bytes: Int, seconds: Double) {
    self.operation = operation
    self.scope = scope
    self.node = node
    self.members = members
    self.bytes = bytes
    self.seconds = seconds
    algGBPerSecond = seconds > 0 ? Double(bytes) / seconds / 1e9 : 0
    busGBPerSecond = algGBPerSecond * Self.busFactor(operation, members: members)
  }

  /// nccl-tests' bus bandwidth factor.
  public static func busFactor(_ operation: Operation, members n: Int) -> Double {
    let n = Double(max(1, n))
    switch operation {
    case .allReduce: return 2 * (n - 1) / n
    case .reduceScatter, .allGather: return (n - 1) / n
    case .broadcast: return 1
    }
  }
}

/// Point to point between two nodes: bandwidth of a large message and latency of a small one
/// (half a ping-pong's round trip).
public struct LinkMeasurement: Codable, Equatable, Sendable {
  public var from: String
  public var to: String
  public var bytes: Int
  public var gbPerSecond: Double
  public var latencyMicroseconds: Double

  public init(from: String, to: String, bytes: Int, gbPerSecond: Double, latencyMicroseconds: Double) {
    self.from = from
    self.to = to
    self.bytes = bytes
    self.gbPerSecond = gbPerSecond
    self.latencyMicroseconds = latencyMicroseconds
  }
}

/// A node below the fleet's median on one figure (or whose probe differs from its
/// same-fingerprint peers), and by how much.
public struct Straggler: Codable, Equatable, Sendable, CustomStringConvertible {
  public var node: String
  /// "link bandwidth", "fp32 peak", "memory bandwidth", or the probe figure that differs.
  public var figure: String
  public var value: Double
  public var median: Double
  public var unit: String

  public init(node: String, figure: String, value: Double, median: Double, unit: String) {
    self.node = node
    self.figure = figure
    self.value = value
    self.median = median
    self.unit = unit
  }

  /// How far below the median, as a fraction.
  public var shortfall: Double { median > 0 ? 1 - value / median : 0 }

  public var description: String {
    String(format: "%@: %@ %.3g %@, %.0f%% below the fleet's median of %.3g", node, figure, value, unit, shortfall * 100, median)
  }

  /// The nodes below the median of `values` (one per node) by more than `threshold`.
  public static func below(_ values: [(node: String, value: Double)], figure: String, unit: String, threshold: Double) -> [Straggler] {
    guard values.count >= 2 else { return [] }
    let sorted = values.map(\.value).sorted()
    let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    return values.filter { $0.value < (1 - threshold) * median }.map { Straggler(node: $0.node, figure: figure, value: $0.value, median: median, unit: unit) }
  }
}
