import Testing

@testable import Platform
@testable import Probe

@Suite struct ResourcePlanTests {
  static let machine = MachineLimits(usableBytes: 24 << 30, usableThreads: 2)

  @Test func aPlanAboveTheUsableMemoryIsRefusedWithItsFiguresAndWhatWouldFit() {
    let plan = MemoryPlan([("A", 40e9), ("B", 40e9), ("C", 40e9), ("scratch", 1e3)])
    let error = #expect(throws: ResourceError.self) { try plan.check("a GEMM", against: Self.machine, fits: "4096³") }
    let message = error.map { "\($0)" } ?? ""
    #expect(message.contains("a GEMM needs about 120.0 GB") && message.contains("A 40.0 GB") && message.contains("24.0 GiB"))
    #expect(message.contains("What would fit: 4096³") && message.contains("Nothing was allocated") && !message.contains("scratch"))
    #expect((try? MemoryPlan([("A", 1e9)]).check("small", against: Self.machine)) != nil)
    // The largest size whose plan fits: n³ floats ≤ 24 GiB.
    let n = MemoryPlan.largest(upTo: 1 << 20, fitting: Self.machine) { MemoryPlan([("cube", 4 * pow3(Double($0)))]) }
    #expect(n.map { 4 * pow3(Double($0)) <= Double(24 << 30) && 4 * pow3(Double($0 + 1)) > Double(24 << 30) } == true)
    #expect(MemoryPlan.largest(upTo: 10, fitting: Self.machine) { _ in MemoryPlan([("too much", 1e15)]) } == nil)
  }

  @Test func moreThreadsThanTheMachineGivesAreRefusedUnlessOversubscribed() throws {
    #expect(try Self.machine.check(threads: 2, oversubscribe: false) == false)
    let error = #expect(throws: ResourceError.self) { try Self.machine.check(threads: 1000, oversubscribe: false) }
    #expect(error.map { "\($0)".contains("--threads 1000") && "\($0)".contains("2 hardware threads") && "\($0)".contains("--oversubscribe") } == true)
    #expect(try Self.machine.check(threads: 1000, oversubscribe: true) == true)
  }

  @Test func thisMachinesLimitsComeFromTheProbesRules() throws {
    let limits = try MachineProbe.limits()
    let memory = try MachineProbe.run(ProbeOptions(measure: false)).memory
    #expect(limits.usableBytes == memory.usableBytes && limits.usableThreads >= 1 && limits.usableThreads <= memory.affinityCount)
  }
}

func pow3(_ x: Double) -> Double { x * x * x }
