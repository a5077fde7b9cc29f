import CHwloc
import Foundation

public enum PlatformError: Error, Equatable, CustomStringConvertible {
  case hwlocXMLMissing(path: String)
  case hwlocFailed(call: String, detail: String)

  public var description: String {
    switch self {
    case .hwlocXMLMissing(let path):
      return "HWLOC_XMLFILE=\(path): no such readable file; point HWLOC_XMLFILE at a topology exported by `lstopo file.xml`, or unset it to read this machine"
    case .hwlocFailed(let call, let detail):
      return "hwloc: \(call) failed (\(detail)); is libhwloc installed (apt-get install libhwloc-dev)?"
    }
  }
}

/// The machine's topology as hwloc sees it, PCI devices included. One loaded topology is read-only
/// and, as hwloc documents, safe to query and bind from several threads.
public final class Topology: @unchecked Sendable {
  let handle: hwloc_topology_t
  /// Where the topology came from: this system, or the XML file named by HWLOC_XMLFILE.
  public let source: String

  /// Loads the topology. When HWLOC_XMLFILE is set, it must name a readable file: hwloc itself
  /// would otherwise fall back to this system silently.
  public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
    if let xml = environment["HWLOC_XMLFILE"], !xml.isEmpty {
      guard FileManager.default.isReadableFile(atPath: xml) else { throw PlatformError.hwlocXMLMissing(path: xml) }
    }
    var topology: hwloc_topology_t?
    guard hwloc_topology_init(&topology) == 0, let topology else {
      throw PlatformError.hwlocFailed(call: "hwloc_topology_init", detail: String(cString: strerror(errno)))
    }
    hwloc_topology_set_io_types_filter(topology, HWLOC_TYPE_FILTER_KEEP_IMPORTANT)
    // hwloc drops instruction caches by default; the probe reports every cache level.
    hwloc_topology_set_icache_types_filter(topology, HWLOC_TYPE_FILTER_KEEP_ALL)
    guard hwloc_topology_load(topology) == 0 else {
      let detail = String(cString: strerror(errno))
      hwloc_topology_destroy(topology)
      throw PlatformError.hwlocFailed(call: "hwloc_topology_load", detail: detail)
    }
    handle = topology
    let version = Topology.info(hwloc_get_root_obj(topology), "hwlocVersion") ?? "2"
    if let xml = environment["HWLOC_XMLFILE"], !xml.isEmpty {
      source = "hwloc \(version), XML file \(xml)"
    } else {
      source = "hwloc \(version), this system"
    }
  }

  deinit { hwloc_topology_destroy(handle) }

  /// True when the topology describes the running machine (not an XML file), so binding works.
  public var isThisSystem: Bool { hwloc_topology_is_thissystem(handle) != 0 }

  public func count(_ type: hwloc_obj_type_t) -> Int { Int(hwloc_get_nbobjs_by_type(handle, type)) }

  func objects(_ type: hwloc_obj_type_t) -> [hwloc_obj_t] {
    (0..<count(type)).compactMap { hwloc_get_obj_by_type(handle, type, UInt32($0)) }
  }

  public var packages: Int { count(HWLOC_OBJ_PACKAGE) }
  public var cores: Int { count(HWLOC_OBJ_CORE) }
  public var hardwareThreads: Int { count(HWLOC_OBJ_PU) }

  public struct NUMANodeInfo: Sendable {
    public var osIndex: Int
    public var localMemoryBytes: UInt64
    public var cpuList: String
  }

  public var numaNodes: [NUMANodeInfo] {
    objects(HWLOC_OBJ_NUMANODE).map { node in
      NUMANodeInfo(
        osIndex: Int(node.pointee.os_index),
        localMemoryBytes: node.pointee.attr.pointee.numanode.local_memory,
        cpuList: Topology.listString(node.pointee.cpuset))
    }
  }

  public struct CacheInfo: Sendable, Equatable {
    public enum Kind: String, Sendable { case data, instruction, unified }
    public var level: Int
    public var kind: Kind
    public var sizeBytes: UInt64
    public var lineSizeBytes: Int
    public var associativity: Int
    public var sharedByCores: Int
    public var instances: Int
  }

  /// One entry per cache level and kind; instances of a level that differ (hybrid CPUs) are
  /// reported separately.
  public var caches: [CacheInfo] {
    let types: [hwloc_obj_type_t] = [
      HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L1ICACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L2ICACHE,
      HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L3ICACHE, HWLOC_OBJ_L4CACHE, HWLOC_OBJ_L5CACHE,
    ]
    var result: [CacheInfo] = []
    for type in types {
      for cache in objects(type) {
        let attr = cache.pointee.attr.pointee.cache
        let kind: CacheInfo.Kind =
          attr.type == HWLOC_OBJ_CACHE_DATA ? .data : attr.type == HWLOC_OBJ_CACHE_INSTRUCTION ? .instruction : .unified
        let sharing = Int(hwloc_get_nbobjs_inside_cpuset_by_type(handle, cache.pointee.cpuset, HWLOC_OBJ_CORE))
        let info = CacheInfo(
          level: Int(attr.depth), kind: kind, sizeBytes: attr.size, lineSizeBytes: Int(attr.linesize),
          associativity: Int(attr.associativity), sharedByCores: sharing, instances: 1)
        if let index = result.firstIndex(where: {
          $0.level == info.level && $0.kind == info.kind && $0.sizeBytes == info.sizeBytes && $0.sharedByCores == info.sharedByCores
        }) {
          result[index].instances += 1
        } else {
          result.append(info)
        }
      }
    }
    return result
  }

  /// OS indices of the first hardware thread of each core, in topology order: where to pin one
  /// thread per core.
  public var firstThreadOfEachCore: [Int] {
    objects(HWLOC_OBJ_CORE).compactMap { core in
      let first = hwloc_bitmap_first(core.pointee.cpuset)
      return first >= 0 ? Int(first) : nil
    }
  }

  /// The hardware threads this process may run on, as a cpu list and a count.
  public func processBinding() -> (list: String, count: Int)? {
    guard isThisSystem, let set = hwloc_bitmap_alloc() else { return nil }
    defer { hwloc_bitmap_free(set) }
    guard hwloc_get_cpubind(handle, set, Int32(HWLOC_CPUBIND_PROCESS.rawValue)) == 0 else { return nil }
    return (Topology.listString(set), Int(hwloc_bitmap_weight(set)))
  }

  /// Binds the calling thread to the hardware thread with OS index `pu`. Returns false where
  /// binding is not possible (an XML topology, a restricted container).
  @discardableResult
  public func bindCurrentThread(toPU pu: Int) -> Bool {
    guard isThisSystem, let set = hwloc_bitmap_alloc() else { return false }
    defer { hwloc_bitmap_free(set) }
    hwloc_bitmap_only(set, UInt32(pu))
    return hwloc_set_cpubind(handle, set, Int32(HWLOC_CPUBIND_THREAD.rawValue)) == 0
  }

  /// Runs `body` with the calling thread bound to `pu`, then gives the thread back the binding it
  /// had: a borrowed thread (a caller's) leaves as it came, so that what it does afterwards (start a
  /// process, say, which would inherit the binding) is not confined to one core.
  public func withCurrentThreadBound<R>(toPU pu: Int, _ body: () -> R) -> R {
    guard isThisSystem, let saved = hwloc_bitmap_alloc() else { return body() }
    defer { hwloc_bitmap_free(saved) }
    let thread = Int32(HWLOC_CPUBIND_THREAD.rawValue)
    let known = hwloc_get_cpubind(handle, saved, thread) == 0
    bindCurrentThread(toPU: pu)
    defer { if known { _ = hwloc_set_cpubind(handle, saved, thread) } }
    return body()
  }

  /// Runs `body` with the calling thread bound to the set `pus` (the OS places it among them), then
  /// gives it back its own binding. Threads it starts meanwhile inherit the set.
  public func withCurrentThreadBound<R>(toPUs pus: [Int], _ body: () -> R) -> R {
    guard isThisSystem, !pus.isEmpty, let saved = hwloc_bitmap_alloc(), let set = hwloc_bitmap_alloc() else { return body() }
    defer {
      hwloc_bitmap_free(saved)
      hwloc_bitmap_free(set)
    }
    for pu in pus { hwloc_bitmap_set(set, UInt32(pu)) }
    let thread = Int32(HWLOC_CPUBIND_THREAD.rawValue)
    let known = hwloc_get_cpubind(handle, saved, thread) == 0
    _ = hwloc_set_cpubind(handle, set, thread)
    defer { if known { _ = hwloc_set_cpubind(handle, saved, thread) } }
    return body()
  }

  public struct PCIInfo: Sendable {
    public var busID: String
    public var classID: Int
    public var vendorID: Int
    public var deviceID: Int
    public var vendorName: String?
    public var deviceName: String?
    public var osDevices: [String]
  }

  public var pciDevices: [PCIInfo] {
    var result: [PCIInfo] = []
    var device = hwloc_get_next_pcidev(handle, nil)
    while let current = device {
      let pci = current.pointee.attr.pointee.pcidev
      var osDevices: [String] = []
      var child = current.pointee.io_first_child
      while let io = child {
        if io.pointee.type == HWLOC_OBJ_OS_DEVICE, let name = io.pointee.name { osDevices.append(String(cString: name)) }
        child = io.pointee.next_sibling
      }
      result.append(
        PCIInfo(
          busID: String(format: "%04x:%02x:%02x.%01x", pci.domain, pci.bus, pci.dev, pci.func),
          classID: Int(pci.class_id), vendorID: Int(pci.vendor_id), deviceID: Int(pci.device_id),
          vendorName: Topology.info(current, "PCIVendor"), deviceName: Topology.info(current, "PCIDevice"),
          osDevices: osDevices))
      device = hwloc_get_next_pcidev(handle, current)
    }
    return result
  }

  /// Writes the topology as hwloc XML (what `lstopo file.xml` writes), for HWLOC_XMLFILE.
  public func exportXML(to path: String) throws {
    guard hwloc_topology_export_xml(handle, path, 0) == 0 else {
      throw PlatformError.hwlocFailed(call: "hwloc_topology_export_xml(\(path))", detail: String(cString: strerror(errno)))
    }
  }

  static func info(_ object: hwloc_obj_t?, _ name: String) -> String? {
    guard let object, let value = hwloc_obj_get_info_by_name(object, name) else { return nil }
    return String(cString: value)
  }

  static func listString(_ set: hwloc_const_bitmap_t?) -> String {
    guard let set else { return "" }
    var text: UnsafeMutablePointer<CChar>?
    guard hwloc_bitmap_list_asprintf(&text, set) >= 0, let text else { return "" }
    defer { free(text) }
    return String(cString: text)
  }
}
