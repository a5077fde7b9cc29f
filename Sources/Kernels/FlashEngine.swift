import Profile
import CKernels
import Platform

/// The flash forward's two block products on one kind of micro-kernel. The forward always packs
/// fp32 panels; `operand` turns them into what the kernel reads — the panels themselves for the
/// fp32 SIMD kernels, a bf16 copy in the kernel's layout (depth padded with zeros to its k group)
/// for the AMX and AVX512-BF16 kernels, whose products then take bf16 operands (probabilities
/// included) and accumulate in fp32, while the softmax stays fp32.
enum FlashEngine: @unchecked Sendable {
  case fp32(MicroKernel<Float>)
  case bf16(BF16MicroKernel)

  /// The kernel FlashParameters.microKernel names (an fp32 or a bf16 one), or the default fp32 one.
  static func named(_ name: String?) throws -> FlashEngine {
    let features = ISAFeatures.current
    let usable = Float.usableMicroKernels(features)
    if let name, let kernel = BF16MicroKernel.named(name) {
      guard kernel.isUsable(on: features) else { throw KernelError.unsupported(backend: "flash", reason: "\(name) needs \(kernel.requires.joined(separator: ", "))") }
      if kernel.usesTiles, ck_request_amx_permission() != 0 {
        throw KernelError.unsupported(backend: "flash", reason: "Linux refused the AMX tile-data permission (arch_prctl ARCH_REQ_XCOMP_PERM)")
      }
      return .bf16(kernel)
    }
    if let name {
      guard let kernel = usable.first(where: { $0.name == name }) else {
        throw KernelError.unknownMicroKernel(name: name, known: usable.map(\.name) + BF16MicroKernel.usable(features).map(\.name))
      }
      return .fp32(kernel)
    }
    return .fp32(try defaultKernel(features))
  }

  /// The fp32 kernel flash runs when none is named: a 6×16 where one runs (its tiles suit the
  /// softmax's eight-query vectors), else the widest searchable one.
  static func defaultKernel(_ features: ISAFeatures) throws -> MicroKernel<Float> {
    let preferred = Float.searchableMicroKernels(features)
    guard let kernel = preferred.first(where: { $0.name.hasSuffix("6x16") }) ?? preferred.first else {
      throw KernelError.unsupported(backend: "flash", reason: "no fp32 micro-kernel runs on this CPU")
    }
    return kernel
  }

  var mr: Int {
    switch self {
    case .fp32(let k): k.mr
    case .bf16(let k): k.mr
    }
  }

  var nr: Int {
    switch self {
    case .fp32(let k): k.nr
    case .bf16(let k): k.nr
    }
  }

  /// Depths are padded to a multiple of this.
  var group: Int {
    switch self {
    case .fp32: 1
    case .bf16(let k): k.kGroup
    }
  }

  func padded(_ depth: Int) -> Int { (depth + group - 1) / group * group }

  /// Floats for the kernel's copy of `elements` panel values (none for fp32, which reads the panels).
  func copyFloats(_ elements: Int) -> Int {
    switch self {
    case .fp32: 0
    case .bf16: elements / 2 + 1
    }
  }

  /// Runs `body` on thread `thread` of a call in `context`, with its AMX tiles configured when
  /// the kernel uses tiles.
  func onThread(_ thread: Int, in context: KernelContext, _ body: () -> Void) {
    if case .bf16(let kernel) = self, kernel.usesTiles {
      context.withTiles(thread: thread, body)
    } else {
      body()
    }
  }

  /// The operand the kernel reads for fp32 panels (`count` rows in panels of `width`, `depth` deep).
  func operand(
    _ panels: UnsafeMutablePointer<Float>, count: Int, width: Int, depth: Int, isA: Bool, copy: UnsafeMutablePointer<Float>
  ) -> UnsafeMutableRawPointer {
    switch self {
    case .fp32:
      return UnsafeMutableRawPointer(panels)
    case .bf16(let kernel):
      let out = UnsafeMutableRawPointer(copy).bindMemory(to: UInt16.self, capacity: 2 * copyFloats((count + width - 1) / width * width * padded(depth)))
      BF16GEMM.convert(
        panels, panels: (count + width - 1) / width, width: width, depth: depth, padded: padded(depth), layout: kernel.layout, isA: isA, into: out)
      return UnsafeMutableRawPointer(out)
    }
  }

  /// `base` moved past `panels` panels of `width` rows packed `depth` deep.
  func advance(_ base: UnsafeMutableRawPointer, panels: Int, width: Int, depth: Int) -> UnsafeMutableRawPointer {
    switch self {
    case .fp32: base + panels * width * depth * MemoryLayout<Float>.stride
    case .bf16: base + panels * width * padded(depth) * MemoryLayout<UInt16>.stride
    }
  }

  /// C[m×n] = α·A·B + β·C over `depth` steps of k from operands made by `operand` (`aDepth`: A's
  /// packing depth when only the first `depth` are used).
  func multiply(
    a: UnsafeMutableRawPointer, b: UnsafeMutableRawPointer, m: Int, n: Int, depth: Int, c: MutableMatrixPointer<Float>, alpha: Float, beta: Float,
    edge: UnsafeMutablePointer<Float>, aDepth: Int? = nil
  ) {
    switch self {
    case .fp32(let kernel):
      NativeGEMM.macroKernel(
        a: a.assumingMemoryBound(to: Float.self), b: UnsafePointer(b.assumingMemoryBound(to: Float.self)), m: m, n: n, k: depth, c: c, alpha: alpha, beta: beta,
        kernel: kernel, edge: edge, aDepth: aDepth)
    case .bf16(let kernel):
      BF16GEMM.macroKernel(
        a: a.assumingMemoryBound(to: UInt16.self), b: b.assumingMemoryBound(to: UInt16.self), m: m, n: n, padded: padded(depth), c: c,
        alpha: alpha, beta: beta, kernel: kernel, edge: edge, aPadded: aDepth.map(padded))
    }
  }
}
