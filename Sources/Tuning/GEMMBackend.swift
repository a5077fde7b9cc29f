import Kernels
import NumberFormats
import Platform

/// The GEMM implementations ScaleTune can run and tune.
public enum GEMMBackend: String, CaseIterable, Codable, Sendable {
  /// The reference triple loop (fp64 accumulation): for checking, far too slow to tune.
  case naive
  /// OpenBLAS sgemm/dgemm.
  case openblas
  /// BLIS-style loops in Swift around SIMD micro-kernels.
  case native
  /// bf16 on AMX tiles (or AVX512-BF16 dot products): needs those units.
  case amx

  public enum ParseError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    public var description: String {
      guard case .unknown(let name) = self else { return "" }
      return "unknown GEMM backend \"\(name)\"; expected one of: \(GEMMBackend.allCases.map(\.rawValue).joined(separator: ", "))"
    }
  }

  public static func parse(_ text: String) throws -> GEMMBackend {
    guard let backend = GEMMBackend(rawValue: text.lowercased()) else { throw ParseError.unknown(text) }
    return backend
  }

  /// Why this backend cannot compute `precision` on this CPU; nil when it can.
  public func unavailability(precision: Precision, features: ISAFeatures) -> String? {
    switch self {
    case .naive:
      return nil
    case .openblas:
      return precision == .fp32 || precision == .fp64
        ? nil : "OpenBLAS's sgemm/dgemm take fp32 or fp64 operands, not \(precision)"
    case .native:
      let kernels = precision == .fp64 ? Double.usableMicroKernels(features).count : Float.usableMicroKernels(features).count
      return kernels > 0 ? nil : "no micro-kernel of this build runs on this CPU (every x86-64 has the SSE2 one)"
    case .amx:
      if BF16MicroKernel.usable(features).isEmpty {
        return "needs AMX-BF16 (amx_tile, amx_bf16 with avx512f) or AVX512-BF16, which this CPU does not have usable"
      }
      return Self.amxPrecisions.contains(precision)
        ? nil
        : "amx multiplies bf16: its operands must be bf16, or MX, whose power-of-two block scales keep every value exact in bf16 (not \(precision))"
    }
  }

  /// What the amx backend takes: values that are exact in bf16 once decoded.
  public static let amxPrecisions: [Precision] = [.bf16, .mxfp8e4m3, .mxfp8e5m2, .mxfp6e2m3, .mxfp6e3m2, .mxfp4]

  /// The amx backend's blocking when none is given: the fastest usable bf16 kernel, MC = 192 rows,
  /// KC = 512 (whole AMX chunks), NC = 1536 (B's bf16 block, 1.5 MiB, in a Sapphire Rapids L2).
  public static func amxBlocking(features: ISAFeatures, threads: Int) -> BlockingParameters? {
    guard let kernel = BF16MicroKernel.usable(features).first else { return nil }
    return BlockingParameters(
      microKernel: kernel.name, mc: (192 + kernel.mr - 1) / kernel.mr * kernel.mr, kc: 512, nc: (1536 + kernel.nr - 1) / kernel.nr * kernel.nr,
      threads: threads)
  }
}
