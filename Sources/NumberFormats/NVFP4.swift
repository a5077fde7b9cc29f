/// NVFP4: E2M1 elements in blocks of 16, each block with an E4M3 scale, and one FP32 scale for the
/// whole tensor that brings the block scales into E4M3's range. value = e2m1 · blockScale · tensorScale.
public struct NVFP4Tensor: Sendable, Equatable {
  public static let blockSize = 16
  public let count: Int
  /// The FP32 per-tensor decode scale: amax / (448 · 6), or 1 for an all-zero tensor.
  public var tensorScale: Float
  /// E4M3 codes; NaN (0x7F) marks a block that held NaN or ±Inf.
  public var blockScales: [UInt8]
  /// E2M1 codes, two per byte.
  public var codes: [UInt8]
}

public enum NVFP4Quantizer {
  /// The largest finite magnitude: a non-finite element poisons its own block only, not the
  /// tensor scale.
  public static func finiteAmax(_ values: UnsafeBufferPointer<Float>) -> Float {
    var amax: Float = 0
    for value in values where value.isFinite { amax = max(amax, value.magnitude) }
    return amax
  }

  /// The per-tensor decode scale amax / (448 · 6) that brings block scales into E4M3's range.
  public static func tensorScale(amax: Float) -> Float {
    amax > 0 ? amax / (MiniFloatFormat.e4m3.maxFinite * MiniFloatFormat.e2m1.maxFinite) : 1
  }

  public static func quantize(_ values: UnsafeBufferPointer<Float>) -> NVFP4Tensor {
    quantize(values, tensorScale: tensorScale(amax: finiteAmax(values)))
  }

  /// Quantizes with a given tensor scale (a matrix quantized row by row shares one).
  public static func quantize(_ values: UnsafeBufferPointer<Float>, tensorScale: Float) -> NVFP4Tensor {
    let e4m3 = MiniFloatCodec(.e4m3)
    let e2m1 = MiniFloatCodec(.e2m1)
    let elementMax = MiniFloatFormat.e2m1.maxFinite
    let blocks = (values.count + NVFP4Tensor.blockSize - 1) / NVFP4Tensor.blockSize
    var blockScales: [UInt8] = []
    blockScales.reserveCapacity(blocks)
    var codes = [UInt8](repeating: 0, count: values.count)
    codes.withUnsafeMutableBufferPointer { out in
      for block in 0..<blocks {
        let range = (block * NVFP4Tensor.blockSize)..<min(values.count, (block + 1) * NVFP4Tensor.blockSize)
        let slice = UnsafeBufferPointer(rebasing: values[range])
        var blockAmax: Float = 0
        var finite = true
        for value in slice {
          if !value.isFinite { finite = false }
          blockAmax = max(blockAmax, value.magnitude)
        }
        let scaleCode = finite ? e4m3.encode(blockAmax / elementMax / tensorScale) : MiniFloatFormat.e4m3.nanCode!
        blockScales.append(scaleCode)
        let decodedScale = e4m3.decode(scaleCode) * tensorScale
        let inverse: Float = decodedScale > 0 ? 1 / decodedScale : (finite ? 0 : .nan)
        e2m1.encode(slice, scale: inverse, into: UnsafeMutableBufferPointer(rebasing: out[range]))
      }
    }
    return NVFP4Tensor(count: values.count, tensorScale: tensorScale, blockScales: blockScales, codes: FP4Packing.pack(codes))
  }

  public static func dequantize(_ tensor: NVFP4Tensor, into destination: UnsafeMutableBufferPointer<Float>) {
    precondition(destination.count >= tensor.count, "destination too small")
    let e4m3 = MiniFloatCodec(.e4m3)
    let e2m1 = MiniFloatCodec(.e2m1)
    let codes = FP4Packing.unpack(tensor.codes, count: tensor.count)
    codes.withUnsafeBufferPointer { all in
      for (block, scaleCode) in tensor.blockScales.enumerated() {
        let range = (block * NVFP4Tensor.blockSize)..<min(tensor.count, (block + 1) * NVFP4Tensor.blockSize)
        e2m1.decode(UnsafeBufferPointer(rebasing: all[range]), scale: e4m3.decode(scaleCode) * tensor.tensorScale, into: UnsafeMutableBufferPointer(rebasing: destination[range]))
      }
    }
  }
}
