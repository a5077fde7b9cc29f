import Foundation

/// A validator for the subset of JSON Schema (2020-12) that the profile's schema uses: `type`,
/// `properties`, `required`, `additionalProperties`, `items`, `enum`, `const`, `minimum`,
/// `maximum`, `exclusiveMinimum`, `minLength`, `pattern`, `minItems` and local `$ref`s into `$defs`.
/// A keyword outside that subset is reported, never ignored, so the schema cannot drift past what
/// is checked.
public struct SchemaValidator: Sendable {
  public struct Violation: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
      case missing(expected: String)
      case wrongType(expected: String, found: String)
      case invalid(problem: String)
    }
    /// A JSON path such as `machine.cpu.features[3].usable`.
    public var field: String
    public var kind: Kind

    public var description: String {
      switch kind {
      case .missing(let expected): return "\(field): missing; expected \(expected)"
      case .wrongType(let expected, let found): return "\(field): is \(found); expected \(expected)"
      case .invalid(let problem): return "\(field): \(problem)"
      }
    }
  }

  static let knownKeywords: Set<String> = [
    "$schema", "$id", "$defs", "$ref", "title", "description", "type", "properties", "required",
    "additionalProperties", "items", "enum", "const", "minimum", "maximum", "exclusiveMinimum",
    "minLength", "pattern", "minItems", "format", "examples",
  ]

  public let schema: JSONValue

  public init(schema: JSONValue) {
    self.schema = schema
  }

  /// The profile's own schema, shipped as a resource of this module.
  public static func profileSchema() throws -> SchemaValidator {
    guard let url = Bundle.module.url(forResource: "profile.schema", withExtension: "json") else {
      throw ProfileError.notFound(path: "profile.schema.json (resource of the Profile module)")
    }
    return SchemaValidator(schema: try JSONValue.parse(Data(contentsOf: url)))
  }

  /// All violations of `value` against the schema, in document order.
  public func validate(_ value: JSONValue) -> [Violation] {
    var violations: [Violation] = []
    check(value, against: schema, at: "", into: &violations)
    return violations
  }

  private func resolve(_ schema: JSONValue) -> JSONValue {
    guard case .string(let ref)? = schema["$ref"] else { return schema }
    let prefix = "#/$defs/"
    guard ref.hasPrefix(prefix), let target = self.schema["$defs"]?[String(ref.dropFirst(prefix.count))]
    else { return .object(["$unresolved": .string(ref)]) }
    return resolve(target)
  }

  private func describe(_ schema: JSONValue) -> String {
    if case .string(let description)? = schema["description"] { return description }
    if case .string(let type)? = schema["type"] { return "a value of type \(type)" }
    return "a value matching the schema"
  }

  private func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

  private func check(_ value: JSONValue, against raw: JSONValue, at path: String, into out: inout [Violation]) {
    let schema = resolve(raw)
    guard case .object(let keywords) = schema else { return }
    let field = path.isEmpty ? "(document)" : path
    if case .string(let ref)? = keywords["$unresolved"] {
      out.append(.init(field: field, kind: .invalid(problem: "schema error: unresolved $ref \(ref)")))
      return
    }
    for key in keywords.keys where !Self.knownKeywords.contains(key) {
      out.append(.init(field: field, kind: .invalid(problem: "schema error: unsupported keyword \(key)")))
    }
    if let typeSpec = keywords["type"] {
      let allowed: [String]
      switch typeSpec {
      case .string(let one): allowed = [one]
      case .array(let many): allowed = many.compactMap { if case .string(let s) = $0 { s } else { nil } }
      default: allowed = []
      }
      let found = value.schemaType
      let matches = allowed.contains(found) || (found == "integer" && allowed.contains("number"))
      if !matches {
        out.append(.init(field: field, kind: .wrongType(expected: allowed.joined(separator: " or "), found: found)))
        return
      }
    }
    if case .array(let options)? = keywords["enum"], !options.contains(value) {
      let names = options.map { option -> String in
        if case .string(let s) = option { return "\"\(s)\"" }
        return "\(option)"
      }
      out.append(.init(field: field, kind: .invalid(problem: "is \(Self.render(value)); expected one of \(names.joined(separator: ", "))")))
    }
    if let constant = keywords["const"], constant != value {
      out.append(.init(field: field, kind: .invalid(problem: "is \(Self.render(value)); expected \(Self.render(constant))")))
    }
    switch value {
    case .number(let number):
      if case .number(let minimum)? = keywords["minimum"], number < minimum {
        out.append(.init(field: field, kind: .invalid(problem: "is \(number); expected at least \(minimum)")))
      }
      if case .number(let maximum)? = keywords["maximum"], number > maximum {
        out.append(.init(field: field, kind: .invalid(problem: "is \(number); expected at most \(maximum)")))
      }
      if case .number(let bound)? = keywords["exclusiveMinimum"], number <= bound {
        out.append(.init(field: field, kind: .invalid(problem: "is \(number); expected more than \(bound)")))
      }
    case .string(let string):
      if case .number(let minLength)? = keywords["minLength"], Double(string.count) < minLength {
        out.append(.init(field: field, kind: .invalid(problem: "is too short; expected at least \(Int(minLength)) characters")))
      }
      if case .string(let pattern)? = keywords["pattern"],
         string.range(of: pattern, options: .regularExpression) == nil {
        out.append(.init(field: field, kind: .invalid(problem: "is \"\(string)\"; expected text matching \(pattern)")))
      }
    case .array(let elements):
      if case .number(let minItems)? = keywords["minItems"], Double(elements.count) < minItems {
        out.append(.init(field: field, kind: .invalid(problem: "has \(elements.count) items; expected at least \(Int(minItems))")))
      }
      if let items = keywords["items"] {
        for (index, element) in elements.enumerated() {
          check(element, against: items, at: "\(path)[\(index)]", into: &out)
        }
      }
    case .object(let members):
      let properties: [String: JSONValue]
      if case .object(let declared)? = keywords["properties"] { properties = declared } else { properties = [:] }
      if case .array(let required)? = keywords["required"] {
        for case .string(let name) in required where members[name] == nil {
          let expected = properties[name].map { describe(resolve($0)) } ?? "a value"
          out.append(.init(field: join(path, name), kind: .missing(expected: expected)))
        }
      }
      for name in members.keys.sorted() {
        let member = members[name]!
        if let propertySchema = properties[name] {
          check(member, against: propertySchema, at: join(path, name), into: &out)
        } else if let additional = keywords["additionalProperties"] {
          if case .bool(false) = additional {
            let known = properties.keys.sorted().joined(separator: ", ")
            out.append(.init(field: join(path, name), kind: .invalid(problem: "is not a known field; expected one of: \(known)")))
          } else if case .object = additional {
            check(member, against: additional, at: join(path, name), into: &out)
          }
        }
      }
    default:
      break
    }
  }

  static func render(_ value: JSONValue) -> String {
    switch value {
    case .string(let s): return "\"\(s)\""
    case .number(let n): return n.rounded() == n ? String(Int64(n)) : String(n)
    case .bool(let b): return String(b)
    case .null: return "null"
    case .array: return "an array"
    case .object: return "an object"
    }
  }
}
