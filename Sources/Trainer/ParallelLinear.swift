import Kernels
import Profile

/// One rank's shard of a linear layer (`LinearLayer`): its weight and bias shards and their
/// gradients, its three GEMMs and its tensor-parallel collective, in Megatron's manner. A
/// column-parallel layer all-reduces its input gradient in the backward; a row-parallel one its
/// output in the forward, before its (whole) bias is added. What it runs is exactly
/// `layer.products(tokens:tp:)`: the list the tuner tunes and the models read.
struct ParallelLinear<T: TrainScalar> {
  let layer: LinearLayer
  /// The runner's name for its products (delayed fp8 scaling keys its tensors by it).
  let name: String
  let tp: Int
  let weight: UnsafeMutablePointer<T>
  let weightGradient: UnsafeMutablePointer<T>
  let bias: UnsafeMutablePointer<T>?
  let biasGradient: UnsafeMutablePointer<T>?

  var inputs: Int { layer.localInputs(tp: tp) }
  var outputs: Int { layer.localOutputs(tp: tp) }

  /// y = x·W (+ y where the layer accumulates), all-reduced over the group when row-parallel,
  /// then + b. `x` is tokens × inputs, `y` tokens × outputs (local features).
  func forward(
    _ x: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, tokens: Int, runner: GEMMRunner<T>, context: KernelContext,
    allReduce: (UnsafeMutablePointer<T>, Int) -> Void
  ) {
    let (i, o) = (inputs, outputs)
    runner.run(
      name, .forward, m: tokens, n: o, k: i, transB: layer.weightTransposed, a: x, lda: i, b: weight, ldb: layer.weightTransposed ? i : o, c: y,
      ldc: o, beta: layer.accumulates ? 1 : 0)
    if layer.split == .row { allReduce(y, tokens * o) }
    if let bias { Layers.addBias(y, bias, rows: tokens, columns: o, context: context) }
  }

  /// From dy (tokens × outputs): db += Σ dy, dx = dy·Wᵀ (unless the input is data; all-reduced
  /// over the group when column-parallel), dW += xᵀ·dy.
  func backward(
    _ dy: UnsafePointer<T>, input x: UnsafePointer<T>, inputGradient dx: UnsafeMutablePointer<T>?, tokens: Int, runner: GEMMRunner<T>,
    context: KernelContext, allReduce: (UnsafeMutablePointer<T>, Int) -> Void
  ) {
    let (i, o) = (inputs, outputs)
    if let biasGradient { Layers.biasBackward(biasGradient, dy, rows: tokens, columns: o, context: context) }
    if let dx, !layer.inputIsData {
      runner.run(
        name, .inputGradient, m: tokens, n: i, k: o, transB: !layer.weightTransposed, a: dy, lda: o, b: weight, ldb: layer.weightTransposed ? i : o,
        c: dx, ldc: i)
    }
    if layer.weightTransposed {
      runner.run(name, .weightGradient, m: o, n: i, k: tokens, transA: true, a: dy, lda: o, b: x, ldb: i, c: weightGradient, ldc: i, beta: 1)
    } else {
      runner.run(name, .weightGradient, m: i, n: o, k: tokens, transA: true, a: x, lda: i, b: dy, ldb: o, c: weightGradient, ldc: o, beta: 1)
    }
    if let dx, layer.split == .column { allReduce(dx, tokens * i) }
  }
}
