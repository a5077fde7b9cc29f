import Platform
import Foundation
import Profile

/// A complete, plausible machine section built by hand, so profile tests need no probe.
func sampleMachine(fingerprint: String = "0123456789abcdef") -> MachineSection {
  let stats = Statistics(samples: [98.5, 100.2, 101.0])
  return MachineSection(
    hostname: "node-a", fingerprint: fingerprint, fingerprintFacts: ["cores=2", "cpu=AuthenticAMD|AMD EPYC|25/1/1"],
    cpu: CPUSection(
      vendor: "AuthenticAMD", modelName: "AMD EPYC", family: 25, model: 1, stepping: 1, hypervisor: true,
      features: [
        ISAFeatureState(name: "avx2", present: true, usable: true),
        ISAFeatureState(name: "avx512f", present: true, usable: false, reason: "the OS has not enabled AVX-512 state"),
      ]),
    topology: TopologySection(
      source: "hwloc 2.9.0, this system", packages: 1, numaNodes: [NUMANode(index: 0, memoryBytes: 4 << 30, cpus: "0-1")],
      cores: 2, hardwareThreads: 2,
      caches: [Cache(level: 3, kind: .unified, sizeBytes: 32 << 20, lineSizeBytes: 64, associativity: 16, sharedByCores: 2, instances: 1)]),
    memory: MemorySection(
      totalBytes: 24 << 30, numaTotalBytes: 4 << 30, cgroupMemoryLimitBytes: nil, cgroupCPUQuotaCores: nil,
      affinityCPUs: "0-1", affinityCount: 2, usableBytes: 24 << 30, limitedBy: .physical, explanation: "physical"),
    pciDevices: [PCIDevice(busID: "0000:00:03.0", kind: .nic, classID: 0x0200, vendorID: 0x1af4, deviceID: 0x1041, vendorName: nil, deviceName: nil, osDevices: ["eth0"])],
    gpus: [],
    blas: BLASSection(
      library: "OpenBLAS", version: "0.3.21", config: "OpenBLAS 0.3.21 DYNAMIC_ARCH", coreName: "Prescott", threads: 2,
      coreISA: "sse3", cpuISA: "avx2+fma", mismatch: BLASMismatch(estimatedSlowdown: 4, advice: "OPENBLAS_CORETYPE=Zen")),
    peaks: [Peak(precision: "fp32", isa: "avx2+fma", instruction: "vfmadd231ps ymm", perCoreGflops: stats, allCoresGflops: stats, threads: 2)],
    peaksNotMeasured: [PeakNotMeasured(precision: "bf16", isa: "amx-bf16", reason: "amx_tile not present")],
    memoryBandwidth: Bandwidth(kernel: "triad", triadGBPerSecond: Statistics(samples: [24, 25]), arrayBytes: 128 << 20, threads: 2, sizing: "4x last-level cache"),
    environment: EnvironmentFacts(frequencyGovernor: nil, smtActive: false, transparentHugePages: "madvise", variables: ["OMP_NUM_THREADS": "2"]),
    warnings: [ProbeWarning(code: "blas-core-mismatch", message: "Prescott on an AVX2 CPU")],
    probeSeconds: 1.5, quick: true)
}

func sampleRun(_ seconds: TimeInterval = 0) -> Provenance.Run {
  Provenance.Run(
    commandLine: ["tune", "probe"], gitCommit: "abc", startedAt: Date(timeIntervalSince1970: 1_800_000_000 + seconds),
    finishedAt: Date(timeIntervalSince1970: 1_800_000_010 + seconds), stages: ["probe"])
}

/// A fresh directory under the system's temporary directory.
func temporaryDirectory() throws -> String {
  let path = NSTemporaryDirectory() + "scaletune-tests-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// The JSON text of a profile holding `sampleMachine()`.
func sampleProfileJSON() throws -> String {
  let profile = Profile(machine: sampleMachine(), provenance: Provenance(runs: [sampleRun()]))
  return String(decoding: try ProfileStore.encode(profile), as: UTF8.self)
}

/// A small attention section, as `tune attention` writes it.
func sampleAttention() -> AttentionSection {
  let winner = AttentionCandidateRecord(
    backend: .flash, parameters: ["br": "128", "bc": "128"], status: .ok, forwardGflops: Statistics(samples: [70, 72]),
    backwardGflops: Statistics(samples: [20]), percentOfGEMM: 47, maxError: 1e-6)
  return AttentionSection(
    fingerprint: "0123456789abcdef", strategy: "model-seeded local search", budgetSeconds: 60, tuningSeconds: 30, gemmGflops: 150,
    gemmSource: "kernels.gemm 2048x2048x2048 fp32",
    entries: [AttentionEntry(shape: "1x8x2048x64 causal", batch: 1, heads: 8, kvHeads: 8, seq: 2048, headDim: 64, causal: true, precision: .fp32,
                             winner: winner, candidates: [winner, AttentionCandidateRecord(backend: .gemm, parameters: [:], status: .pruned, reason: "not built yet")])])
}
