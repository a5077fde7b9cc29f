/// GEMM entry points: `GEMM.run(problem, operands, choice:, in:)` for one call, `GEMMPlan` for a
/// shape that repeats. Backends: `ReferenceGEMM`, `OpenBLASGEMM`, `NativeGEMM`, `BF16GEMM`.
public enum GEMM {}

/// The shape of C = α·op(A)·op(B) + β·C: op(A) is M×K, op(B) is K×N, C is M×N.
public struct GEMMShape: Hashable, Codable, Sendable, CustomStringConvertible, Comparable {
  public var m: Int
  public var n: Int
  public var k: Int

  public init(m: Int, n: Int, k: Int) {
    self.m = m
    self.n = n
    self.k = k
  }

  public var description: String { "\(m)x\(n)x\(k)" }
  public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

  public static func < (a: GEMMShape, b: GEMMShape) -> Bool { (a.m, a.n, a.k) < (b.m, b.n, b.k) }

  public enum ParseError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    public var description: String {
      guard case .malformed(let text) = self else { return "" }
      return "malformed GEMM shape \"\(text)\"; expected MxNxK with positive integers, e.g. 2048x2048x2048"
    }
  }

  /// Parses "MxNxK" (case-insensitive x).
  public static func parse(_ text: String) throws -> GEMMShape {
    let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
    guard parts.count == 3, let m = Int(parts[0]), let n = Int(parts[1]), let k = Int(parts[2]), m > 0, n > 0, k > 0
    else { throw ParseError.malformed(text) }
    return GEMMShape(m: m, n: n, k: k)
  }
}

/// One GEMM call: shape, transposes and scalars. Matrices are row-major; A is M×K (K×M when
/// transposed) with lda ≥ its width, likewise B (K×N, or N×K transposed) and C (M×N, ldc ≥ N).
public struct GEMMProblem: Hashable, Sendable {
  public var shape: GEMMShape
  public var transA: Bool
  public var transB: Bool
  public var alpha: Double
  public var beta: Double

  public init(shape: GEMMShape, transA: Bool = false, transB: Bool = false, alpha: Double = 1, beta: Double = 0) {
    self.shape = shape
    self.transA = transA
    self.transB = transB
    self.alpha = alpha
    self.beta = beta
  }

  /// Columns of A as stored (its minimum lda).
  public var aWidth: Int { transA ? shape.m : shape.k }
  public var aHeight: Int { transA ? shape.k : shape.m }
  public var bWidth: Int { transB ? shape.k : shape.n }
  public var bHeight: Int { transB ? shape.n : shape.k }
}

/// A row-major matrix in memory: element (r, c) at base[r · ld + c].
public struct MatrixPointer<T>: @unchecked Sendable {
  public var base: UnsafePointer<T>
  public var ld: Int

  public init(_ base: UnsafePointer<T>, ld: Int) {
    self.base = base
    self.ld = ld
  }
}

public struct MutableMatrixPointer<T>: @unchecked Sendable {
  public var base: UnsafeMutablePointer<T>
  public var ld: Int

  public init(_ base: UnsafeMutablePointer<T>, ld: Int) {
    self.base = base
    self.ld = ld
  }
}
