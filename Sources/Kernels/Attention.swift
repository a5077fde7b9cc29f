import Profile

extension AttentionShape {
  /// Throws unless q holds batch × heads and k, v batch × kvHeads heads of seq × headDim.
  func check(q: AttentionTensor, k: AttentionTensor, v: AttentionTensor) throws {
    if let problem { throw KernelError.invalidParameters(problem) }
    for (name, tensor, count) in [("q", q, batch * heads), ("k", k, batch * kvHeads), ("v", v, batch * kvHeads)]
    where tensor.heads != count || tensor.seq != seq || tensor.headDim != headDim {
      throw KernelError.invalidParameters(
        "\(name) holds \(tensor.heads) heads of \(tensor.seq)x\(tensor.headDim); the shape \(self) needs \(count) heads of \(seq)x\(headDim)")
    }
  }

  /// The index of the key/value head that query head (b, h) reads.
  func kvHead(_ b: Int, _ h: Int) -> Int { b * kvHeads + h / groupSize }
  @usableFromInline func qOffset(_ b: Int, _ h: Int) -> Int { (b * heads + h) * seq * headDim }
  @usableFromInline func kvOffset(_ b: Int, _ h: Int) -> Int { (b * kvHeads + h / groupSize) * seq * headDim }
}

/// The reference: scores materialised, fp64 accumulation, exact softmax. For checking. Inlinable,
/// so that callers in other modules get it specialised for their scalar type (unspecialised
/// generic arithmetic is tens of times slower, and the tuner checks every candidate with it).
public enum ReferenceAttention {
  /// The scaled scores of query row `i` of (b, h) against every key it may see.
  @inlinable static func scores<T: BinaryFloatingPoint>(_ shape: AttentionShape, q: [T], k: [T], b: Int, h: Int, i: Int) -> [Double] {
    let (s, d) = (shape.seq, shape.headDim)
    let qo = shape.qOffset(b, h), ko = shape.kvOffset(b, h)
    return (0..<(shape.causal ? i + 1 : s)).map { j in
      var dot = 0.0
      for c in 0..<d { dot += Double(q[qo + i * d + c]) * Double(k[ko + j * d + c]) }
      return dot * shape.scale
    }
  }

  /// Softmax weights of a row of scores (NaN anywhere makes them all NaN) and its log-sum-exp.
  @inlinable static func softmax(_ scores: [Double]) -> (weights: [Double], lse: Double) {
    let m = scores.reduce(-Double.infinity) { $0 > $1 ? $0 : $1 }
    let exponentials = scores.map { Foundation.exp($0 - m) }
    var sum = exponentials.reduce(0, +)
    if scores.contains(where: \.isNaN) { sum = .nan }
    return (exponentials.map { $0 / sum }, m + Foundation.log(sum))
  }

  /// Output row `i` of (b, h) and its log-sum-exp: what every faster kernel is checked against.
  @inlinable public static func forwardRow<T: BinaryFloatingPoint>(_ shape: AttentionShape, q: [T], k: [T], v: [T], b: Int, h: Int, i: Int) -> (o: [Double], lse: Double) {
    let d = shape.headDim
    let ko = shape.kvOffset(b, h)
    let (weights, lse) = softmax(scores(shape, q: q, k: k, b: b, h: h, i: i))
    let o = (0..<d).map { c in
      var value = 0.0
      for (j, weight) in weights.enumerated() { value += weight * Double(v[ko + j * d + c]) }
      return value
    }
    return (o, lse)
  }

  /// Returns O (like Q) and the log-sum-exp per query row (batch, heads, seq).
  @inlinable public static func forward<T: BinaryFloatingPoint>(_ shape: AttentionShape, q: [T], k: [T], v: [T]) -> (o: [T], lse: [Double]) {
    let (s, d) = (shape.seq, shape.headDim)
    var o = [T](repeating: 0, count: shape.qCount)
    var lse = [Double](repeating: 0, count: shape.batch * shape.heads * s)
    for b in 0..<shape.batch {
      for h in 0..<shape.heads {
        for i in 0..<s {
          let row = forwardRow(shape, q: q, k: k, v: v, b: b, h: h, i: i)
          lse[(b * shape.heads + h) * s + i] = row.lse
          for c in 0..<d { o[shape.qOffset(b, h) + i * d + c] = T(row.o[c]) }
        }
      }
    }
    return (o, lse)
  }

  /// Gradients of Σ dO∘O with respect to Q, K and V (dK and dV summed over the query heads that
  /// share a key/value head).
  @inlinable public static func backward<T: BinaryFloatingPoint>(
    _ shape: AttentionShape, q: [T], k: [T], v: [T], dO: [T]
  ) -> (dQ: [T], dK: [T], dV: [T]) {
    let (s, d) = (shape.seq, shape.headDim)
    var dQ = [Double](repeating: 0, count: shape.qCount)
    var dK = [Double](repeating: 0, count: shape.kvCount)
    var dV = [Double](repeating: 0, count: shape.kvCount)
    for b in 0..<shape.batch {
      for h in 0..<shape.heads {
        let qo = shape.qOffset(b, h), ko = shape.kvOffset(b, h)
        for i in 0..<s {
          let p = softmax(scores(shape, q: q, k: k, b: b, h: h, i: i)).weights
          let keys = p.count
          // dP = dO·Vᵀ; dS = P ∘ (dP − Σ_j P·dP)
          var dP = [Double](repeating: 0, count: keys)
          var rowDot = 0.0
          for j in 0..<keys {
            var dot = 0.0
            for c in 0..<d { dot += Double(dO[qo + i * d + c]) * Double(v[ko + j * d + c]) }
            dP[j] = dot
            rowDot += p[j] * dot
          }
          for j in 0..<keys {
            let dS = p[j] * (dP[j] - rowDot) * shape.scale
            for c in 0..<d {
              dQ[qo + i * d + c] += dS * Double(k[ko + j * d + c])
              dK[ko + j * d + c] += dS * Double(q[qo + i * d + c])
              dV[ko + j * d + c] += p[j] * Double(dO[qo + i * d + c])
            }
          }
        }
      }
    }
    return (dQ.map { T($0) }, dK.map { T($0) }, dV.map { T($0) })
  }
}

import Foundation
