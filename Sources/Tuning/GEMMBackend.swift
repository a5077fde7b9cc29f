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
      return kernels > 0 ? nil : "no micro-kernel of this build runs on this CPU (needs AVX2+FMA or AVX-512)"
    case .amx:
      if !(features.usable("amx_tile") && features.usable("amx_bf16")) && !features.usable("avx512_bf16") {
        return "needs AMX-BF16 (amx_tile, amx_bf16) or AVX512-BF16, which this CPU does not have usable"
      }
      return "the AMX and AVX512-BF16 micro-kernels are not implemented in this build"
    }
  }
}
