import Platform

/// A register-blocked micro-kernel: C[MR×NR] = α · A_panel(MR×k) · B_panel(k×NR) + β · C. It
/// knows nothing about blocking; the driver knows nothing about the ISA.
public struct MicroKernel<Scalar>: Sendable {
  public typealias Function = @Sendable (
    _ k: Int, _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ c: UnsafeMutablePointer<Scalar>,
    _ ldc: Int, _ alpha: Scalar, _ beta: Scalar
  ) -> Void

  /// ISA and shape, e.g. "avx2-6x16".
  public let name: String
  public let mr: Int
  public let nr: Int
  /// Features that must be usable (ISAFeatures names).
  public let requires: [String]
  public let run: Function

  public func isUsable(on features: ISAFeatures) -> Bool { requires.allSatisfy(features.usable) }
}

/// The element types the native GEMM computes in.
public protocol GEMMScalar: BinaryFloatingPoint, SIMDScalar, Codable, Sendable {
  static var microKernels: [MicroKernel<Self>] { get }
  init(_ value: Double)
}

extension Float: GEMMScalar {
  public static var microKernels: [MicroKernel<Float>] { MicroKernel<Float>.allFloat }
}

extension Double: GEMMScalar {
  public static var microKernels: [MicroKernel<Double>] { MicroKernel<Double>.allDouble }
}

extension GEMMScalar {
  /// The micro-kernels this CPU can run, widest first.
  public static func usableMicroKernels(_ features: ISAFeatures) -> [MicroKernel<Self>] {
    microKernels.filter { $0.isUsable(on: features) }
  }

  /// The kernels worth searching and defaulting to: the usable ones, less the SSE2 baseline
  /// wherever a wider ISA runs (the baseline exists so that every x86-64 can compute, not to win).
  public static func searchableMicroKernels(_ features: ISAFeatures) -> [MicroKernel<Self>] {
    let usable = usableMicroKernels(features)
    let wide = usable.filter { $0.requires != ["sse2"] }
    return wide.isEmpty ? usable : wide
  }

  public static func microKernel(named name: String) -> MicroKernel<Self>? {
    microKernels.first { $0.name == name }
  }
}
