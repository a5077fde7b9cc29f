import CKernels
import NumberFormats
import Platform
import Profile

/// What one GEMM multiplies: pointers into the caller's memory, laid out as the problem's
/// transposes say. The caller keeps the memory alive for the call.
public enum GEMMOperands: @unchecked Sendable {
  /// fp32 in memory: A (M×K, K×M when transA), B (K×N, N×K when transB), C (M×N).
  case fp32(a: MatrixPointer<Float>, b: MatrixPointer<Float>, c: MutableMatrixPointer<Float>)
  case fp64(a: MatrixPointer<Double>, b: MatrixPointer<Double>, c: MutableMatrixPointer<Double>)
  /// Stored low-precision operands in the TN layout: A as M×K rows, B as N×K rows (the problem has
  /// transA = false, transB = true); C in fp32.
  case stored(a: QuantizedMatrix, b: QuantizedMatrix, c: MutableMatrixPointer<Float>)
  /// fp32 A in memory (as transA says) and B pre-packed by this plan (`GEMMPlan.pack(b:)`).
  case packed(a: MatrixPointer<Float>, b: PackedOperand, c: MutableMatrixPointer<Float>)

  var kind: String {
    switch self {
    case .packed: "a pre-packed B"
    case .fp32: "fp32 operands in memory"
    case .fp64: "fp64 operands in memory"
    case .stored(let a, _, _): "stored \(a.precision) operands"
    }
  }
}

extension GEMMBackend {
  /// Why this backend cannot compute `precision` on a CPU with `features`; nil when it can.
  public func unavailability(precision: Precision, features: ISAFeatures = .current) -> String? {
    switch self {
    case .naive:
      return nil
    case .openblas:
      return precision == .fp32 || precision == .fp64
        ? nil : "OpenBLAS's sgemm/dgemm take fp32 or fp64 operands, not \(precision)"
    case .native:
      let kernels = precision == .fp64 ? Double.usableMicroKernels(features).count : Float.usableMicroKernels(features).count
      return kernels > 0 ? nil : "no micro-kernel of this build runs on this CPU (every x86-64 has the SSE2 one)"
    case .blis:
      if let failure = BLISGEMM.status.failure { return failure }
      return precision == .fp32 || precision == .fp64 ? nil : "BLIS's typed gemm takes fp32 or fp64 operands, not \(precision)"
    case .onednn:
      if let failure = OneDNNGEMM.status.failure { return failure }
      return OneDNNGEMM.precisions.contains(precision)
        ? nil : "oneDNN multiplies fp32 (dnnl_sgemm), bf16 and fp16 (matmul), not \(precision)"
    case .amx:
      if BF16MicroKernel.usable(features).isEmpty {
        return "needs AMX-BF16 (amx_tile, amx_bf16 with avx512f) or AVX512-BF16, which this CPU does not have usable"
      }
      return Self.amxPrecisions.contains(precision)
        ? nil
        : "amx multiplies bf16: its operands must be bf16, or MX, whose power-of-two block scales keep every value exact in bf16 (not \(precision))"
    }
  }

  /// The amx backend's blocking when none is given: the fastest usable bf16 kernel, MC = 192 rows,
  /// KC = 512 (whole AMX chunks), NC = 1536 (B's bf16 block, 1.5 MiB, in a Sapphire Rapids L2).
  public static func amxBlocking(features: ISAFeatures = .current, threads: Int) -> BlockingParameters? {
    guard let kernel = BF16MicroKernel.usable(features).first else { return nil }
    return BlockingParameters(
      microKernel: kernel.name, mc: (192 + kernel.mr - 1) / kernel.mr * kernel.mr, kc: 512, nc: (1536 + kernel.nr - 1) / kernel.nr * kernel.nr,
      threads: threads)
  }
}

/// A GEMM choice resolved and checked for one problem: every question that can fail (the backend
/// and precision on this CPU, the micro-kernel's name, the blocking against its MR and NR, the
/// threads against the context) is answered here, once, so that `run` cannot fail and costs
/// nothing but the product. The one dispatch from a `GEMMChoice` to a kernel.
public struct GEMMPlan: Sendable {
  public let problem: GEMMProblem
  public let choice: GEMMChoice
  let kernel: Kernel

  enum Kernel: @unchecked Sendable {
    case naive
    case openblas
    case native32(MicroKernel<Float>, BlockingParameters)
    case native64(MicroKernel<Double>, BlockingParameters)
    case bf16(BF16MicroKernel, BlockingParameters)
    case blis
    case onednnSGEMM
    case onednnMatmul(OneDNNMatmul)
  }

  /// Whether the kernel rounds fp32 operands to its precision itself (the bf16 kernels while
  /// packing, oneDNN's matmul into its bf16/fp16 copies): a caller need not round them first.
  public var roundsFP32Operands: Bool {
    switch kernel {
    case .bf16, .onednnMatmul: true
    default: false
    }
  }

  /// What a library runs for this plan: oneDNN's implementation ("brg:avx512_core_bf16") or
  /// BLIS's sub-configuration ("zen3"); nil for the others.
  public var implementation: String? {
    switch kernel {
    case .onednnMatmul(let matmul): matmul.implementation
    case .blis: BLISGEMM.status.selected
    default: nil
    }
  }

  /// - Throws: `KernelError` when the choice cannot run here, naming why and what can.
  public init(_ problem: GEMMProblem, choice: GEMMChoice, features: ISAFeatures = .current) throws {
    self.problem = problem
    self.choice = choice
    let backend = choice.backend
    // The portable bf16 kernels (for tests of the packing and driver) run without a bf16 unit.
    let portable = backend == .amx && choice.blocking.flatMap { BF16MicroKernel.named($0.microKernel) }?.requires.isEmpty == true
    if portable, !GEMMBackend.amxPrecisions.contains(choice.precision) {
      throw KernelError.unsupported(backend: backend.rawValue, reason: "amx multiplies bf16 operands, not \(choice.precision)")
    }
    if !portable, let reason = backend.unavailability(precision: choice.precision, features: features) {
      throw KernelError.unsupported(backend: backend.rawValue, reason: reason)
    }
    guard choice.threads >= 1 else { throw KernelError.invalidParameters("threads must be at least 1 (got \(choice.threads))") }
    switch backend {
    case .naive:
      kernel = .naive
    case .openblas:
      kernel = .openblas
    case .blis:
      kernel = .blis
    case .onednn:
      kernel = choice.precision == .fp32 ? .onednnSGEMM : .onednnMatmul(try OneDNNMatmul(problem, precision: choice.precision))
    case .native:
      guard let blocking = choice.blocking else { throw KernelError.invalidParameters("the native backend needs blocking parameters") }
      if choice.precision == .fp64 {
        let micro = try Self.microKernel(Double.self, named: blocking.microKernel, features: features)
        if let reason = blocking.problem(mr: micro.mr, nr: micro.nr) { throw KernelError.invalidParameters(reason) }
        kernel = .native64(micro, blocking)
      } else {
        let micro = try Self.microKernel(Float.self, named: blocking.microKernel, features: features)
        if let reason = blocking.problem(mr: micro.mr, nr: micro.nr) { throw KernelError.invalidParameters(reason) }
        kernel = .native32(micro, blocking)
      }
    case .amx:
      guard let blocking = choice.blocking else { throw KernelError.invalidParameters("the amx backend needs blocking parameters") }
      guard let micro = BF16MicroKernel.named(blocking.microKernel), micro.isUsable(on: features) || micro.requires.isEmpty else {
        throw KernelError.unknownMicroKernel(name: blocking.microKernel, known: BF16MicroKernel.usable(features).map(\.name))
      }
      if let reason = blocking.problem(mr: micro.mr, nr: micro.nr) { throw KernelError.invalidParameters(reason) }
      if micro.usesTiles, ck_request_amx_permission() != 0 {
        throw KernelError.unsupported(backend: "amx", reason: "Linux refused the AMX tile-data permission (arch_prctl ARCH_REQ_XCOMP_PERM)")
      }
      kernel = .bf16(micro, blocking)
    }
  }

  /// The micro-kernel `name`, if this CPU can run it.
  public static func microKernel<T: GEMMScalar>(_ type: T.Type, named name: String, features: ISAFeatures = .current) throws -> MicroKernel<T> {
    guard let kernel = T.microKernel(named: name), kernel.isUsable(on: features) else {
      throw KernelError.unknownMicroKernel(name: name, known: T.usableMicroKernels(features).map(\.name))
    }
    return kernel
  }

  /// Throws unless `operands` are what this plan multiplies and `context` has its threads.
  public func check(_ operands: GEMMOperands, in context: KernelContext) throws {
    try context.check(threads: choice.threads, for: "\(choice.backend.rawValue) GEMM")
    let takes: Bool
    switch (kernel, operands) {
    // fp32 operands carry any precision but fp64 (values already rounded to it, e.g. decoded).
    case (.naive, .fp32), (.openblas, .fp32): takes = choice.precision != .fp64
    case (.naive, .fp64), (.openblas, .fp64), (.blis, .fp64): takes = choice.precision == .fp64
    case (.blis, .fp32), (.onednnSGEMM, .fp32): takes = choice.precision == .fp32
    case (.onednnMatmul, .fp32): takes = true
    case (.native64, .fp64): takes = true
    case (.native32, .fp32), (.bf16, .fp32): takes = true
    case (.native32, .packed(_, let b, _)):
      try checkPacked(b)
      takes = true
    case (.native32, .stored(let a, let b, _)), (.bf16, .stored(let a, let b, _)), (.onednnMatmul, .stored(let a, let b, _)):
      let p = problem
      guard !p.transA && p.transB else {
        throw KernelError.invalidParameters("stored operands run in the TN layout (A as M×K rows, B as N×K rows): the problem needs transA = false, transB = true")
      }
      guard a.rows == p.shape.m, a.columns == p.shape.k, b.rows == p.shape.n, b.columns == p.shape.k else {
        throw KernelError.invalidParameters("stored A is \(a.rows)×\(a.columns) and B \(b.rows)×\(b.columns); \(p.shape) needs A \(p.shape.m)×\(p.shape.k) and B \(p.shape.n)×\(p.shape.k)")
      }
      takes = true
    default: takes = false
    }
    guard takes else { throw KernelError.invalidParameters("\(choice) for \(choice.precision) does not take \(operands.kind)") }
  }

  /// C = α·op(A)·op(B) + β·C on `context`'s threads. Call `check` once first: operands this plan
  /// does not take stop the program.
  public func run(_ operands: GEMMOperands, in context: KernelContext) {
    let p = problem
    do {
      switch (kernel, operands) {
      case (.naive, .fp32(let a, let b, let c)): ReferenceGEMM.run(p, a: a, b: b, c: c)
      case (.naive, .fp64(let a, let b, let c)): ReferenceGEMM.run(p, a: a, b: b, c: c)
      case (.openblas, .fp32(let a, let b, let c)):
        OpenBLASGEMM.setThreads(choice.threads)
        OpenBLASGEMM.run(p, a: a, b: b, c: c)
      case (.openblas, .fp64(let a, let b, let c)):
        OpenBLASGEMM.setThreads(choice.threads)
        OpenBLASGEMM.run(p, a: a, b: b, c: c)
      case (.native32(let micro, let blocking), .fp32(let a, let b, let c)):
        try NativeGEMM.drive(p, a: DenseSource.a(a, p), b: DenseSource.b(b, p), c: c, parameters: blocking, kernel: micro, context: context)
      case (.native64(let micro, let blocking), .fp64(let a, let b, let c)):
        try NativeGEMM.drive(p, a: DenseSource.a(a, p), b: DenseSource.b(b, p), c: c, parameters: blocking, kernel: micro, context: context)
      case (.native32(let micro, let blocking), .packed(let a, let b, let c)):
        try NativeGEMM.drive(p, a: DenseSource.a(a, p), b: b, c: c, parameters: blocking, kernel: micro, context: context)
      case (.native32(let micro, let blocking), .stored(let a, let b, let c)):
        try NativeGEMM.drive(p, a: QuantizedSource(a), b: QuantizedSource(b), c: c, parameters: blocking, kernel: micro, context: context)
      case (.bf16(let micro, let blocking), .fp32(let a, let b, let c)):
        try BF16GEMM.drive(p, a: DenseSource.a(a, p), b: DenseSource.b(b, p), c: c, parameters: blocking, kernel: micro, context: context)
      case (.bf16(let micro, let blocking), .stored(let a, let b, let c)):
        try BF16GEMM.drive(p, a: QuantizedSource(a), b: QuantizedSource(b), c: c, parameters: blocking, kernel: micro, context: context)
      case (.blis, .fp32(let a, let b, let c)):
        context.library(threads: choice.threads) { BLISGEMM.run(p, a: a, b: b, c: c, threads: choice.threads) }
      case (.blis, .fp64(let a, let b, let c)):
        context.library(threads: choice.threads) { BLISGEMM.run(p, a: a, b: b, c: c, threads: choice.threads) }
      case (.onednnSGEMM, .fp32(let a, let b, let c)):
        context.library(threads: choice.threads) { OneDNNGEMM.run(p, a: a, b: b, c: c, threads: choice.threads) }
      case (.onednnMatmul(let matmul), .fp32(let a, let b, let c)):
        context.library(threads: choice.threads, scratchBytes: matmul.scratchBytes) { matmul.run(a: a, b: b, c: c, threads: choice.threads, scratch: $0) }
      case (.onednnMatmul(let matmul), .stored(let a, let b, let c)):
        // bf16 operands are read in place; others are decoded and converted into the scratch.
        let inPlace = matmul.precision == .bf16 && a.bf16Bits != nil && b.bf16Bits != nil
        let bytes = inPlace ? 0 : matmul.scratchBytes
        context.library(threads: choice.threads, scratchBytes: bytes) { matmul.run(a: a, b: b, c: c, threads: choice.threads, scratch: $0) }
      default:
        preconditionFailure("\(choice) does not take \(operands.kind): call check first")
      }
    } catch {
      preconditionFailure("a checked GEMM plan failed: \(error)")
    }
  }
}

extension GEMM {
  /// Plans, checks and runs one GEMM: for a single call. A caller that repeats a shape keeps the
  /// plan and calls `run` on it.
  public static func run(_ problem: GEMMProblem, _ operands: GEMMOperands, choice: GEMMChoice, in context: KernelContext) throws {
    let plan = try GEMMPlan(problem, choice: choice)
    try plan.check(operands, in: context)
    plan.run(operands, in: context)
  }
}
