/// The reference GEMM: a plain triple loop accumulating in Double, for checking every other
/// backend. With β = 0, C is not read.
public enum ReferenceGEMM {
  // a: (M, K) row-major, or (K, M) when transA; b: (K, N), or (N, K) when transB; c: (M, N).
  public static func run<T: BinaryFloatingPoint>(
    _ problem: GEMMProblem, a: MatrixPointer<T>, b: MatrixPointer<T>, c: MutableMatrixPointer<T>
  ) {
    let (m, n, k) = (problem.shape.m, problem.shape.n, problem.shape.k)
    for i in 0..<m {
      for j in 0..<n {
        var sum = 0.0
        for p in 0..<k {
          let x = problem.transA ? a.base[p * a.ld + i] : a.base[i * a.ld + p]
          let y = problem.transB ? b.base[j * b.ld + p] : b.base[p * b.ld + j]
          sum += Double(x) * Double(y)
        }
        let old = problem.beta == 0 ? 0 : problem.beta * Double(c.base[i * c.ld + j])
        c.base[i * c.ld + j] = T(problem.alpha * sum + old)
      }
    }
  }
}
