import COpenBLAS

/// OpenBLAS's sgemm/dgemm, row-major. Its core type is fixed when the library loads
/// (OPENBLAS_CORETYPE); its thread count can change between calls.
public enum OpenBLASGEMM {
  public static func setThreads(_ threads: Int) { openblas_set_num_threads(Int32(threads)) }
  public static var threads: Int { Int(openblas_get_num_threads()) }
  public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

  public static func run(_ p: GEMMProblem, a: MatrixPointer<Float>, b: MatrixPointer<Float>, c: MutableMatrixPointer<Float>) {
    cblas_sgemm(
      CblasRowMajor, p.transA ? CblasTrans : CblasNoTrans, p.transB ? CblasTrans : CblasNoTrans,
      Int32(p.shape.m), Int32(p.shape.n), Int32(p.shape.k), Float(p.alpha), a.base, Int32(a.ld), b.base, Int32(b.ld),
      Float(p.beta), c.base, Int32(c.ld))
  }

  public static func run(_ p: GEMMProblem, a: MatrixPointer<Double>, b: MatrixPointer<Double>, c: MutableMatrixPointer<Double>) {
    cblas_dgemm(
      CblasRowMajor, p.transA ? CblasTrans : CblasNoTrans, p.transB ? CblasTrans : CblasNoTrans,
      Int32(p.shape.m), Int32(p.shape.n), Int32(p.shape.k), p.alpha, a.base, Int32(a.ld), b.base, Int32(b.ld),
      p.beta, c.base, Int32(c.ld))
  }
}
