import Platform
import Profile

/// Attention from an `AttentionChoice`: the one dispatch to flash or the materialised-scores
/// backend, as the trainer calls it. Layouts, scale and precision are the operands' and the
/// shape's; the choice picks the backend, its tiles and threads.
public enum Attention {
  /// O and the log-sum-exp per query row (batch, heads, seq).
  public static func forward(
    _ shape: AttentionShape, _ operands: AttentionOperands, o: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
    oLayout: AttentionLayout? = nil, choice: AttentionChoice, in context: KernelContext
  ) throws {
    switch choice.backend {
    case .flash:
      try FlashAttention.forward(shape, operands, o: o, lse: lse, oLayout: oLayout, parameters: flashParameters(choice), in: context)
    case .gemm:
      try MaterializedAttention.forward(shape, operands, o: o, lse: lse, oLayout: oLayout, parameters: MaterializedParameters(threads: choice.threads), in: context)
    }
  }

  /// dQ, dK, dV. The backward always runs on flash (the materialised-scores backend has none):
  /// a `gemm` choice's backward takes flash's default tiles on the same threads.
  public static func backward(
    _ shape: AttentionShape, _ operands: AttentionOperands, o: UnsafePointer<Float>, lse: UnsafePointer<Float>,
    dQ: UnsafeMutablePointer<Float>, dK: UnsafeMutablePointer<Float>, dV: UnsafeMutablePointer<Float>,
    layouts: AttentionGradientLayouts = AttentionGradientLayouts(), choice: AttentionChoice, in context: KernelContext
  ) throws {
    try FlashAttention.backward(
      shape, operands, o: o, lse: lse, dQ: dQ, dK: dK, dV: dV, layouts: layouts, parameters: flashParameters(choice), in: context)
  }

  /// The flash tiles a choice runs with (its own, or flash's defaults), on its threads.
  public static func flashParameters(_ choice: AttentionChoice) -> FlashParameters {
    var parameters = choice.flash ?? FlashParameters()
    parameters.threads = choice.threads
    return parameters
  }
}

extension AttentionChoice {
  /// Whether its products take bf16 operands (the AMX or AVX512-BF16 kernels), probabilities
  /// included: what sets its tolerance.
  public var bf16Products: Bool { flash?.microKernel.map { BF16MicroKernel.named($0) != nil } ?? false }
}
