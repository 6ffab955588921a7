#pragma once
// JSON Schema to a GBNF grammar (grammar.hpp) whose sentences are JSON texts the schema
// accepts, so that a grammar-constrained sampler writes only valid documents.
#include <string>
#include <string_view>

namespace cria {

// The grammar, with start rule "root", for the JSON Schema `schema_json` (JSON text). What is
// supported:
//  * type: "object", "array", "string", "number", "integer", "boolean", "null", or a list
//    of them (["string", "null"]); without type, the type its keywords imply, else any value;
//  * object: properties (written in the schema's order; the required ones always, the others
//    may be left out), required, additionalProperties false or absent (no other properties
//    are written either way);
//  * array: items, minItems, maxItems;  string: minLength, maxLength;
//  * enum and const of any JSON values (with type, the values of that type);
//  * anyOf and oneOf (as alternatives: a oneOf whose branches overlap can yield a value that
//    matches several); $ref to "#/$defs/NAME" or "#/definitions/NAME", recursion included;
//  * annotations (title, description, default, examples, $schema, $id, $comment, ...) are
//    ignored.
// Numbers have at most 16 integer and 16 fraction digits and 2 exponent digits, and at most
// 21 characters of whitespace stand between tokens (a space, or a line break and 20 spaces or
// tabs of indentation), so that a model cannot write forever where the schema sets no bound.
// Throws Error(InvalidArgument) "json schema: line L, column C: what is wrong" for text that
// is not JSON or a keyword with a value of the wrong kind, and Error(Unsupported), with the
// same kind of message naming the keyword, for keywords that would change which values are
// valid but are not supported (pattern, minimum, format, allOf, ...).
std::string json_schema_to_grammar(std::string_view schema_json);

}  // namespace cria
