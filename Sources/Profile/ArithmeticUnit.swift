/// The arithmetic unit a kernel's products run on, named as the probe names its peaks: fp32 and
/// fp64 FMA (the widest the probe measured), bf16's dot-product (`avx512_bf16`) and tile
/// (`amx-bf16`) units, fp16's FMA (`avx512_fp16`).
public struct ArithmeticUnit: Hashable, Sendable, CustomStringConvertible {
  /// fp64, fp32, fp16 or bf16: a `Peak`'s precision.
  public var precision: String
  /// The peak's ISA where the precision has several units (bf16); nil: the precision's only one.
  public var isa: String?

  public init(precision: String, isa: String? = nil) {
    self.precision = precision
    self.isa = isa
  }

  public static let fp32 = ArithmeticUnit(precision: "fp32")
  public static let fp64 = ArithmeticUnit(precision: "fp64")

  public var description: String { isa.map { "\(precision) \($0)" } ?? "\(precision) FMA" }

  /// The unit `choice` runs its products on. Formats no unit multiplies (fp16 without its own
  /// unit, fp8, MX, NVFP4) are widened to fp32 by every backend but amx, which runs bf16 and MX
  /// operands on its bf16 micro-kernel (tiles or dot products); oneDNN runs bf16 (and fp16) on
  /// the unit of the ISA it selected (`onednnISA`, e.g. "avx512_core_amx").
  public static func of(_ choice: GEMMChoice, onednnISA: String?) -> ArithmeticUnit {
    if choice.precision == .fp64 { return .fp64 }
    switch choice.backend {
    case .amx:
      return ArithmeticUnit(precision: "bf16", isa: choice.blocking?.microKernel.hasPrefix("amx") == true ? "amx-bf16" : "avx512_bf16")
    case .onednn:
      let isa = onednnISA ?? ""
      if choice.precision == .bf16 && isa.contains("amx") { return ArithmeticUnit(precision: "bf16", isa: "amx-bf16") }
      if choice.precision == .bf16 && isa.contains("bf16") { return ArithmeticUnit(precision: "bf16", isa: "avx512_bf16") }
      if choice.precision == .fp16 && isa.contains("fp16") { return ArithmeticUnit(precision: "fp16") }
      return .fp32
    case .naive, .openblas, .native, .blis:
      return .fp32
    }
  }

  /// This unit's measured peak among `peaks`.
  public func peak(in peaks: [Peak]) -> Peak? {
    peaks.first { $0.precision == precision && (isa == nil || $0.isa == isa) }
  }
}
