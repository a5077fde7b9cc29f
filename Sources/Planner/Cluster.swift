import Foundation
import Profile

/// What `tune plan` plans for: nodes of identical devices, the link within a node and the link
/// across nodes, per device.
public struct Cluster: Sendable, Hashable {
  public var nodes: Int
  public var devicesPerNode: Int
  public var device: Device
  /// Per device and direction, GB/s.
  public var intraGBPerSecond: Double
  public var interGBPerSecond: Double

  public var devices: Int { nodes * devicesPerNode }

  public init(nodes: Int, devicesPerNode: Int, device: Device, intraGBPerSecond: Double? = nil, interGBPerSecond: Double? = nil) {
    self.nodes = nodes
    self.devicesPerNode = devicesPerNode
    self.device = device
    self.intraGBPerSecond = intraGBPerSecond ?? device.intraGBPerSecond
    self.interGBPerSecond = interGBPerSecond ?? device.interGBPerSecond
  }

  /// `nodes=N,devices=D,device=KIND[,intra=600GB/s][,inter=200Gb/s]`. Link figures are written
  /// as vendors quote them: GB/s for a link within a node is the sum of both directions (NVLink's
  /// 600 GB/s on a DGX A100 is 300 each way), Gb/s (or GB/s) across nodes is one direction.
  public static func parse(_ text: String) throws -> Cluster {
    var fields: [String: String] = [:]
    for part in text.split(separator: ",") {
      let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard pair.count == 2, !pair[1].isEmpty else { throw PlanError.cluster(text, "`\(part)` is not key=value") }
      fields[pair[0].lowercased()] = pair[1]
    }
    let known: Set = ["nodes", "devices", "device", "intra", "inter"]
    if let unknown = fields.keys.first(where: { !known.contains($0) }) {
      throw PlanError.cluster(text, "unknown key `\(unknown)`; expected nodes, devices, device, intra, inter")
    }
    guard let kind = fields["device"] else { throw PlanError.cluster(text, "no device=KIND (one of \(Device.catalogue.keys.sorted().joined(separator: ", ")))") }
    guard let device = Device.catalogue[kind.lowercased()] else {
      throw PlanError.cluster(text, "unknown device \"\(kind)\"; expected one of \(Device.catalogue.keys.sorted().joined(separator: ", "))")
    }
    func count(_ key: String, default value: Int?) throws -> Int {
      guard let raw = fields[key] else {
        if let value { return value }
        throw PlanError.cluster(text, "no \(key)=N")
      }
      guard let n = Int(raw), n > 0 else { throw PlanError.cluster(text, "\(key)=\(raw) is not a positive whole number") }
      return n
    }
    let nodes = try count("nodes", default: nil), perNode = try count("devices", default: device.devicesPerNode)
    let intra = try fields["intra"].map { try rate($0, bothDirections: true, in: text) }
    let inter = try fields["inter"].map { try rate($0, bothDirections: false, in: text) }
    return Cluster(nodes: nodes, devicesPerNode: perNode, device: device, intraGBPerSecond: intra, interGBPerSecond: inter)
  }

  /// GB/s per direction from "600GB/s" or "200Gb/s" (a within-node figure in bytes counts both
  /// directions, as NVIDIA quotes NVLink; a figure in bits is one direction, as a NIC's).
  static func rate(_ text: String, bothDirections: Bool, in spec: String) throws -> Double {
    let compact = text.replacingOccurrences(of: " ", with: "")
    // Upper-case B is bytes, lower-case b bits; written all lower-case, gb/s and tb/s are bytes.
    let units: [(suffix: String, gbPerSecond: Double, bits: Bool)] = [
      ("GB/s", 1, false), ("TB/s", 1000, false), ("Gb/s", 0.125, true), ("Gbit/s", 0.125, true), ("Tb/s", 125, true),
      ("gbit/s", 0.125, true), ("gb/s", 1, false), ("tb/s", 1000, false),
    ]
    if let unit = units.first(where: { compact.hasSuffix($0.suffix) }), let value = Double(compact.dropLast(unit.suffix.count)), value > 0 {
      let gbPerSecond = value * unit.gbPerSecond
      return bothDirections && !unit.bits ? gbPerSecond / 2 : gbPerSecond
    }
    throw PlanError.cluster(spec, "`\(text)` is not a rate; write it as 600GB/s or 200Gb/s")
  }
}

public enum PlanError: Error, CustomStringConvertible, Equatable {
  case cluster(String, String)
  case layout(String, String)
  case precision(String, String)
  case batch(String)

  public var description: String {
    switch self {
    case .cluster(let text, let why): "--cluster \(text): \(why)"
    case .layout(let text, let why): "--layout \(text): \(why)"
    case .precision(let text, let why): "--precision \(text): \(why)"
    case .batch(let why): why
    }
  }
}
