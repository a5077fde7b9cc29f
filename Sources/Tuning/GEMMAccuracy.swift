import Profile
import Kernels
import NumberFormats

extension GEMMWorkspace {
  /// ‖C − C_fp64‖_F / (‖A‖_F·‖B‖_F) of the C last computed, against the FP64 product of the
  /// unquantized operands (OpenBLAS dgemm): what storing the operands in this precision costs.
  /// Requires α = 1 and β = 0.
  public func errorAgainstFP64() -> Double {
    precondition(problem.alpha == 1 && problem.beta == 0, "accuracy is measured on plain products")
    let p = effectiveProblem
    let (a, b) = originalOperands()
    let (lda, ldb) = quantizedA != nil ? (p.aWidth, p.bWidth) : (self.lda, self.ldb)
    var reference = [Double](repeating: 0, count: p.shape.m * ldc)
    a.withUnsafeBufferPointer { ap in
      b.withUnsafeBufferPointer { bp in
        reference.withUnsafeMutableBufferPointer { cp in
          OpenBLASGEMM.run(p, a: MatrixPointer(ap.baseAddress!, ld: lda), b: MatrixPointer(bp.baseAddress!, ld: ldb), c: MutableMatrixPointer(cp.baseAddress!, ld: ldc))
        }
      }
    }
    let result = self.result()
    var rows: [Double] = []
    var expected: [Double] = []
    rows.reserveCapacity(p.shape.m * p.shape.n)
    expected.reserveCapacity(p.shape.m * p.shape.n)
    for i in 0..<p.shape.m {
      for j in 0..<p.shape.n {
        rows.append(result[i * ldc + j])
        expected.append(reference[i * ldc + j])
      }
    }
    return ErrorMetrics.gemmNormwiseError(c: rows, reference: expected, a: a, b: b)
  }
}
