import Kernels
import NumberFormats
import Platform
import Profile

extension GEMMRole {
  /// The formats of A and B under fp8 (E4M3 for weights and activations, E5M2 for gradients).
  var fp8Formats: (a: MiniFloatFormat, b: MiniFloatFormat) {
    switch self {
    case .forward: (.e4m3, .e4m3)
    case .inputGradient: (.e5m2, .e4m3)
    case .weightGradient: (.e4m3, .e5m2)
    }
  }
}

/// A rank's GEMMs under its precision policy: each product's operands rounded to the policy's
/// format (bf16, fp16, or fp8 with a per-tensor scale undone by α), then run on the backend the
/// profile chose for that shape and precision (`KernelChoices.gemmChoice`), its plan kept for the
/// next call. Accumulation is always fp32 (fp64 for a Double model).
final class GEMMRunner<T: TrainScalar> {
  let context: KernelContext
  let choices: KernelChoices
  let caches: CacheSizes
  let policy: TrainingPrecision
  let fp8Scaling: FP8Scaling
  private var plans: [Key: GEMMPlan] = [:]
  /// Per shape: the choice it ran with and where the choice came from (for `train` to print).
  private(set) var applied: [String: String] = [:]
  /// Every product run, in order, when the options ask for it (`TrainingOptions.logsGEMMs`): what
  /// a test holds against the list the tuner tunes.
  private(set) var log: [GEMMShapes.Product]?
  private let scratchA = MemorySlot(), scratchB = MemorySlot(), codes = MemorySlot()
  private var delayed: [String: DelayedScaling] = [:]
  private let e4m3 = MiniFloatCodec(.e4m3), e5m2 = MiniFloatCodec(.e5m2)

  struct Key: Hashable {
    var m: Int, n: Int, k: Int, transA: Bool, transB: Bool, precision: Precision, beta: Double
  }

  init(context: KernelContext, choices: KernelChoices, caches: CacheSizes, policy: TrainingPrecision, fp8Scaling: FP8Scaling, logs: Bool = false) {
    log = logs ? [] : nil
    self.context = context
    self.choices = choices
    self.caches = caches
    self.policy = T.self == Double.self ? .fp32 : policy
    self.fp8Scaling = fp8Scaling
  }

  /// Bytes of its rounding buffers and of the context's library scratch, where a library (oneDNN)
  /// converts operands itself (the memory account reads them).
  var scratchBytes: Int { scratchA.bytes + scratchB.bytes + codes.bytes + context.libraryScratchBytes }

  /// The precision a GEMM of `role` computes in under the policy.
  func precision(_ role: GEMMRole) -> Precision {
    T.self == Double.self ? .fp64 : policy.gemmPrecision(forward: role == .forward)
  }

  /// C = op(A)·op(B) + β·C, with A (M×K, or K×M when transA) and B (K×N, or N×K when transB) row
  /// major with their leading dimensions. `name` identifies the tensor pair for delayed scaling.
  @_specialize(where T == Float)
  func run(
    _ name: String, _ role: GEMMRole, m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false,
    a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int, c: UnsafeMutablePointer<T>, ldc: Int, beta: Double = 0
  ) {
    let precision = precision(role)
    log?.append(GEMMShapes.Product(role: "\(name) \(role.rawValue)", kind: role, m: m, n: n, k: k, transA: transA, transB: transB, beta: beta))
    let problem0 = GEMMProblem(shape: GEMMShape(m: m, n: n, k: k), transA: transA, transB: transB, beta: beta)
    var (a, lda, b, ldb) = (a, lda, b, ldb)
    var alpha = 1.0
    if T.self == Float.self && policy != .fp32 {
      let plan0 = plan(problem0, precision: precision)
      if !plan0.roundsFP32Operands {
        let (fa, fb) = role.fp8Formats
        let ra = round(
          a, rows: problem0.aHeight, columns: problem0.aWidth, ld: lda, into: scratchA, format: fa, kAlongRows: !transA, key: name + ".a." + role.rawValue)
        let rb = round(
          b, rows: problem0.bHeight, columns: problem0.bWidth, ld: ldb, into: scratchB, format: fb, kAlongRows: transB, key: name + ".b." + role.rawValue)
        a = ra.pointer
        b = rb.pointer
        lda = problem0.aWidth
        ldb = problem0.bWidth
        alpha = 1 / (Double(ra.scale) * Double(rb.scale))
      }
    }
    var problem = problem0
    problem.alpha = alpha
    let plan = plan(problem, precision: precision)
    plan.run(T.operands(a: MatrixPointer(a, ld: lda), b: MatrixPointer(b, ld: ldb), c: MutableMatrixPointer(c, ld: ldc)), in: context)
  }

  private func plan(_ problem: GEMMProblem, precision: Precision) -> GEMMPlan {
    let key = Key(
      m: problem.shape.m, n: problem.shape.n, k: problem.shape.k, transA: problem.transA, transB: problem.transB, precision: precision,
      beta: problem.beta)
    if let plan = plans[key] {
      if plan.problem == problem { return plan }
      // Only α differs (fp8's scales): the same choice, planned for it.
      if let replanned = try? GEMMPlan(problem, choice: plan.choice) { return replanned }
    }
    let found = choices.gemmChoice(problem, precision: precision, threads: context.threads, caches: caches)
    var made: GEMMPlan
    do {
      made = try GEMMPlan(problem, choice: found.choice)
    } catch {
      // A choice that plans nowhere (cannot happen for the fallback on x86-64) takes the reference.
      made = try! GEMMPlan(problem, choice: GEMMChoice(backend: .naive, precision: precision, threads: 1))
    }
    let label = "\(problem.shape) \(problem.transA ? "T" : "N")\(problem.transB ? "T" : "N") \(precision)"
    applied[label] = "\(made.choice) (\(found.source == .none ? "default" : "profile: \(found.source)"))"
    plans[key] = made
    return made
  }

  /// Rounds a rows × columns matrix (ld apart) to the policy's format into `buffer`, contiguous;
  /// returns it and the scale its values carry (1 but for fp8 scaled per tensor). `kAlongRows`:
  /// the product's K runs along each row (else down each column), which MX's blocks follow.
  @_specialize(where T == Float)
  private func round(
    _ source: UnsafePointer<T>, rows: Int, columns: Int, ld: Int, into buffer: MemorySlot, format: MiniFloatFormat, kAlongRows: Bool, key: String
  ) -> (pointer: UnsafePointer<T>, scale: Float) {
    let count = rows * columns
    let out = buffer.floats(count)
    let input = UnsafeRawPointer(source).assumingMemoryBound(to: Float.self)
    for r in 0..<rows { (out + r * columns).update(from: input + r * ld, count: columns) }
    var scale: Float = 1
    switch policy {
    case .fp32: break
    case .bf16:
      for i in 0..<count { out[i] = Float(bitPattern: UInt32(BFloat16.round(out[i].bitPattern)) << 16) }
    case .fp16:
      for i in 0..<count { out[i] = Float(Float16(out[i])) }
    case .fp8:
      let codec = format == .e4m3 ? e4m3 : e5m2
      if fp8Scaling == .mx {
        codec.roundTripBlocks(out, rows: rows, columns: columns, alongRows: kAlongRows)
        break
      }
      let amax = TensorScaling.amax(UnsafeBufferPointer(start: out, count: count))
      if fp8Scaling == .delayed {
        var state = delayed[key] ?? DelayedScaling(format: format, historyLength: Recipe.fp8AmaxHistory)
        // The first step has no history: it scales by its own amax, as Transformer Engine does.
        if state.history.isEmpty { state.record(amax: amax) }
        scale = state.scale
        state.record(amax: amax)
        delayed[key] = state
      } else {
        scale = TensorScaling.currentScale(amax: amax, format: format)
      }
      let bytes = codes.codes(count)
      codec.encode(UnsafeBufferPointer(start: out, count: count), scale: scale, into: UnsafeMutableBufferPointer(start: bytes, count: count))
      codec.decode(UnsafeBufferPointer(start: bytes, count: count), into: UnsafeMutableBufferPointer(start: out, count: count))
    }
    return (UnsafeRawPointer(out).assumingMemoryBound(to: T.self), scale)
  }
}


extension MemorySlot {
  /// At least `needed` bytes (the pointer to what is there already, for 0).
  func raw(_ needed: Int) -> UnsafeMutableRawPointer { memory(bytes: needed) }
  func floats(_ count: Int) -> UnsafeMutablePointer<Float> { raw(count * 4).bindMemory(to: Float.self, capacity: count) }
  func codes(_ count: Int) -> UnsafeMutablePointer<UInt8> { raw(count).bindMemory(to: UInt8.self, capacity: count) }
}
