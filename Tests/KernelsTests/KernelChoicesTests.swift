import Foundation
import Profile
import Testing

@testable import Kernels
@testable import NumberFormats
@testable import Platform

/// A profile's choices, looked up per problem, run through the one dispatch.
@Suite struct KernelChoicesTests {
  static let features = ISAFeatures.current
  static let caches = CacheSizes(l1: 32 << 10, l2: 1 << 20, l3PerCore: 16 << 20)

  static func entry(_ m: Int, _ n: Int, _ k: Int, _ precision: Precision, _ choice: GEMMChoice, transB: Bool = false) -> GEMMEntry {
    let winner = GEMMCandidateRecord(choice: choice, status: .ok, gflops: Statistics(samples: [100]))
    return GEMMEntry(
      shape: "\(m)x\(n)x\(k)", m: m, n: n, k: k, precision: precision, transB: transB ? true : nil, winner: winner, candidates: [winner])
  }

  /// One choice per backend this CPU runs, each the winner of its own shape.
  static func choices() -> [(shape: GEMMShape, precision: Precision, choice: GEMMChoice)] {
    let kernel = Float.searchableMicroKernels(features)[0]
    var list: [(GEMMShape, Precision, GEMMChoice)] = [
      (GEMMShape(m: 33, n: 40, k: 29), .fp32, GEMMChoice(backend: .naive, precision: .fp32, threads: 2)),
      (GEMMShape(m: 64, n: 64, k: 64), .fp32, GEMMChoice(backend: .openblas, precision: .fp32, threads: 2)),
      (GEMMShape(m: 300, n: 200, k: 100), .fp32, GEMMChoice(
        backend: .native, precision: .fp32, blocking: BlockingParameters(microKernel: kernel.name, mc: 4 * kernel.mr, kc: 64, nc: 4 * kernel.nr, threads: 2))),
      (GEMMShape(m: 300, n: 200, k: 100), .bf16, GEMMChoice.fallback(precision: .bf16, threads: 2, caches: caches)),
    ]
    for (index, bf16) in (BF16MicroKernel.usable(features) + [.pairsReference]).enumerated() {
      list.append((GEMMShape(m: 96 + 40 * index, n: 80, k: 70), .bf16, GEMMChoice(
        backend: .amx, precision: .bf16, blocking: BlockingParameters(microKernel: bf16.name, mc: 2 * bf16.mr, kc: 64, nc: 2 * bf16.nr, threads: 2))))
    }
    return list
  }

  static func profile(_ entries: [GEMMEntry], fingerprint: String = "feedfacefeedface") -> Profile {
    Profile(
      kernels: KernelsSection(gemm: GEMMSection(
        fingerprint: fingerprint, strategy: "test", budgetSeconds: 1, tuningSeconds: 1, environment: ["OPENBLAS_CORETYPE": "Zen"], search: nil,
        entries: entries)),
      provenance: Provenance(runs: [Provenance.Run(commandLine: ["tune", "gemm"], gitCommit: nil, startedAt: Date(), finishedAt: Date(), stages: ["gemm"])]))
  }

  /// Written, read back (schema-validated), looked up, run, checked against the fp64 reference.
  @Test func eachBackendsChoiceRunsFromTheProfileAndVerifies() throws {
    let written = Self.choices().map { Self.entry($0.shape.m, $0.shape.n, $0.shape.k, $0.precision, $0.choice, transB: $0.precision != .fp32) }
    let data = try ProfileStore.encode(Self.profile(written))
    let read = try ProfileStore.decode(data, path: "test.json")
    let choices = try KernelChoices(profile: read, path: "test.json", machineFingerprint: "feedfacefeedface")
    #expect(choices.environment["OPENBLAS_CORETYPE"] == "Zen")
    let context = KernelContext(threads: 2)
    for (shape, precision, expected) in Self.choices() {
      let problem = GEMMProblem(shape: shape, transA: false, transB: precision != .fp32)
      let (choice, source) = choices.gemmChoice(problem, precision: precision, threads: 2, caches: Self.caches)
      #expect(choice == expected && source == .exact, "\(shape) \(precision): \(choice) from \(source)")
      var random = SeededRandom(seed: 11)
      let a = random.normal(problem.aHeight * problem.aWidth), b = random.normal(problem.bHeight * problem.bWidth)
      var c = [Float](repeating: .nan, count: shape.m * shape.n)
      if precision == .fp32 {
        try a.withUnsafeBufferPointer { ap in try b.withUnsafeBufferPointer { bp in try c.withUnsafeMutableBufferPointer { cp in
          try GEMM.run(problem, .fp32(a: MatrixPointer(ap.baseAddress!, ld: problem.aWidth), b: MatrixPointer(bp.baseAddress!, ld: problem.bWidth),
                                      c: MutableMatrixPointer(cp.baseAddress!, ld: shape.n)), choice: choice, in: context)
        } } }
      } else {
        let qa = QuantizedMatrix(a, rows: shape.m, columns: shape.k, precision: precision), qb = QuantizedMatrix(b, rows: shape.n, columns: shape.k, precision: precision)
        try c.withUnsafeMutableBufferPointer { cp in
          try GEMM.run(problem, .stored(a: qa, b: qb, c: MutableMatrixPointer(cp.baseAddress!, ld: shape.n)), choice: choice, in: context)
        }
      }
      // Against the fp64 product of what was multiplied (decoded operands for bf16).
      let (ra, rb) = precision == .fp32 ? (a, b) : (QuantizedMatrix(a, rows: shape.m, columns: shape.k, precision: precision).dequantized(),
                                                     QuantizedMatrix(b, rows: shape.n, columns: shape.k, precision: precision).dequantized())
      var worst = 0.0, scale = 0.0
      for i in 0..<shape.m {
        for j in 0..<shape.n {
          var sum = 0.0
          for p in 0..<shape.k {
            let y = problem.transB ? rb[j * shape.k + p] : rb[p * shape.n + j]
            sum += Double(ra[i * shape.k + p]) * Double(y)
          }
          worst = max(worst, abs(Double(c[i * shape.n + j]) - sum))
          scale = max(scale, abs(sum))
        }
      }
      // bf16 products round both operands of every product again (already bf16 here: exact);
      // fp32 accumulation over k is what is left.
      #expect(worst <= 1e-5 * max(scale, 1) * Double(shape.k).squareRoot(), "\(choice): max error \(worst) on values up to \(scale)")
    }
  }

  @Test func theNearestTunedShapeAnswersForAnUntunedOne() throws {
    let small = GEMMChoice(backend: .openblas, precision: .fp32, threads: 2)
    let large = GEMMChoice.fallback(precision: .bf16, threads: 2, caches: Self.caches).with(threads: 2)
    let choices = try KernelChoices(
      profile: Self.profile([Self.entry(512, 512, 512, .fp32, small), Self.entry(4096, 4096, 4096, .fp32, large)]), path: "p.json",
      machineFingerprint: "feedfacefeedface")
    let near = choices.gemm(m: 600, n: 500, k: 480, precision: .fp32)
    #expect(near.choice == small)
    if case .nearest(let tuned, let distance) = near.source { #expect(tuned == "512x512x512" && distance > 0 && distance < 0.3) } else { Issue.record("\(near.source)") }
    #expect(choices.gemm(m: 3000, n: 5000, k: 4096, precision: .fp32).choice == large)
    #expect(choices.gemm(m: 512, n: 512, k: 512, precision: .fp32).source == .exact)
    // Another transpose is farther than the same one at another size.
    #expect(choices.gemm(m: 512, n: 512, k: 512, transB: true, precision: .fp32).source != .exact)
    // No winner of that precision: none, and the documented fallback with the rank's threads.
    #expect(choices.gemm(m: 512, n: 512, k: 512, precision: .fp16).source == .none)
    let (fallback, source) = choices.gemmChoice(GEMMProblem(shape: GEMMShape(m: 8, n: 8, k: 8)), precision: .fp16, threads: 1, caches: Self.caches)
    #expect(source == .none && fallback.backend == .native && fallback.threads == 1 && fallback.blocking?.threads == 1)
    // A profile's choice runs with the rank's threads, not the tuner's.
    #expect(choices.gemmChoice(GEMMProblem(shape: GEMMShape(m: 512, n: 512, k: 512)), precision: .fp32, threads: 1, caches: Self.caches).choice.threads == 1)
  }

  @Test func choicesFromAnotherMachineAreRefusedUnlessForced() throws {
    let profile = Self.profile([Self.entry(64, 64, 64, .fp32, GEMMChoice(backend: .openblas))], fingerprint: "0000000000000001")
    let error = #expect(throws: ProfileError.self) { try KernelChoices(profile: profile, path: "other.json", machineFingerprint: "feedfacefeedface") }
    let message = error.map { "\($0)" } ?? ""
    #expect(message.contains("other.json") && message.contains("0000000000000001") && message.contains("feedfacefeedface") && message.contains("--force"))
    #expect(try KernelChoices(profile: profile, path: "other.json", machineFingerprint: "feedfacefeedface", force: true).counts.gemm == 1)
  }

  @Test func recordsOfOlderProfilesStillSayTheirChoice() throws {
    // Written before records carried `choice`: the key=value form, with the tuner's extra keys.
    let legacy = GEMMCandidateRecord(
      backend: .native, parameters: ["kernel": "avx2-6x16", "mcPanels": "16", "mc": "96", "kc": "256", "nc": "4092", "loop": "jc", "threads": "2", "journal": "reused"],
      status: .ok)
    let choice = try legacy.runnableChoice(precision: .fp32)
    #expect(choice.blocking == BlockingParameters(microKernel: "avx2-6x16", mc: 96, kc: 256, nc: 4092, threads: 2, parallelLoop: .jc))
    let openblas = try GEMMCandidateRecord(backend: .openblas, parameters: ["threads": "2", "core": "Zen"], status: .ok).runnableChoice(precision: .fp32)
    #expect(openblas == GEMMChoice(backend: .openblas, precision: .fp32, threads: 2))
    #expect(throws: ChoiceError.self) { try GEMMCandidateRecord(backend: .native, parameters: ["kc": "256"], status: .ok).runnableChoice(precision: .fp32) }
    // The key=value form prints what it parses.
    let round = try GEMMChoice(backend: .native, precision: .fp32, parameters: choice.parameters)
    #expect(round == choice)
  }
}
