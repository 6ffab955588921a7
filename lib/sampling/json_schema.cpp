// JSON Schema to GBNF: a converter that writes one rule per schema that needs one, naming the
// line and column of what it refuses.
#include "cria/sampling/json_schema.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cria/error.hpp"
#include "cria/io/json.hpp"

namespace cria {

namespace {

using io::Json;

std::string where(std::string_view text, size_t offset) {
  const io::TextPosition at = io::text_position(text, offset);
  return "json schema: line " + std::to_string(at.line) + ", column " + std::to_string(at.column) + ": ";
}

// The schema's JSON value; a malformed one is refused with the same prefix as the converter's errors.
Json read_schema(std::string_view text) {
  try {
    return io::parse_json(text, "schema");
  } catch (const io::JsonError& e) {
    throw Error(ErrorCode::InvalidArgument, "json schema: " + std::string(e.what()));
  }
}

// Compact JSON text of a value.
std::string to_json(const Json& v) {
  switch (v.kind) {
    case Json::Null: return "null";
    case Json::Bool: return v.boolean ? "true" : "false";
    case Json::Number: return v.text;
    case Json::String: {
      std::string out = "\"";
      for (char ch : v.text) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
      }
      return out + "\"";
    }
    case Json::Array: {
      std::string out = "[";
      for (size_t i = 0; i < v.items.size(); ++i) out += (i ? "," : "") + to_json(v.items[i]);
      return out + "]";
    }
    case Json::Object: {
      std::string out = "{";
      for (size_t i = 0; i < v.members.size(); ++i) {
        Json key;
        key.kind = Json::String;
        key.text = v.members[i].key;
        out += (i ? "," : "") + to_json(key) + ":" + to_json(v.members[i].value);
      }
      return out + "}";
    }
  }
  return "null";
}

// A GBNF string literal matching exactly `text`.
std::string literal(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

// ---- the conversion ------------------------------------------------------------------------

// The rules every grammar may use, written when first used.
struct Primitive {
  const char* name;
  const char* body;
  std::vector<const char*> uses;
};
const std::vector<Primitive>& primitives() {
  static const std::vector<Primitive> list = {
      {"ws", "( \" \" | \"\\n\" [ \\t]{0,20} )?", {}},
      {"char", "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" hex4 )", {"hex4"}},
      // \u escapes of characters only (no surrogate halves), so that a string's length in
      // characters is the number of its `char`s
      {"hex4", "[0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}", {}},
      {"string", "\"\\\"\" char* \"\\\"\"", {"char"}},
      {"integer", "\"-\"? ( \"0\" | [1-9] [0-9]{0,15} )", {}},
      {"number", "integer ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?", {"integer"}},
      {"boolean", "\"true\" | \"false\"", {}},
      {"null", "\"null\"", {}},
      {"value", "object | array | string | number | boolean | null",
       {"object", "array", "string", "number", "boolean", "null"}},
      {"object", "\"{\" ws ( string ws \":\" ws value ws ( \",\" ws string ws \":\" ws value ws )* )? \"}\"",
       {"ws", "string", "value"}},
      {"array", "\"[\" ws ( value ws ( \",\" ws value ws )* )? \"]\"", {"ws", "value"}},
  };
  return list;
}

const std::set<std::string>& annotations() {
  static const std::set<std::string> s = {"title",      "description", "$schema",  "$id",        "$comment",
                                          "default",    "examples",    "readOnly", "writeOnly",  "deprecated",
                                          "$anchor",    "contentEncoding", "contentMediaType"};
  return s;
}
const std::set<std::string>& supported() {
  static const std::set<std::string> s = {"type",     "properties", "required", "additionalProperties",
                                          "items",    "minItems",   "maxItems", "minLength",
                                          "maxLength", "enum",      "const",    "anyOf",
                                          "oneOf",    "$ref",       "$defs",    "definitions"};
  return s;
}

class Converter {
 public:
  Converter(std::string_view text, const Json& root) : text_(text), root_(root) {
    for (const Primitive& p : primitives()) taken_.insert(p.name);
    taken_.insert("root");
  }

  std::string convert() {
    const std::string value = visit(root_, "root");
    std::string out = "root ::= ws " + value + " ws\n";
    use("ws");
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    for (const Primitive& p : primitives())
      if (used_.count(p.name)) out += std::string(p.name) + " ::= " + p.body + "\n";
    return out;
  }

 private:
  [[noreturn]] void fail(size_t offset, const std::string& what, ErrorCode code = ErrorCode::InvalidArgument) const {
    throw Error(code, where(text_, offset) + what);
  }

  void use(const std::string& name) {
    if (!used_.insert(name).second) return;
    for (const Primitive& p : primitives())
      if (name == p.name)
        for (const char* u : p.uses) use(u);
  }
  std::string primitive(const char* name) {
    use(name);
    return name;
  }

  // A rule name from a hint: letters and digits kept, anything else a '-'; made unique.
  std::string new_name(const std::string& hint) {
    std::string base;
    for (char c : hint) base += (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '-';
    if (base.empty()) base = "rule";
    std::string name = base;
    for (int i = 2; !taken_.insert(name).second; ++i) name = base + "-" + std::to_string(i);
    return name;
  }
  // A rule with this body (one already written with the same body is reused).
  std::string rule(const std::string& hint, const std::string& body) {
    auto it = by_body_.find(body);
    if (it != by_body_.end()) return it->second;
    const std::string name = new_name(hint);
    rules_.push_back({name, body});
    by_body_[body] = name;
    return name;
  }

  size_t count(const Json& v, const char* keyword) const {
    const bool digits = v.kind == Json::Number && !v.text.empty() &&
                        std::all_of(v.text.begin(), v.text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) fail(v.offset, std::string(keyword) + " must be a non-negative integer");
    if (v.text.size() > 6 || std::stoul(v.text) > 100000)
      fail(v.offset, std::string(keyword) + " above 100000 is not supported", ErrorCode::Unsupported);
    return std::stoul(v.text);
  }

  // x{min,max} in GBNF (max SIZE_MAX: no bound).
  static std::string repeat(const std::string& x, size_t min, size_t max) {
    if (max == SIZE_MAX) return min == 0 ? x + "*" : min == 1 ? x + "+" : x + "{" + std::to_string(min) + ",}";
    if (min == max) return min == 0 ? "" : min == 1 ? x : x + "{" + std::to_string(min) + "}";
    if (min == 0 && max == 1) return x + "?";
    return x + "{" + std::to_string(min) + "," + std::to_string(max) + "}";
  }

  void bounds(const Json& s, const char* min_key, const char* max_key, size_t& min, size_t& max) const {
    min = 0;
    max = SIZE_MAX;
    if (const Json* v = s.get(min_key)) min = count(*v, min_key);
    if (const Json* v = s.get(max_key)) max = count(*v, max_key);
    if (max < min)
      fail(s.get(max_key)->offset, std::string(max_key) + " is below " + min_key + ": no value is valid");
  }

  static bool is_type(const Json& v, const std::string& type) {
    if (type == "integer") {
      return v.kind == Json::Number && v.text.find_first_of(".eE") == std::string::npos;
    }
    static const std::map<std::string, Json::Kind> kinds = {{"string", Json::String}, {"number", Json::Number},
                                                            {"boolean", Json::Bool},  {"null", Json::Null},
                                                            {"object", Json::Object}, {"array", Json::Array}};
    auto it = kinds.find(type);
    return it != kinds.end() && it->second == v.kind;
  }

  // The types a schema names (empty when it names none).
  std::vector<std::string> types(const Json& s) const {
    const Json* t = s.get("type");
    if (!t) return {};
    std::vector<const Json*> list;
    if (t->kind == Json::String) list.push_back(t);
    else if (t->kind == Json::Array && !t->items.empty())
      for (const Json& x : t->items) list.push_back(&x);
    else
      fail(t->offset, "type must be a type name or a non-empty list of them");
    static const std::set<std::string> known = {"object", "array", "string", "number", "integer", "boolean", "null"};
    std::vector<std::string> names;
    for (const Json* x : list) {
      if (x->kind != Json::String || !known.count(x->text))
        fail(x->offset, "unknown type " + to_json(*x) + " (object, array, string, number, integer, boolean or null)");
      names.push_back(x->text);
    }
    return names;
  }

  // A GBNF item (a rule name, or a literal or group) that matches the JSON values `s` accepts.
  std::string visit(const Json& s, const std::string& hint) {
    if (s.kind == Json::Bool) {
      if (!s.boolean) fail(s.offset, "the schema false accepts no value");
      return primitive("value");
    }
    if (s.kind != Json::Object) fail(s.offset, "a schema is an object or a boolean");
    for (const Json::Member& m : s.members)
      if (!supported().count(m.key) && !annotations().count(m.key))
        fail(m.key_offset, "unsupported keyword '" + m.key + "' (it would change which values are valid)",
             ErrorCode::Unsupported);
    // Keywords that stand alone, but for annotations and definitions.
    auto alone = [&](const char* keyword, std::set<std::string> also) {
      also.insert({"$defs", "definitions"});
      for (const Json::Member& m : s.members)
        if (m.key != keyword && supported().count(m.key) && !also.count(m.key))
          fail(m.key_offset, "'" + m.key + "' alongside '" + keyword + "' is not supported", ErrorCode::Unsupported);
    };
    if (const Json* ref = s.get("$ref")) {
      alone("$ref", {});
      return reference(*ref);
    }
    for (const char* keyword : {"anyOf", "oneOf"})
      if (const Json* list = s.get(keyword)) {
        alone(keyword, {});
        if (list->kind != Json::Array || list->items.empty())
          fail(list->offset, std::string(keyword) + " must be a non-empty list of schemas");
        std::string alternatives;
        for (size_t i = 0; i < list->items.size(); ++i)
          alternatives += (i ? " | " : "") + visit(list->items[i], hint + "-" + std::to_string(i));
        return rule(hint, alternatives);
      }
    const std::vector<std::string> type_names = types(s);
    if (s.get("enum") || s.get("const")) {
      const char* keyword = s.get("const") ? "const" : "enum";
      alone(keyword, {"type"});
      std::vector<const Json*> values;
      if (const Json* c = s.get("const")) {
        values.push_back(c);
      } else {
        const Json* e = s.get("enum");
        if (e->kind != Json::Array || e->items.empty()) fail(e->offset, "enum must be a non-empty list of values");
        for (const Json& x : e->items) values.push_back(&x);
      }
      std::string alternatives;
      for (const Json* v : values) {
        const bool typed = type_names.empty() || std::any_of(type_names.begin(), type_names.end(),
                                                              [&](const std::string& t) { return is_type(*v, t); });
        if (typed) alternatives += (alternatives.empty() ? "" : " | ") + literal(to_json(*v));
      }
      if (alternatives.empty()) fail(s.get(keyword)->offset, std::string("no value of ") + keyword + " has the schema's type");
      return values.size() == 1 ? alternatives : rule(hint, alternatives);
    }
    std::vector<std::string> names = type_names;
    if (names.empty()) {  // the type the keywords imply
      if (s.get("properties") || s.get("required") || s.get("additionalProperties")) names = {"object"};
      else if (s.get("items") || s.get("minItems") || s.get("maxItems")) names = {"array"};
      else if (s.get("minLength") || s.get("maxLength")) names = {"string"};
      else return primitive("value");
    }
    std::string alternatives;
    for (const std::string& t : names) alternatives += (alternatives.empty() ? "" : " | ") + typed(s, t, hint);
    return names.size() == 1 ? alternatives : rule(hint, alternatives);
  }

  std::string typed(const Json& s, const std::string& type, const std::string& hint) {
    if (type == "null" || type == "boolean" || type == "integer" || type == "number") return primitive(type.c_str());
    if (type == "string") {
      size_t min, max;
      bounds(s, "minLength", "maxLength", min, max);
      if (min == 0 && max == SIZE_MAX) return primitive("string");
      use("char");
      return rule(hint, "\"\\\"\" " + repeat("char", min, max) + " \"\\\"\"");
    }
    if (type == "array") return array(s, hint);
    return object(s, hint);
  }

  std::string array(const Json& s, const std::string& hint) {
    size_t min, max;
    bounds(s, "minItems", "maxItems", min, max);
    std::string item;
    if (const Json* items = s.get("items")) {
      if (items->kind == Json::Array)
        fail(items->offset, "items as a list (a tuple) is not supported", ErrorCode::Unsupported);
      item = visit(*items, hint + "-item");
    } else {
      item = primitive("value");
    }
    use("ws");
    if (max == 0) return rule(hint, "\"[\" ws \"]\"");
    const std::string more = "( \",\" ws " + item + " ws )";
    const size_t more_max = max == SIZE_MAX ? SIZE_MAX : max - 1;
    if (min == 0) return rule(hint, "\"[\" ws ( " + item + " ws " + repeat(more, 0, more_max) + " )? \"]\"");
    return rule(hint, "\"[\" ws " + item + " ws " + repeat(more, min - 1, more_max) + " \"]\"");
  }

  std::string object(const Json& s, const std::string& hint) {
    use("ws");
    if (const Json* extra = s.get("additionalProperties"))
      if (!(extra->kind == Json::Bool && !extra->boolean))
        fail(extra->offset, "additionalProperties other than false is not supported", ErrorCode::Unsupported);
    struct Property {
      std::string kv;  // the key, ':' and the value, with the whitespace around them
      bool required;
    };
    std::vector<Property> props;
    const Json* properties = s.get("properties");
    if (properties && properties->kind != Json::Object) fail(properties->offset, "properties must be an object");
    std::set<std::string> required;
    if (const Json* r = s.get("required")) {
      if (r->kind != Json::Array) fail(r->offset, "required must be a list of property names");
      for (const Json& name : r->items) {
        if (name.kind != Json::String) fail(name.offset, "required must be a list of property names");
        if (!properties || !properties->get(name.text))
          fail(name.offset, "required property '" + name.text + "' has no schema in properties", ErrorCode::Unsupported);
        required.insert(name.text);
      }
    }
    if (properties)
      for (const Json::Member& m : properties->members) {
        Json key;
        key.kind = Json::String;
        key.text = m.key;
        const std::string value = visit(m.value, hint + "-" + m.key);
        props.push_back({rule(hint + "-" + m.key + "-kv", literal(to_json(key)) + " ws \":\" ws " + value + " ws"),
                         required.count(m.key) > 0});
      }
    // Properties in order, each optional one perhaps left out, with commas between those
    // written: rest(k) writes from property k on after one was written; the properties before
    // the first required one may each be the first written.
    const size_t n = props.size();
    std::vector<std::string> rest(n + 1);
    auto then = [&](size_t k) { return rest[k].empty() ? std::string() : " " + rest[k]; };
    for (size_t k = n; k-- > 1;) {
      const std::string one = "\",\" ws " + props[k].kv;
      rest[k] = props[k].required ? one + then(k + 1) : rule(hint + "-rest", "( " + one + " )?" + then(k + 1));
    }
    size_t required_at = 0;
    while (required_at < n && !props[required_at].required) ++required_at;
    std::string first = required_at < n ? props[required_at].kv + then(required_at + 1) : "";
    for (size_t k = required_at; k-- > 0;) {
      const std::string with = props[k].kv + then(k + 1);
      first = rule(hint + "-first", first.empty() ? "( " + with + " )?" : with + " | " + first);
    }
    return rule(hint, "\"{\" ws " + (first.empty() ? "" : first + " ") + "\"}\"");
  }

  std::string reference(const Json& ref) {
    if (ref.kind != Json::String) fail(ref.offset, "$ref must be a string");
    auto existing = refs_.find(ref.text);
    if (existing != refs_.end()) return existing->second;
    std::string name, container;
    for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
      const std::string p = prefix;
      if (ref.text.compare(0, p.size(), p) == 0) {
        container = p.substr(2, p.size() - 3);
        name = ref.text.substr(p.size());
      }
    }
    if (container.empty() || name.find('/') != std::string::npos)
      fail(ref.offset, "$ref '" + ref.text + "': only '#/$defs/NAME' and '#/definitions/NAME' are supported",
           ErrorCode::Unsupported);
    // JSON Pointer escapes: ~1 is '/', ~0 is '~'.
    std::string key;
    for (size_t i = 0; i < name.size(); ++i) {
      if (name[i] == '~' && i + 1 < name.size() && (name[i + 1] == '0' || name[i + 1] == '1')) key += name[++i] == '1' ? '/' : '~';
      else key += name[i];
    }
    const Json* defs = root_.get(container);
    const Json* target = defs && defs->kind == Json::Object ? defs->get(key) : nullptr;
    if (!target) fail(ref.offset, "$ref '" + ref.text + "': no such definition");
    // The rule is named before its body is written, so that a recursive schema refers to it.
    const std::string rule_name = new_name(key);
    refs_[ref.text] = rule_name;
    const size_t slot = rules_.size();
    rules_.push_back({rule_name, ""});
    const std::string body = visit(*target, rule_name);
    rules_[slot].second = body;
    return rule_name;
  }

  std::string_view text_;
  const Json& root_;
  std::vector<std::pair<std::string, std::string>> rules_;  // in the order written
  std::map<std::string, std::string> by_body_;
  std::map<std::string, std::string> refs_;
  std::set<std::string> taken_, used_;
};

}  // namespace

std::string json_schema_to_grammar(std::string_view schema_json) {
  const Json root = read_schema(schema_json);
  return Converter(schema_json, root).convert();
}

}  // namespace cria
