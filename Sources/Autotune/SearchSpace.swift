/// One point of a search space: a value for every parameter, by name. Values are strings so that
/// numbers and names (a micro-kernel, a loop) mix; `int(_:)` reads a numeric one.
public struct Configuration: Hashable, Codable, Sendable, CustomStringConvertible, Comparable {
  public var values: [String: String]

  public init(_ values: [String: String]) { self.values = values }

  public subscript(name: String) -> String? { values[name] }

  public func int(_ name: String) -> Int? { values[name].flatMap { Int($0) } }

  /// `k=v,k=v` in name order: stable, so it serves as a journal key.
  public var description: String { values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: ",") }

  public static func < (a: Configuration, b: Configuration) -> Bool { a.description < b.description }
}

/// A named parameter and its candidate values, in an order where neighbours are similar (so that
/// local search can step between them).
public struct Parameter: Sendable {
  public var name: String
  public var values: [String]

  public init(_ name: String, _ values: [String]) {
    self.name = name
    self.values = values
  }

  public init(_ name: String, _ values: [Int]) {
    self.init(name, values.map(String.init))
  }
}

/// Parameters with constraints between them (MC a multiple of MR, …). A constraint returns why a
/// configuration is invalid, or nil.
public struct SearchSpace: Sendable {
  public var parameters: [Parameter]
  public var constraints: [@Sendable (Configuration) -> String?]

  public init(parameters: [Parameter], constraints: [@Sendable (Configuration) -> String?] = []) {
    self.parameters = parameters
    self.constraints = constraints
  }

  public func violation(_ configuration: Configuration) -> String? {
    for constraint in constraints { if let reason = constraint(configuration) { return reason } }
    return nil
  }

  /// Every valid configuration, in a fixed order.
  public func allValid() -> [Configuration] {
    var result: [[String: String]] = [[:]]
    for parameter in parameters {
      result = result.flatMap { partial in parameter.values.map { value in partial.merging([parameter.name: value]) { $1 } } }
    }
    return result.map(Configuration.init).filter { violation($0) == nil }
  }

  public var count: Int { allValid().count }

  /// Valid configurations that differ from `configuration` in one parameter by one step of its
  /// value list.
  public func neighbours(of configuration: Configuration) -> [Configuration] {
    var result: [Configuration] = []
    for parameter in parameters {
      guard let current = configuration[parameter.name], let index = parameter.values.firstIndex(of: current) else { continue }
      for step in [-1, 1] {
        let next = index + step
        guard parameter.values.indices.contains(next) else { continue }
        var values = configuration.values
        values[parameter.name] = parameter.values[next]
        let candidate = Configuration(values)
        if violation(candidate) == nil { result.append(candidate) }
      }
    }
    return result
  }

  /// The valid configuration nearest to `configuration`: each parameter's value snapped to the
  /// closest listed one (numerically where both are numbers), then repaired by neighbours.
  public func snap(_ configuration: Configuration) -> Configuration? {
    var values: [String: String] = [:]
    for parameter in parameters {
      guard let wanted = configuration[parameter.name] else {
        values[parameter.name] = parameter.values.first
        continue
      }
      if parameter.values.contains(wanted) {
        values[parameter.name] = wanted
      } else if let number = Double(wanted) {
        values[parameter.name] = parameter.values.min { abs((Double($0) ?? .infinity) - number) < abs((Double($1) ?? .infinity) - number) }
      } else {
        values[parameter.name] = parameter.values.first
      }
    }
    let snapped = Configuration(values)
    if violation(snapped) == nil { return snapped }
    return allValid().min { distance($0, snapped) < distance($1, snapped) }
  }

  func distance(_ a: Configuration, _ b: Configuration) -> Int {
    parameters.reduce(0) { total, parameter in
      let i = parameter.values.firstIndex(of: a[parameter.name] ?? "") ?? 0
      let j = parameter.values.firstIndex(of: b[parameter.name] ?? "") ?? 0
      return total + abs(i - j)
    }
  }
}
