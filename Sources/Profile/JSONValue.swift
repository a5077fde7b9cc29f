import Foundation

/// Any JSON value. Profile sections that a stage does not own travel through it untouched, and the
/// schema validator walks it.
public enum JSONValue: Codable, Equatable, Sendable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  public init(from decoder: Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  public func encode(to encoder: Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .null: try container.encodeNil()
    case .bool(let value): try container.encode(value)
    case .number(let value): try container.encode(value)
    case .string(let value): try container.encode(value)
    case .array(let value): try container.encode(value)
    case .object(let value): try container.encode(value)
    }
  }

  /// Parses JSON text. JSONDecoder is strict about kinds (a number never decodes as a Bool), so
  /// the order of attempts in `init(from:)` keeps booleans, numbers and strings apart.
  public static func parse(_ data: Data) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: data)
  }

  /// The JSON Schema type name of this value ("integer" for whole numbers).
  public var schemaType: String {
    switch self {
    case .null: return "null"
    case .bool: return "boolean"
    case .number(let value): return value.rounded() == value && value.isFinite ? "integer" : "number"
    case .string: return "string"
    case .array: return "array"
    case .object: return "object"
    }
  }

  public subscript(key: String) -> JSONValue? {
    if case .object(let dictionary) = self { return dictionary[key] }
    return nil
  }
}
