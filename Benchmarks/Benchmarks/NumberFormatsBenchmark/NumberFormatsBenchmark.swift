import Benchmark
import NumberFormats

/// Bulk quantize and dequantize throughput per format, in MB/s of fp32 input (4 bytes per
/// element), on 4 Mi standard-normal-like values: large enough to leave the caches, as packing
/// does on big operands.
let elementCount = 1 << 22

/// Deterministic inputs without pulling a random generator into the measured region.
func inputs() -> [Float] {
  var state: UInt32 = 12345
  return (0..<elementCount).map { _ in
    state = state &* 1_664_525 &+ 1_013_904_223
    return (Float(state >> 8) / Float(1 << 24) - 0.5) * 6
  }
}

let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .custom("MB/s (fp32 in)", polarity: .prefersLarger, useScalingFactor: false)],
    timeUnits: .microseconds, warmupIterations: 2, maxDuration: .seconds(2), maxIterations: 50)

  let source = inputs()
  let megabytes = Double(elementCount * 4) / 1e6

  func record(_ benchmark: Benchmark, _ body: () -> Void) {
    let start = ContinuousClock.now
    benchmark.startMeasurement()
    body()
    benchmark.stopMeasurement()
    let elapsed = (ContinuousClock.now - start).components
    let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
    benchmark.measurement(.custom("MB/s (fp32 in)"), Int(megabytes / max(seconds, 1e-9)))
  }

  for format in MiniFloatFormat.all {
    let codec = MiniFloatCodec(format)
    var codes = [UInt8](repeating: 0, count: elementCount)
    var decoded = [Float](repeating: 0, count: elementCount)
    Benchmark("quantize \(format.name)") { benchmark in
      record(benchmark) {
        source.withUnsafeBufferPointer { s in codes.withUnsafeMutableBufferPointer { codec.encode(s, scale: 1, into: $0) } }
      }
      blackHole(codes[7])
    }
    Benchmark("dequantize \(format.name)") { benchmark in
      record(benchmark) {
        codes.withUnsafeBufferPointer { s in decoded.withUnsafeMutableBufferPointer { codec.decode(s, scale: 1, into: $0) } }
      }
      blackHole(decoded[7])
    }
  }

  var bf16 = [UInt16](repeating: 0, count: elementCount)
  Benchmark("quantize bf16") { benchmark in
    record(benchmark) {
      source.withUnsafeBufferPointer { s in bf16.withUnsafeMutableBufferPointer { HalfPrecision.toBFloat16(s, into: $0) } }
    }
    blackHole(bf16[7])
  }
  var half = [Float16](repeating: 0, count: elementCount)
  Benchmark("quantize fp16") { benchmark in
    record(benchmark) {
      source.withUnsafeBufferPointer { s in half.withUnsafeMutableBufferPointer { HalfPrecision.toFloat16(s, into: $0) } }
    }
    blackHole(half[7])
  }
  for format in [MXFormat.mxfp8e4m3, .mxfp4] {
    Benchmark("quantize \(format.name) (block scales)") { benchmark in
      var tensor: MXTensor?
      record(benchmark) { tensor = source.withUnsafeBufferPointer { MXQuantizer.quantize($0, format: format) } }
      blackHole(tensor?.scales.count)
    }
  }
  Benchmark("quantize nvfp4") { benchmark in
    var tensor: NVFP4Tensor?
    record(benchmark) { tensor = source.withUnsafeBufferPointer { NVFP4Quantizer.quantize($0) } }
    blackHole(tensor?.blockScales.count)
  }
}
