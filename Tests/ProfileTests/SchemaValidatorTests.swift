import Foundation
import Testing

@testable import Profile

@Suite struct SchemaValidatorTests {
  let schema = JSONValue.object([
    "type": .string("object"),
    "required": .array([.string("n")]),
    "additionalProperties": .bool(false),
    "properties": .object([
      "n": .object(["type": .string("integer"), "minimum": .number(1)]),
      "tags": .object(["type": .string("array"), "items": .object(["type": .string("string"), "pattern": .string("^[a-z]+$")])]),
    ]),
  ])

  func violations(_ text: String) throws -> [SchemaValidator.Violation] {
    SchemaValidator(schema: schema).validate(try JSONValue.parse(Data(text.utf8)))
  }

  @Test func acceptsAConformingDocument() throws {
    #expect(try violations(#"{"n": 3, "tags": ["a", "bc"]}"#) == [])
  }

  @Test func reportsEachKindOfViolationWithItsPath() throws {
    #expect(try violations(#"{"tags": []}"#).map(\.field) == ["n"])
    #expect(try violations(#"{"n": 0}"#).map(\.field) == ["n"])
    #expect(try violations(#"{"n": 1.5}"#).first?.kind == .wrongType(expected: "integer", found: "number"))
    #expect(try violations(#"{"n": 1, "tags": ["ok", "Not"]}"#).map(\.field) == ["tags[1]"])
    #expect(try violations(#"{"n": true}"#).first?.kind == .wrongType(expected: "integer", found: "boolean"))
  }

  @Test func reportsKeywordsItDoesNotImplement() {
    let validator = SchemaValidator(schema: .object(["oneOf": .array([])]))
    #expect(validator.validate(.null).first?.kind == .invalid(problem: "schema error: unsupported keyword oneOf"))
  }

  @Test func keepsBooleansAndNumbersApart() throws {
    #expect(try JSONValue.parse(Data("true".utf8)) == .bool(true))
    #expect(try JSONValue.parse(Data("1".utf8)) == .number(1))
    #expect(try JSONValue.parse(Data("\"1\"".utf8)) == .string("1"))
  }
}
