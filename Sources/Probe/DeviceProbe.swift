import Foundation
import Platform
import Profile

/// GPUs and NICs on PCI (from hwloc), named in full by the vendor's tool where one is installed.
enum DeviceProbe {
  /// PCI class 0x03xx is a display controller (GPUs and accelerators), 0x02xx a network
  /// controller, 0x0207 InfiniBand; 0x12xx processing accelerators count as GPUs too.
  static func kind(ofClass classID: Int) -> PCIDevice.Kind? {
    switch classID >> 8 {
    case 0x03, 0x12: return .gpu
    case 0x02: return .nic
    default: return classID == 0x0C06 ? .nic : nil
    }
  }

  static func pciDevices(_ topology: Topology) -> [PCIDevice] {
    topology.pciDevices.compactMap { device in
      guard let kind = kind(ofClass: device.classID) else { return nil }
      return PCIDevice(
        busID: device.busID, kind: kind, classID: device.classID, vendorID: device.vendorID,
        deviceID: device.deviceID, vendorName: device.vendorName, deviceName: device.deviceName,
        osDevices: device.osDevices)
    }
  }

  static func gpus(environment: [String: String]) -> [GPU] {
    if let nvidia = findExecutable("nvidia-smi", environment: environment),
      let output = runTool(nvidia, ["--query-gpu=name,memory.total,pci.bus_id", "--format=csv,noheader,nounits"])
    {
      return parseNvidiaSMI(output)
    }
    if let rocm = findExecutable("rocm-smi", environment: environment),
      let output = runTool(rocm, ["--showproductname", "--showbus", "--csv"])
    {
      return parseRocmSMI(output)
    }
    return []
  }

  /// Lines of `name, memory MiB, bus id`.
  static func parseNvidiaSMI(_ output: String) -> [GPU] {
    output.split(separator: "\n").compactMap { line in
      let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      guard fields.count >= 3, !fields[0].isEmpty else { return nil }
      return GPU(name: fields[0], memoryBytes: UInt64(fields[1]).map { $0 << 20 }, busID: fields[2].lowercased(), source: "nvidia-smi")
    }
  }

  /// rocm-smi's CSV: a header naming the columns, then one row per card.
  static func parseRocmSMI(_ output: String) -> [GPU] {
    let lines = output.split(separator: "\n").map(String.init).filter { $0.contains(",") }
    guard let header = lines.first?.split(separator: ",").map({ $0.lowercased() }) else { return [] }
    let nameColumn = header.firstIndex { $0.contains("card series") || $0.contains("card model") }
    let busColumn = header.firstIndex { $0.contains("pci bus") }
    return lines.dropFirst().compactMap { line in
      let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
      guard let nameColumn, nameColumn < fields.count else { return nil }
      let bus = busColumn.flatMap { $0 < fields.count ? fields[$0] : nil } ?? fields[0]
      return GPU(name: fields[nameColumn], memoryBytes: nil, busID: bus.lowercased(), source: "rocm-smi")
    }
  }

  static func findExecutable(_ name: String, environment: [String: String]) -> String? {
    for directory in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
      let path = "\(directory)/\(name)"
      if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
  }

  /// Runs a vendor tool and returns its output, or nil when it fails (no driver loaded, say).
  static func runTool(_ path: String, _ arguments: [String]) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self)
  }
}
