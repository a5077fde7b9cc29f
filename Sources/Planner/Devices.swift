import Profile

/// An accelerator the planner can plan for: its dense peaks per precision, its memory and memory
/// bandwidth, and the links of the reference system it ships in (per device, one direction).
///
/// Every figure is the vendor's spec sheet's, dense (without 2:4 sparsity); the sheet is named in
/// `source`. Link figures are per device and per direction: NVIDIA quotes NVLink as the sum of
/// both directions (600 GB/s on A100 is 300 GB/s each way), and a NIC's Gb/s is one direction.
public struct Device: Sendable, Hashable, Codable {
  public var name: String
  /// Dense peak TFLOP/s of the tensor units per training precision (absent: no such unit).
  public var peakTFLOPS: [TrainingPrecision: Double]
  public var memoryBytes: Double
  public var memoryGBPerSecond: Double
  /// The reference system's link within a node, per device and direction (GB/s).
  public var intraGBPerSecond: Double
  /// The reference system's link across nodes, per device and direction (GB/s; 200 Gb/s is 25).
  public var interGBPerSecond: Double
  /// Devices per node in the reference system.
  public var devicesPerNode: Int
  public var source: String

  public func peak(_ precision: TrainingPrecision) -> Double? { peakTFLOPS[precision] }

  /// This machine as one device per rank group: its fp32 peak for every precision (the CPU's
  /// units run them all), its memory and its triad bandwidth; links within and across nodes are
  /// the cluster's, measured.
  public static func node(name: String = "this", peakGflops: Double, memoryBytes: Double, triadGBPerSecond: Double) -> Device {
    let peak = peakGflops / 1000
    return Device(
      name: name, peakTFLOPS: Dictionary(uniqueKeysWithValues: TrainingPrecision.allCases.map { ($0, peak) }), memoryBytes: memoryBytes,
      memoryGBPerSecond: triadGBPerSecond, intraGBPerSecond: 0, interGBPerSecond: 0, devicesPerNode: 1, source: "this node's profile")
  }

  /// The catalogue, by the names `--cluster device=…` takes.
  public static let catalogue: [String: Device] = {
    let gb = 1e9
    let a100Source = "NVIDIA A100 Tensor Core GPU datasheet (2021): FP32 19.5, TF32 156, BF16/FP16 312 TFLOP/s dense; DGX A100: NVLink 3 600 GB/s per GPU, 8 × 200 Gb/s HDR InfiniBand for compute"
    let h100Source = "NVIDIA H100 Tensor Core GPU datasheet (2023): SXM5 BF16/FP16 989, FP8 1,979 TFLOP/s dense, 80 GB HBM3 at 3.35 TB/s, NVLink 4 900 GB/s; DGX H100: 8 × 400 Gb/s ConnectX-7"
    return [
      "a100-40gb": Device(
        name: "a100-40gb", peakTFLOPS: [.fp32: 156, .bf16: 312, .fp16: 312], memoryBytes: 40 * gb, memoryGBPerSecond: 1555,
        intraGBPerSecond: 300, interGBPerSecond: 25, devicesPerNode: 8, source: a100Source + "; 40 GB HBM2 at 1,555 GB/s"),
      "a100-80gb": Device(
        name: "a100-80gb", peakTFLOPS: [.fp32: 156, .bf16: 312, .fp16: 312], memoryBytes: 80 * gb, memoryGBPerSecond: 2039,
        intraGBPerSecond: 300, interGBPerSecond: 25, devicesPerNode: 8, source: a100Source + "; SXM 80 GB HBM2e at 2,039 GB/s"),
      "h100-sxm": Device(
        name: "h100-sxm", peakTFLOPS: [.fp32: 494.7, .bf16: 989.4, .fp16: 989.4, .fp8: 1978.9], memoryBytes: 80 * gb, memoryGBPerSecond: 3350,
        intraGBPerSecond: 450, interGBPerSecond: 50, devicesPerNode: 8, source: h100Source),
      "h100-pcie": Device(
        name: "h100-pcie", peakTFLOPS: [.fp32: 378, .bf16: 756, .fp16: 756, .fp8: 1513], memoryBytes: 80 * gb, memoryGBPerSecond: 2000,
        intraGBPerSecond: 64, interGBPerSecond: 50, devicesPerNode: 8,
        source: "NVIDIA H100 Tensor Core GPU datasheet (2023): PCIe BF16/FP16 756, FP8 1,513 TFLOP/s dense, 80 GB HBM2e at 2 TB/s; PCIe Gen5 x16 128 GB/s (both directions) between cards, 400 Gb/s per GPU across nodes"),
      "h200": Device(
        name: "h200", peakTFLOPS: [.fp32: 494.7, .bf16: 989.4, .fp16: 989.4, .fp8: 1978.9], memoryBytes: 141 * gb, memoryGBPerSecond: 4800,
        intraGBPerSecond: 450, interGBPerSecond: 50, devicesPerNode: 8,
        source: "NVIDIA H200 Tensor Core GPU datasheet (2024): SXM BF16/FP16 989, FP8 1,979 TFLOP/s dense, 141 GB HBM3e at 4.8 TB/s, NVLink 900 GB/s; DGX H200: 8 × 400 Gb/s ConnectX-7"),
      "b200": Device(
        name: "b200", peakTFLOPS: [.fp32: 1100, .bf16: 2250, .fp16: 2250, .fp8: 4500], memoryBytes: 180 * gb, memoryGBPerSecond: 8000,
        intraGBPerSecond: 900, interGBPerSecond: 50, devicesPerNode: 8,
        source: "NVIDIA DGX B200 datasheet (2024): 72 PFLOP/s FP8 training and 1,440 GB HBM3e for 8 GPUs (sparse figures halved for dense: FP8 4.5, BF16 2.25 PFLOP/s per GPU), 64 TB/s HBM3e (8 TB/s per GPU), NVLink 5 1.8 TB/s per GPU, 8 × 400 Gb/s ConnectX-7"),
      "mi300x": Device(
        name: "mi300x", peakTFLOPS: [.fp32: 163.4, .bf16: 1307.4, .fp16: 1307.4, .fp8: 2614.9], memoryBytes: 192 * gb, memoryGBPerSecond: 5300,
        intraGBPerSecond: 448, interGBPerSecond: 50, devicesPerNode: 8,
        source: "AMD Instinct MI300X data sheet (2023): BF16/FP16 1,307.4, FP8 2,614.9, FP32 matrix 163.4 TFLOP/s dense, 192 GB HBM3 at 5.3 TB/s, 896 GB/s Infinity Fabric peer bandwidth (7 links, both directions); 400 Gb/s per GPU across nodes"),
    ]
  }()
}
