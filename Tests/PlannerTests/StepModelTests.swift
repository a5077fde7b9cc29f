import Foundation
import Planner
import Profile
import Testing

/// The step model's structure, whatever its fitted rates: the 1F1B bubble, links by where a group
/// lies, ZeRO's memory, the cluster's grammar and the search's pruning.
@Suite struct StepModelTests {
  static let h100 = try! Cluster.parse("nodes=16,devices=8,device=h100-sxm")

  @Test func theBubbleIsPMinusOneOverVMicroBatchSlots() {
    let e = Estimator(model: try! PlanModel.named("gpt3-175b"), cluster: Self.h100)
    for (pp, v, micro) in [(8, 1, 16), (8, 2, 16), (4, 6, 32)] {
      let layout = PlanLayout(tp: 8, pp: pp, dp: 128 / (8 * pp), micro: micro, virtualStages: v, recompute: .selective, sequenceParallel: true, zero: 1)
      let p = e.predict(layout, globalBatch: layout.dp * micro, precision: .bf16)
      let t = p.timeParts
      let perMicro = (t.gemm + t.attention + t.elementwise + t.recompute + t.tensorParallel + t.contextParallel + t.pipelineTransfers) / Double(micro)
      #expect(abs(t.pipelineBubble / perMicro - Double(pp - 1) / Double(v)) < 1e-9, "pp=\(pp) v=\(v)")
    }
  }

  @Test func layersSplitEvenlyOrWithSmallerFirstAndLastStages() {
    #expect(PlanLayout(pp: 16).stageLayers(126)! == (7, 8, 7))
    #expect(PlanLayout(pp: 8).stageLayers(96)! == (12, 12, 12))
    #expect(PlanLayout(pp: 2).stageLayers(33)! == (17, 17, 16))
    #expect(PlanLayout(pp: 8, virtualStages: 2).stageLayers(126) == nil, "interleaving needs equal chunks")
    #expect(PlanLayout(pp: 5).stageLayers(12) == nil, "middle 3, leaving 3 for two stages")
    // The uneven split costs the slowest stage's layers: 8 of 126 on 16 stages, not 126/16.
    let e = Estimator(model: try! PlanModel.named("llama3-405b"), cluster: Self.h100)
    let even = PlanLayout(tp: 8, pp: 16, micro: 16, recompute: .selective, sequenceParallel: true, zero: 1)
    let p = e.predict(even, globalBatch: 16, precision: .bf16)
    #expect(p.stepSeconds > 0 && p.memoryBytesPerDevice > 0)
    #expect(even.problem(model: PlanModel.catalogue.first { $0.config.name == "llama3-405b" }!.config, globalBatch: 16, devices: 128) == nil)
  }

  @Test func tensorParallelismAcrossNodesCostsMoreThanWithin() {
    let e = Estimator(model: try! PlanModel.named("gpt3-175b"), cluster: Self.h100)
    let within = e.predict(PlanLayout(tp: 8, pp: 8, dp: 2, micro: 8, recompute: .selective, sequenceParallel: true, zero: 1), globalBatch: 16, precision: .bf16)
    let across = e.predict(PlanLayout(tp: 16, pp: 4, dp: 2, micro: 8, recompute: .selective, sequenceParallel: true, zero: 1), globalBatch: 16, precision: .bf16)
    // Per layer and micro-batch the tp=16 group has half the GEMM work per device, but its collectives cross 50 GB/s links instead of 450.
    #expect(across.timeParts.tensorParallel > 2 * within.timeParts.tensorParallel)
  }

  @Test func eachZeROStageKeepsLessPerDevice() {
    let e = Estimator(model: try! PlanModel.named("llama3-70b"), cluster: Self.h100)
    let bytes = (0...3).map { zero in
      e.memory(PlanLayout(tp: 8, dp: 16, micro: 4, recompute: .selective, sequenceParallel: true, zero: zero), globalBatch: 64, precision: .bf16).total
    }
    #expect(zip(bytes, bytes.dropFirst()).allSatisfy { $0 > $1 }, "\(bytes)")
  }

  @Test func clustersAreReadAsVendorsQuoteTheirLinks() throws {
    let c = try Cluster.parse("nodes=128,devices=8,device=a100-80gb,intra=600GB/s,inter=200Gb/s")
    #expect(c.devices == 1024 && c.intraGBPerSecond == 300 && c.interGBPerSecond == 25)
    #expect(throws: PlanError.self) { try Cluster.parse("nodes=2,device=a100-80gb,inter=fast") }
    #expect(throws: PlanError.self) { try Cluster.parse("nodes=0,device=h100-sxm") }
    #expect(throws: PlanError.self) { try Cluster.parse("nodes=2,gpus=8,device=h100-sxm") }
    for (name, device) in Device.catalogue {
      #expect(device.name == name && !device.source.isEmpty && device.peak(.bf16) != nil && device.memoryBytes > 0, "\(name)")
    }
    #expect(Device.catalogue["a100-80gb"]?.peak(.fp8) == nil, "A100 has no fp8 units")
  }

  /// A 1,024-device plan of GPT-3 175B: every layout the world and the model allow, the invalid
  /// ones pruned with their reason, a pick that fits, each candidate's products of dimensions the world.
  @Test func aThousandDevicePlanOfGPT3() throws {
    let cluster = try Cluster.parse("nodes=128,devices=8,device=a100-80gb")
    let plan = try Planner(estimator: Estimator(model: try PlanModel.named("gpt3-175b"), cluster: cluster), globalBatch: 1536, precisions: [.bf16]).search(top: 10)
    #expect(plan.evaluated > 100_000)
    let pick = try #require(plan.pick)
    #expect(pick.predicted.memoryBytesPerDevice <= 80e9 && pick.layout.devices == 1024)
    #expect(plan.candidates.allSatisfy { $0.layout.devices == 1024 && $0.predicted.memoryBytesPerDevice <= 80e9 })
    #expect(zip(plan.candidates, plan.candidates.dropFirst()).allSatisfy { $0.predicted.stepSeconds <= $1.predicted.stepSeconds })
    #expect((plan.prunedCounts["over the device's memory"] ?? 0) > 0)
    #expect(plan.pruned.contains { $0.reason.contains("interleaved schedule needs micro") })
    let llama = try Planner(estimator: Estimator(model: try PlanModel.named("llama3-70b"), cluster: cluster), globalBatch: 512, precisions: [.bf16]).search(top: 1)
    #expect(llama.pruned.contains { $0.reason.hasPrefix("tp=16 does not divide the 64 heads and 8 key/value heads") })
  }
}
