import Kernels
import NumberFormats
import Profile

/// Attention for a layer of the stage: flash (forward and backward) on views of the fused QKV
/// projection for the Float model, the fp64 reference on gathered heads for the Double one (the
/// gradient checks).
extension Stage {
  func attentionForward(_ a: LayerActivations<T>) {
    let shape = Self.attentionShape(model, layout: layout, sequences: sequences)
    let (s, d, q, kv, width) = (model.seq, model.headDim, layout.localQWidth, layout.localKVWidth, layout.localQKVWidth)
    if T.self == Float.self {
      let qkv = UnsafePointer(UnsafeMutableRawPointer(a.qkv).assumingMemoryBound(to: Float.self))
      let o = UnsafeMutableRawPointer(a.o).assumingMemoryBound(to: Float.self)
      let view = AttentionLayout.projection(seq: s, headDim: d, width: width)
      let run = { (choice: AttentionChoice) throws in
        let operands = try AttentionOperands.views(shape, q: (qkv, view), k: (qkv + q, view), v: (qkv + q + kv, view))
        try Attention.forward(shape, operands, o: o, lse: a.lse, oLayout: .projection(seq: s, headDim: d, width: q), choice: choice, in: self.context)
      }
      do {
        try run(attentionChoice)
      } catch {
        // A profile's choice this rank cannot run (tiles for another head count) gives way to flash's defaults.
        attentionChoice = attentionFallback
        try! run(attentionFallback)
      }
    } else {
      let (qs, ks, vs) = gatherHeads(a.qkv)
      let result = ReferenceAttention.forward(shape, q: qs, k: ks, v: vs)
      scatter(result.o, into: a.o, width: q, start: 0, heads: layout.localHeads)
    }
  }

  func attentionBackward(_ a: LayerActivations<T>) {
    let shape = Self.attentionShape(model, layout: layout, sequences: sequences)
    let (s, d, q, kv, width) = (model.seq, model.headDim, layout.localQWidth, layout.localKVWidth, layout.localQKVWidth)
    if T.self == Float.self {
      func f(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> { UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self) }
      let qkvView = AttentionLayout.projection(seq: s, headDim: d, width: width), oView = AttentionLayout.projection(seq: s, headDim: d, width: q)
      let base = UnsafePointer(f(a.qkv)), grad = f(dqkv)
      do {
        let operands = try AttentionOperands.views(
          shape, q: (base, qkvView), k: (base + q, qkvView), v: (base + q + kv, qkvView), dO: (UnsafePointer(f(dO)), oView))
        try Attention.backward(
          shape, operands, o: f(a.o), lse: a.lse, dQ: grad, dK: grad + q, dV: grad + q + kv,
          layouts: AttentionGradientLayouts(o: oView, dQ: qkvView, dK: qkvView, dV: qkvView), choice: attentionChoice, in: context)
      } catch {
        preconditionFailure("attention backward on \(shape): \(error)")
      }
    } else {
      let (qs, ks, vs) = gatherHeads(a.qkv)
      var dOs = [T](repeating: 0, count: shape.qCount)
      gather(dO, width: q, start: 0, heads: layout.localHeads, into: &dOs)
      let r = ReferenceAttention.backward(shape, q: qs, k: ks, v: vs, dO: dOs)
      scatter(r.dQ, into: dqkv, width: width, start: 0, heads: layout.localHeads)
      scatter(r.dK, into: dqkv, width: width, start: q, heads: layout.localKVHeads)
      scatter(r.dV, into: dqkv, width: width, start: q + kv, heads: layout.localKVHeads)
    }
  }

  // The reference attention's contiguous (batch, heads, seq, headDim) form, for the Double model.
  func gatherHeads(_ qkv: UnsafeMutablePointer<T>) -> ([T], [T], [T]) {
    let shape = Self.attentionShape(model, layout: layout, sequences: sequences)
    let (q, kv, width) = (layout.localQWidth, layout.localKVWidth, layout.localQKVWidth)
    var qs = [T](repeating: 0, count: shape.qCount), ks = [T](repeating: 0, count: shape.kvCount), vs = ks
    gather(qkv, width: width, start: 0, heads: layout.localHeads, into: &qs)
    gather(qkv, width: width, start: q, heads: layout.localKVHeads, into: &ks)
    gather(qkv, width: width, start: q + kv, heads: layout.localKVHeads, into: &vs)
    return (qs, ks, vs)
  }

  @_specialize(where T == Float)
  func gather(_ source: UnsafeMutablePointer<T>, width: Int, start: Int, heads: Int, into out: inout [T]) {
    let (s, d) = (model.seq, model.headDim)
    for b in 0..<sequences { for hh in 0..<heads { for i in 0..<s { for c in 0..<d {
      out[((b * heads + hh) * s + i) * d + c] = source[(b * s + i) * width + start + hh * d + c]
    } } } }
  }

  @_specialize(where T == Float)
  func scatter(_ values: [T], into target: UnsafeMutablePointer<T>, width: Int, start: Int, heads: Int) {
    let (s, d) = (model.seq, model.headDim)
    for b in 0..<sequences { for hh in 0..<heads { for i in 0..<s { for c in 0..<d {
      target[(b * s + i) * width + start + hh * d + c] = values[((b * heads + hh) * s + i) * d + c]
    } } } }
  }
}
