import Foundation
import Kernels
import NumberFormats

/// The element type a model is built in: `Float` for training, `Double` for the finite-difference
/// gradient checks (the same code, every GEMM on the fp64 native kernels and attention on the
/// reference).
public protocol TrainScalar: GEMMScalar {
  static func exp(_ x: Self) -> Self
  static func log(_ x: Self) -> Self
  static func tanh(_ x: Self) -> Self
  static func sqrt(_ x: Self) -> Self
  static func cos(_ x: Self) -> Self
  static func sin(_ x: Self) -> Self
  /// The GEMM operands of this type.
  static func operands(a: MatrixPointer<Self>, b: MatrixPointer<Self>, c: MutableMatrixPointer<Self>) -> GEMMOperands
  /// The precision a GEMM of plain operands of this type computes in.
  static var plainPrecision: Precision { get }
}

extension Float: TrainScalar {
  @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.exp(x) }
  @inline(__always) public static func log(_ x: Float) -> Float { Foundation.log(x) }
  /// The vectorisable tanh (Kernels' fastTanh): the GELU's, far faster than libm's scalar tanhf.
  @inline(__always) public static func tanh(_ x: Float) -> Float { fastTanh(x) }
  @inline(__always) public static func sqrt(_ x: Float) -> Float { x.squareRoot() }
  @inline(__always) public static func cos(_ x: Float) -> Float { Foundation.cos(x) }
  @inline(__always) public static func sin(_ x: Float) -> Float { Foundation.sin(x) }
  public static func operands(a: MatrixPointer<Float>, b: MatrixPointer<Float>, c: MutableMatrixPointer<Float>) -> GEMMOperands {
    .fp32(a: a, b: b, c: c)
  }
  public static var plainPrecision: Precision { .fp32 }
}

extension Double: TrainScalar {
  @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
  @inline(__always) public static func log(_ x: Double) -> Double { Foundation.log(x) }
  @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
  @inline(__always) public static func sqrt(_ x: Double) -> Double { x.squareRoot() }
  @inline(__always) public static func cos(_ x: Double) -> Double { Foundation.cos(x) }
  @inline(__always) public static func sin(_ x: Double) -> Double { Foundation.sin(x) }
  public static func operands(a: MatrixPointer<Double>, b: MatrixPointer<Double>, c: MutableMatrixPointer<Double>) -> GEMMOperands {
    .fp64(a: a, b: b, c: c)
  }
  public static var plainPrecision: Precision { .fp64 }
}
