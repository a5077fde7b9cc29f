/// What one layer's forward keeps for its backward, for one micro-batch of N tokens: pointers
/// into the stage's activation memory (llm.c's named views into one buffer). Widths are the
/// rank's (its tensor-parallel share).
struct LayerActivations<T: TrainScalar> {
  var xn1: UnsafeMutablePointer<T>    // (N, H) LayerNorm 1 output
  var mean1: UnsafeMutablePointer<T>  // (N)
  var rstd1: UnsafeMutablePointer<T>  // (N)
  var qkv: UnsafeMutablePointer<T>    // (N, qkvL) Q | K | V, rotary applied
  var o: UnsafeMutablePointer<T>      // (N, qL) attention output
  var lse: UnsafeMutablePointer<Float>  // (B, hL, S) log-sum-exp of the scores
  var r1: UnsafeMutablePointer<T>     // (N, H) residual after attention
  var xn2: UnsafeMutablePointer<T>    // (N, H)
  var mean2: UnsafeMutablePointer<T>
  var rstd2: UnsafeMutablePointer<T>
  var up: UnsafeMutablePointer<T>     // (N, upL) before the activation
  var act: UnsafeMutablePointer<T>    // (N, mlpL)

  /// Elements of each kind for N tokens of `sequences` sequences on `layout`.
  static func elements(tokens n: Int, sequences: Int, layout p: ParameterLayout) -> (values: Int, lse: Int) {
    let h = p.model.hidden
    return (n * (3 * h + 4 + p.localQKVWidth + p.localQWidth + p.localUpWidth + p.localMLP), sequences * p.localHeads * p.model.seq)
  }

  static func allocate(tokens n: Int, sequences: Int, layout p: ParameterLayout, account: MemoryAccount, part: MemoryPart) -> LayerActivations {
    let h = p.model.hidden
    let (values, lseCount) = elements(tokens: n, sequences: sequences, layout: p)
    var next = account.allocate(T.self, count: values, part: part)
    func take(_ count: Int) -> UnsafeMutablePointer<T> {
      defer { next += count }
      return next
    }
    return LayerActivations(
      xn1: take(n * h), mean1: take(n), rstd1: take(n), qkv: take(n * p.localQKVWidth), o: take(n * p.localQWidth),
      lse: account.allocate(Float.self, count: lseCount, part: part), r1: take(n * h), xn2: take(n * h), mean2: take(n), rstd2: take(n),
      up: take(n * p.localUpWidth), act: take(n * p.localMLP))
  }
}
