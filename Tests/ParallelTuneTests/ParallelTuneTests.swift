import Autotune
import Foundation
import Planner
import Platform
import Profile
import Testing

@testable import ParallelTune
@testable import Trainer

@Suite struct CandidateTests {
  @Test func enumerationFollowsTheDivisibilityRules() throws {
    let small = try ModelConfig.named("small")
    let e = CandidateSpace.enumerate(model: small, worldThreads: 4, globalBatch: 8, precisions: [.fp32])
    // Ranks 1, 2, 4; every dp × tp × pp of each; micro-batch sizes dividing each share; recompute; zero when dp > 1.
    for c in e.valid {
      #expect(c.layout.ranks * c.threadsPerRank == 4)
      #expect(small.heads % c.layout.tp == 0 && small.layers % c.layout.pp == 0)
      #expect(8 % (c.layout.dp * c.layout.micro) == 0)
      #expect(c.layout.zero == 0 || c.layout.dp > 1)
    }
    // ranks 1: (1,1,1) × mbs {1,2,4,8} × 2 = 8; ranks 2: dp2 3 mbs × 2 × 2 zero = 12, tp2 8, pp2 8;
    // ranks 4: dp4 mbs {1,2} × 2 × 2 = 8, dp2tp2 12, dp2pp2 12, tp4 8, tp2pp2 8; pp4 does not divide 6 layers.
    #expect(e.valid.count == 8 + 12 + 8 + 8 + 8 + 12 + 12 + 8 + 8)
    #expect(e.pruned.count == 1 && e.pruned[0].reason.contains("pp=4 does not divide the 6 layers"))
    let tiny = try ModelConfig.named("tiny")
    let t = CandidateSpace.enumerate(model: tiny, worldThreads: 8, ranks: 8, globalBatch: 4, precisions: [.fp32, .bf16])
    #expect(t.pruned.contains { $0.reason.contains("tp=4 does not divide") } && t.pruned.contains { $0.reason.contains("does not split into dp=8") })
  }

  @Test func theMemoryModelAddsUpGPT2sParts() throws {
    let gpt2 = try ModelConfig.named("gpt2-124m")
    var options = TrainingOptions(model: gpt2, batch: 1, steps: 1)
    let parameters = Double(ParameterLayout.parameterCount(gpt2))
    // 124,439,808 parameters (GPT-2 small with biases, tied head, learned positions).
    #expect(parameters == 124_439_808)
    let plan = options.rankMemoryPlans()[0]
    func part(_ part: MemoryPart) -> Double { plan.parts.first { $0.what == part.rawValue }?.bytes ?? 0 }
    #expect(part(.parameters) == parameters * 4 && part(.gradients) == parameters * 4)
    #expect(part(.optimizerState) == parameters * 8)
    // Saved per layer per token: 3h + 4 + 3h (qkv) + h + 4h + 4h floats, plus 12 heads of lse; and the inputs.
    let n = 1024.0, h = 768.0
    let perLayer = n * (3 * h + 4 + 3 * h + h + 4 * h + 4 * h) + 12 * 1024
    #expect(part(.activations) == (12 * perLayer + 12 * n * h + n * h + n * h) * 4)
    options.layout = try ParallelLayout.parse("dp=2,zero=1,micro=1")
    options.batch = 2
    #expect(options.rankMemoryPlans()[0].parts.first { $0.what == "optimizer state" }!.bytes == parameters * 4)
    options.layout = try ParallelLayout.parse("micro=1,recompute=on")
    options.batch = 1
    #expect(options.rankMemoryPlans()[0].parts.first { $0.what == "activations" }!.bytes == (12 * n * h + n * h + n * h) * 4)
  }

  @Test func theMemoryModelIsTheTrainersAccount() throws {
    for text in ["dp=1", "dp=2,zero=1,micro=2", "tp=2,recompute=on", "pp=2,micro=4"] {
      var options = TrainingOptions(model: try ModelConfig.named("tiny"), layout: try ParallelLayout.parse(text), batch: 8, steps: 1, precision: .bf16)
      options.threadsPerRank = 1
      let summary = try TrainingRun(options).run()
      let measured = summary.reports[0].peakBytesPerRank.max()!
      let predicted = options.predictedPeakRankBytes
      #expect(abs(predicted - Double(measured)) <= 0.02 * Double(measured), "\(text): predicted \(predicted), measured \(measured)")
      // Part by part, in one vocabulary: rank 0's account is the plan of its stage (the rounding
      // buffers are the GEMM runner's, outside the account).
      let plan = options.rankMemoryPlans()[0]
      for part in MemoryPart.allCases where part != .roundingBuffers {
        let planned = plan.parts.first { $0.what == part.rawValue }?.bytes ?? 0
        let counted = Double(summary.memoryByPart[part] ?? 0)
        #expect(abs(planned - counted) <= 0.01 * max(planned, 1) + 4096, "\(text) \(part.rawValue): planned \(planned), counted \(counted)")
      }
    }
  }
}

@Suite struct StabilityTests {
  static let reference = [5.55, 5.40, 5.20, 5.00, 4.80, 4.60]

  @Test func recordedCurvesGetTheirVerdicts() {
    func curve(_ losses: [Double], nonFinite: [Int]? = nil, skipped: [Bool]? = nil, scales: [Double]? = nil) -> TrialCurve {
      TrialCurve(losses: losses, nonFinite: nonFinite ?? losses.map { _ in 0 }, skipped: skipped ?? losses.map { _ in false }, lossScales: scales ?? losses.map { _ in 1 })
    }
    #expect(Stability.verdict(curve([5.55, 5.41, 5.21, 5.01]), reference: Self.reference, precision: .bf16) == nil)
    #expect(Stability.verdict(curve([5.55, .nan, 5.2]), reference: Self.reference, precision: .fp32)?.contains("loss is nan at step 1") == true)
    #expect(Stability.verdict(curve([5.55, 5.4, 5.2], nonFinite: [0, 3, 0]), reference: Self.reference, precision: .fp16)?.contains("applied") == true)
    // fp16's scaler skipping one early step is normal; skipping most of them is a collapse.
    let normal = curve([5.55, 5.55, 5.41, 5.21], nonFinite: [5, 0, 0, 0], skipped: [true, false, false, false], scales: [32768, 32768, 32768, 32768])
    #expect(Stability.verdict(normal, reference: [5.55, 5.55, 5.41, 5.21], precision: .fp16) == nil)
    let collapsing = curve([5.55, 5.55, 5.55, 5.55], nonFinite: [9, 9, 9, 0], skipped: [true, true, true, false], scales: [32768, 16384, 8192, 8192])
    #expect(Stability.verdict(collapsing, reference: Self.reference, precision: .fp16)?.contains("loss scale collapsing") == true)
    // Finite but off the fp32 trajectory: past fp8's tolerance, within it.
    #expect(Stability.verdict(curve([5.55, 5.5, 5.45, 5.4]), reference: Self.reference, precision: .fp8)?.contains("departs from the fp32 reference") == true)
    #expect(Stability.verdict(curve([5.55, 5.42, 5.25, 5.05]), reference: Self.reference, precision: .fp8) == nil)
  }
}

@Suite struct SelectionTests {
  static func trial(_ layout: String, _ status: ParallelTrial.Status, rate: Double?, steps: Int = 4, memory: Double = 100) -> ParallelTrial {
    var t = ParallelTrial(layout: try! ParallelLayout.parse(layout), precision: .fp32, threadsPerRank: 1, status: status, predictedPeakBytes: memory)
    t.steps = steps
    t.tokensPerSecond = rate.map { Statistics(median: $0, min: $0, max: $0, runs: 3) }
    t.measuredPeakBytes = memory
    return t
  }

  @Test func theFastestStableTrialAtTheLongestLengthWins() {
    let trials = [
      Self.trial("dp=2", .unstable, rate: 2000),
      Self.trial("tp=2", .ok, rate: 1500, steps: 2),  // fast in a short trial only
      Self.trial("pp=2,micro=4", .ok, rate: 1200),
      Self.trial("dp=1", .ok, rate: 1100),
      Self.trial("micro=2", .oom, rate: nil),
    ]
    let pick = Selection.pick(trials, globalBatch: 8)
    #expect(pick?.layout == (try! ParallelLayout.parse("pp=2,micro=4")))
    #expect(pick?.reason.contains("1 unstable rejected") == true)
  }

  @Test func aTieGoesToLessMemory() {
    let trials = [Self.trial("dp=2", .ok, rate: 1000, memory: 900), Self.trial("dp=2,zero=1", .ok, rate: 995, memory: 600)]
    #expect(Selection.pick(trials, globalBatch: 8)?.layout.zero == 1)
    #expect(Selection.pick([Self.trial("dp=2", .unstable, rate: 1000)], globalBatch: 8) == nil)
  }
}

/// The cost model with a fleet's rates: a group within a process reduces at the node's rate, one
/// that spans processes at the fleet's slowest link, so that with a slow node the candidates that
/// put tensor parallelism across processes rank below those that keep it within one.
@Suite struct FleetCostTests {
  static func fleet(slowLink: Double) -> FleetSection {
    FleetSection(
      nodes: [], collectives: [
        CollectiveMeasurement(operation: .allReduce, scope: .withinNode, node: "node0", members: 2, bytes: 1 << 20, seconds: 1e-4),
        CollectiveMeasurement(operation: .allReduce, scope: .acrossNodes, node: nil, members: 3, bytes: 1 << 20, seconds: 1e-2),
      ],
      links: [
        LinkMeasurement(from: "node0", to: "node1", bytes: 1 << 20, gbPerSecond: 0.1, latencyMicroseconds: 10),
        LinkMeasurement(from: "node0", to: "node2", bytes: 1 << 20, gbPerSecond: slowLink, latencyMicroseconds: 10),
      ], stragglers: [], threshold: 0.1, transport: "test")
  }

  @Test func tensorParallelismStaysWithinAProcessOverASlowLink() throws {
    let rates = FleetRates(Self.fleet(slowLink: 0.02))
    #expect(abs(rates.withinNode! - 1.048576 * 10) < 1e-9 && rates.acrossNodes == 0.02, "the slowest link bounds the rate across nodes")
    let model = try ModelConfig.named("small")
    var cost = CostModel(profile: nil, choices: .none, peakGflops: 100, triadGBPerSecond: 10, collectiveGBPerSecond: rates.withinNode!, tunedThreads: 2)
    cost.processes = 2
    cost.acrossGBPerSecond = rates.acrossNodes
    func seconds(_ text: String) throws -> Double {
      cost.stepSeconds(Candidate(layout: try ParallelLayout.parse(text), precision: .fp32, threadsPerRank: 1), model: model, globalBatch: 8)
    }
    // Four ranks over two processes: tp=2 keeps each pair in a process, tp=4 spans both.
    let within = try seconds("tp=2,dp=2,micro=2"), across = try seconds("tp=4,micro=2")
    #expect(across > 2 * within, "tp across the slow link: \(across) s against \(within) s")
    // Without the fleet (one process, every group in shared memory) they are close.
    cost.processes = 1
    let alone = (try seconds("tp=2,dp=2,micro=2"), try seconds("tp=4,micro=2"))
    #expect(alone.1 < 2 * alone.0)
  }

  /// A fleet whose nodes ran their kernel stages (`tune fleet --kernels`): each product runs as
  /// slowly as on its slowest node. Two real machines' profiles from results/ (this repository's
  /// Zen 4 VM and the Intel Xeon with AMX) as the nodes.
  @Test func aFleetsNodesKernelRatesBoundEachProduct() throws {
    let results = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/results/"
    let machines = try ["vm-20261206-103158.json", "intel-xeon-amx-2core-20261201.json"].map { try ProfileStore.read(results + $0) }
    var fleet = Self.fleet(slowLink: 0.1)
    fleet.nodes = machines.enumerated().map { FleetNode(name: "node\($0.offset)", rank: $0.offset, machine: $0.element.machine!, kernels: $0.element.kernels) }
    let nodes = FleetRates.nodeRates(fleet)
    #expect(nodes.rates.count == 2 && nodes.without.isEmpty)
    let model = try ModelConfig.named("small")
    var cost = CostModel(profile: nil, choices: .none, peakGflops: 100, triadGBPerSecond: 10, collectiveGBPerSecond: 5, tunedThreads: 2)
    let candidate = Candidate(layout: try ParallelLayout.parse("dp=2,micro=2"), precision: .bf16, threadsPerRank: 1)
    func seconds(_ rates: [MeasuredRates]) -> Double {
      cost.nodes = rates
      return cost.stepSeconds(candidate, model: model, globalBatch: 8)
    }
    let each = nodes.rates.map { seconds([$0]) }, both = seconds(nodes.rates)
    #expect(both >= each.max()! * (1 - 1e-12) && each[0] != each[1], "both \(both), each \(each)")
    fleet.nodes[1].kernels = nil
    #expect(FleetRates.nodeRates(fleet).without == ["node1"])
  }
}
