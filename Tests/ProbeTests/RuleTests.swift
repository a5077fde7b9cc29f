import Foundation
import Testing

@testable import Platform
@testable import Probe
@testable import Profile

/// Rules checked on recorded inputs from CPUs other than the one running the tests.
@Suite struct RuleTests {
  /// cpuid bits for a few CPU generations (leaf 1 ecx/edx, leaf 7 ebx/ecx/edx, leaf 7.1 eax).
  static func readings(
    avx2: Bool = true, avx512: Bool = false, bf16: Bool = false, amx: Bool = false,
    xcr0: UInt64 = 0x2e7, amxPermission: Bool = true, vendor: String = "GenuineIntel"
  ) -> CPUIDReadings {
    var ecx1: UInt32 = (1 << 20) | (1 << 27) | (1 << 28) | (1 << 29)
    if avx2 { ecx1 |= 1 << 12 }
    var ebx7: UInt32 = avx2 ? 1 << 5 : 0
    if avx512 { ebx7 |= (1 << 16) | (1 << 30) | (1 << 31) }
    var edx7: UInt32 = 0
    if amx { edx7 |= (1 << 22) | (1 << 24) | (1 << 25) }
    let sub1: UInt32 = bf16 ? 1 << 5 : 0
    return CPUIDReadings(
      vendor: vendor, brand: "test", leaf1: (0x806F8, ecx1, 1 << 26), leaf7: (ebx7, 0, edx7, sub1),
      xcr0: xcr0, amxPermission: amxPermission)
  }

  struct BLASCase: CustomTestStringConvertible, Sendable {
    var name: String
    var cpu: CPUIDReadings
    var core: String
    var version: String
    var advice: String?
    var slowdown: Double?
    var testDescription: String { "\(name): core \(core)" }
  }

  static let blasCases: [BLASCase] = [
    // Debian's 0.3.21 on a Sapphire Rapids Xeon: does not know the CPU, runs Prescott kernels.
    BLASCase(name: "SPR on 0.3.21", cpu: readings(avx512: true, bf16: true, amx: true, xcr0: 0x602e7), core: "Prescott", version: "0.3.21", advice: "OPENBLAS_CORETYPE=Cooperlake", slowdown: 8),
    BLASCase(name: "SPR on 0.3.26", cpu: readings(avx512: true, bf16: true, amx: true, xcr0: 0x602e7), core: "Prescott", version: "0.3.26", advice: "OPENBLAS_CORETYPE=SapphireRapids", slowdown: 8),
    BLASCase(name: "SPR on SkylakeX kernels", cpu: readings(avx512: true, bf16: true, amx: true, xcr0: 0x602e7), core: "SkylakeX", version: "0.3.21", advice: "OPENBLAS_CORETYPE=Cooperlake", slowdown: 1),
    BLASCase(name: "Cooper Lake fits", cpu: readings(avx512: true, bf16: true), core: "Cooperlake", version: "0.3.21", advice: nil, slowdown: nil),
    BLASCase(name: "Skylake-X on Haswell kernels", cpu: readings(avx512: true), core: "Haswell", version: "0.3.21", advice: "OPENBLAS_CORETYPE=SkylakeX", slowdown: 2),
    BLASCase(name: "Zen 3 fits", cpu: readings(vendor: "AuthenticAMD"), core: "Zen", version: "0.3.21", advice: nil, slowdown: nil),
    BLASCase(name: "Zen 3 on Prescott", cpu: readings(vendor: "AuthenticAMD"), core: "Prescott", version: "0.3.21", advice: "OPENBLAS_CORETYPE=Zen", slowdown: 4),
    // AVX-512 present but not enabled by the OS: Haswell kernels are the right ones.
    BLASCase(name: "AVX-512 disabled by OS", cpu: readings(avx512: true, xcr0: 0x7), core: "Haswell", version: "0.3.21", advice: nil, slowdown: nil),
    BLASCase(name: "AMX without permission", cpu: readings(avx512: true, bf16: true, amx: true, xcr0: 0x602e7, amxPermission: false), core: "Cooperlake", version: "0.3.26", advice: nil, slowdown: nil),
    BLASCase(name: "unknown core", cpu: readings(), core: "Loongson3R5", version: "0.3.21", advice: nil, slowdown: nil),
  ]

  @Test(arguments: blasCases)
  func blasMismatchRule(_ c: BLASCase) {
    let result = BLASRule.mismatch(
      coreName: c.core, features: ISAFeatures(c.cpu), vendor: c.cpu.vendor, libraryVersion: c.version)
    #expect(result?.mismatch.advice == c.advice)
    #expect(result?.mismatch.estimatedSlowdown == c.slowdown)
    if let message = result?.message {
      #expect(message.contains(c.core) && message.contains(c.advice ?? "-"))
    }
  }

  @Test func avx512PresentButNotEnabledIsNotUsable() {
    let features = ISAFeatures(Self.readings(avx512: true, xcr0: 0x7))
    let avx512 = features["avx512f"]!
    #expect(avx512.present && !avx512.usable)
    #expect(avx512.reason?.contains("XCR0") == true)
    #expect(features.usable("avx2"))
  }

  @Test func amxNeedsTheLinuxPermission() {
    let denied = ISAFeatures(Self.readings(avx512: true, bf16: true, amx: true, xcr0: 0x602e7, amxPermission: false))
    #expect(denied["amx_tile"]!.present && !denied["amx_tile"]!.usable)
    #expect(denied["amx_tile"]!.reason?.contains("arch_prctl") == true)
    let granted = ISAFeatures(Self.readings(avx512: true, bf16: true, amx: true, xcr0: 0x602e7))
    #expect(granted.usable("amx_bf16") && granted.usable("avx512_bf16"))
  }

  @Test(arguments: [
    (UInt32(0x000806F8), 6, 0x8F, 8),  // Sapphire Rapids
    (UInt32(0x00A00F11), 25, 0x01, 1),  // Zen 3 Milan
    (UInt32(0x00050657), 6, 0x55, 7),  // Cascade Lake
    (UInt32(0x00A10F11), 25, 0x11, 1),  // Zen 4 Genoa
  ])
  func signatureDecoding(eax: UInt32, family: Int, model: Int, stepping: Int) {
    var r = Self.readings()
    r.leaf1.eax = eax
    #expect(r.signature.family == family && r.signature.model == model && r.signature.stepping == stepping)
  }

  @Test func peakPlanSkipsWhatTheCPUCannotRunAndSaysWhy() {
    let plan = PeakUnit.plan(for: ISAFeatures(Self.readings(vendor: "AuthenticAMD")))
    #expect(plan.run.map(\.isa) == ["avx2+fma", "avx2+fma"])
    #expect(plan.skipped.contains { $0.isa == "amx-bf16" && $0.reason.contains("amx_tile not present") })
    let spr = PeakUnit.plan(for: ISAFeatures(Self.readings(avx512: true, bf16: true, amx: true, xcr0: 0x602e7)))
    #expect(spr.run.map(\.isa) == ["avx512f", "avx512f", "avx512_bf16", "amx-bf16"])
    #expect(spr.skipped.map(\.isa) == ["avx512_fp16"])
  }

  @Test func memoryLimitNamesTheBindingLimit() {
    let vm = MachineProbe.memoryLimits(total: 24 << 30, numaTotal: 4 << 30, cgroupMemory: nil, cgroupCPU: nil, binding: ("0-1", 2))
    #expect(vm.limitedBy == .physical && vm.usableBytes == 24 << 30)
    #expect(vm.explanation.contains("4.0 GiB") && vm.explanation.contains("does not bind"))
    let container = MachineProbe.memoryLimits(total: 64 << 30, numaTotal: 64 << 30, cgroupMemory: 8 << 30, cgroupCPU: 2, binding: ("0-7", 8))
    #expect(container.limitedBy == .cgroup && container.usableBytes == 8 << 30)
  }

  @Test func scalingWarningFiresOnlyWhenCoresDoNotAdd() {
    func peak(_ one: Double, _ all: Double) -> Peak {
      Peak(precision: "fp32", isa: "avx2+fma", instruction: "x", perCoreGflops: Statistics(samples: [one]), allCoresGflops: Statistics(samples: [all]), threads: 2)
    }
    #expect(MachineProbe.scalingWarnings([peak(100, 195)]).isEmpty)
    #expect(MachineProbe.scalingWarnings([peak(100, 101)]).first?.code == "poor-core-scaling")
  }
}
