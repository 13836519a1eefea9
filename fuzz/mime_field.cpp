// Fuzz target: the input as one structured field value through tokenize_field() and parse_field(),
// and, when it fits on one header line, as a Content-Type through mimetic via parse_mime(). Oracle:
// tokens are what the tokenizer promises (atoms and specials substrings of the input, quoted text
// without line ends); re-serializing the tokens or the parsed field canonically and reading that
// again gives the same tokens, parameters and value; mimetic's part type, charset and splitting
// agree with parse_field's reading of the same value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/oracle.hpp"
#include "sanitizers/mime.hpp"
#include "sanitizers/params.hpp"
#include "sanitizers/prescan.hpp"

namespace {

using mugai::fuzz::fail;
using mugai::sanitize::FieldToken;
using mugai::sanitize::FieldTokens;
using mugai::sanitize::kMaxFieldValue;

constexpr std::string_view kTspecials = "()<>@,;:\\\"/[]?=";

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// Tokens written back without comments: a space where one or a comment stood, quoted strings re-quoted.
std::string canonical(const FieldTokens& t) {
  std::string out;
  for (const auto& token : t.tokens) {
    if (token.spaced) out.push_back(' ');
    out += token.kind == FieldToken::Kind::Quoted ? quoted(token.text) : token.text;
  }
  return out;
}

void check_tokens(std::string_view input, const FieldTokens& t) {
  std::size_t total = 0;
  for (const auto& token : t.tokens) {
    total += token.text.size();
    switch (token.kind) {
      case FieldToken::Kind::Atom:
        if (token.text.empty()) fail("empty atom", input);
        if (input.find(token.text) == std::string_view::npos) fail("atom that is not in the input", token.text);
        for (const char c : token.text) {
          if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0' || kTspecials.find(c) != std::string_view::npos) {
            fail("atom holding a separator", token.text);
          }
        }
        break;
      case FieldToken::Kind::Special:
        if (token.text.size() != 1 || kTspecials.find(token.text[0]) == std::string_view::npos ||
            token.text == "(" || token.text == "\"") {
          fail("special that is not one tspecial", token.text);
        }
        break;
      case FieldToken::Kind::Quoted:
        if (token.text.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
          fail("quoted text with a line end or NUL", token.text);
        }
        break;
    }
  }
  if (total > input.size()) fail("tokens longer than the input", input);
}

bool same_tokens(const FieldTokens& a, const FieldTokens& b) {
  if (a.tokens.size() != b.tokens.size()) return false;
  for (std::size_t i = 0; i < a.tokens.size(); ++i) {
    const auto &x = a.tokens[i], &y = b.tokens[i];
    if (x.kind != y.kind || x.text != y.text || x.spaced != y.spaced) return false;
  }
  return true;
}

// The parsed field written back: the value, then every parameter as given, each value one quoted string.
std::string canonical(const mugai::sanitize::StructuredField& f) {
  std::string out = f.value;
  for (const auto& [name, value] : f.params.given) out += "; " + name + "=" + quoted(value);
  return out;
}

// Only bytes mimetic's Boyer-Moore search can match (it compares unsigned bytes with signed ones).
bool findable(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const FieldTokens tokens = mugai::sanitize::tokenize_field(input);
  check_tokens(input, tokens);
  // Re-quoting can make a canonical form longer than what is read of it: those are not compared.
  const std::string written = canonical(tokens);
  const FieldTokens again = mugai::sanitize::tokenize_field(written);
  if (written.size() <= kMaxFieldValue &&
      (!same_tokens(tokens, again) || again.unterminated || again.too_deep || again.too_long)) {
    fail("the canonical form of the tokens reads differently", written);
  }

  const auto field = mugai::sanitize::parse_field(input);
  const std::string field_written = canonical(field);
  const auto reread = mugai::sanitize::parse_field(field_written);
  if (field_written.size() <= kMaxFieldValue &&
      (reread.value != field.value || reread.params.values != field.params.values ||
       reread.params.given != field.params.given || reread.params.duplicates != field.params.duplicates ||
       !reread.params.unclear.empty())) {
    fail("the canonical form of the parsed field reads differently", field_written);
  }
  const std::string cte = mugai::sanitize::transfer_encoding(input);
  if (!field.value.empty() && cte != field.value) fail("transfer_encoding disagrees with parse_field", input);

  // mimetic against parse_field, on values mimetic keeps as they are (one line, no NUL).
  if (input.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) return 0;
  const auto boundary = field.params.values.find("boundary");
  const bool split = field.value.starts_with("multipart/") && boundary != field.params.values.end() && !boundary->second.empty() &&
                     findable(boundary->second);
  std::string msg = "Content-Type: " + std::string(input) + "\r\n\r\n";
  if (split) msg += "--" + boundary->second + "\r\n\r\nx\r\n--" + boundary->second + "--\r\n";
  mugai::sanitize::Limits limits;
  if (mugai::sanitize::prescan(msg, limits).breach) return 0;
  const auto parsed = mugai::sanitize::parse_mime(msg, limits);
  if (!parsed.tree) return 0;
  const auto& root = parsed.tree->parts.front();
  const std::string expected_type = field.value.find('/') == std::string::npos ? "text/plain" : field.value;
  if (root.type != expected_type) fail("mimetic's part type differs from parse_field's", root.type);
  const auto charset = field.params.values.find("charset");
  if (root.charset != (charset == field.params.values.end() ? "" : charset->second)) {
    fail("the part's charset differs from parse_field's", root.charset);
  }
  if (split && (root.children.empty() || parsed.tree->parts[root.children.front()].body != "x")) {
    fail("mimetic did not split on the boundary parse_field read", boundary->second);
  }
  return 0;
}
