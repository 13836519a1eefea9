// Structured MIME field values (Content-Type, Content-Transfer-Encoding, Content-Disposition) read the
// way RFC 2045/5322 mail readers read them, by one tokenizer that every reader of these fields uses:
// tokens and tspecials, quoted strings, nested comments; RFC 2231 parameters decoded to UTF-8; every
// duplicate and every value readers could cut two ways reported. Linear in the value's length.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mugai::sanitize {

// Comments nested deeper than this are not read (FieldTokens::too_deep). RFC 5322 sets no limit, but
// readers that recurse do (Python's email fails near 1,000 levels), and no mailer writes 16.
inline constexpr std::size_t kMaxCommentDepth = 16;

// Values are read this far and no further (FieldTokens::too_long): the ambiguity check reads fields
// straight from the message, before any limit is checked, and tokens take ~40 bytes per input byte.
// RFC 2045 fields are short (a boundary has at most 70 characters); this is also the default
// sanitize.max_header_section, the size of a whole header block.
inline constexpr std::size_t kMaxFieldValue = 64 * 1024;

struct FieldToken {
  enum class Kind { Atom, Quoted, Special };
  Kind kind = Kind::Atom;
  std::string text;     // Atom: as written; Quoted: the content, quoted-pairs resolved; Special: one tspecial
  bool spaced = false;  // white space or a comment stands between it and the token before
};

struct FieldTokens {
  std::vector<FieldToken> tokens;  // comments and white space are not tokens
  bool unterminated = false;       // a quoted string or a comment ran to the end of the value
  bool too_deep = false;           // a comment nested deeper than kMaxCommentDepth: the rest is not read
  bool too_long = false;           // longer than kMaxFieldValue once unfolded: the rest is not read
};

// RFC 2045 §5.1 tokens (any byte but white space and tspecials: controls and 8-bit bytes included,
// as readers take raw UTF-8 names) and tspecials, RFC 5322 quoted strings and comments (with
// quoted-pairs). Raw folded text and mimetic's copy of a field read alike: each line break with the
// white space after it reads as one space, inside quoted strings too (what mimetic keeps of a
// fold), and as nothing at the end of the value; a NUL ends the value (mimetic keeps values as C
// strings). An unterminated quoted string or comment runs to the end of the value, as in RFC 5322
// readers such as Python's email.
FieldTokens tokenize_field(std::string_view untrusted_value);

struct Params {
  // Lowercase name → value: quoted strings unquoted, comments dropped, the rest as written with one
  // space where white space or a comment stood (Outlook writes long names unquoted, Outlook Express
  // boundaries with '='); RFC 2047 words kept raw. RFC 2231 values
  // (name*=charset''%XX, name*0*=..., name*1=...) are joined and decoded to UTF-8 and take
  // precedence over a plain value of the same name.
  std::map<std::string, std::string> values;
  // Lowercase names given more than once ("boundary", or "filename*1" for a repeated segment); the
  // first occurrence is the one in `values`.
  std::vector<std::string> duplicates;
  // Every name=value as given, in order, duplicates and RFC 2231 segments included ("filename*0*").
  std::vector<std::pair<std::string, std::string>> given;
  // Lowercase names with a value of more than one word, or with text after its quoted string:
  // readers cut such values in different places (Python's email keeps the first word).
  std::vector<std::string> unclear;
};

struct StructuredField {
  // Lowercase "type/subtype" or a single token ("base64", "attachment"), with comments and white
  // space around the '/' allowed and words after it ignored; "" when the value starts otherwise.
  std::string value;
  Params params;
  bool unterminated = false;  // see FieldTokens
  bool too_deep = false;
  bool too_long = false;
};

// `untrusted_value` is the field value after the colon, raw (folded) or as mimetic keeps it.
StructuredField parse_field(std::string_view untrusted_value);

// parse_field(...).params, e.g. of `attachment; filename="a.txt"`.
Params parse_params(std::string_view untrusted_value);

// Every reading of parameter `name` some reader could take: `values` first (what mugai reads),
// then each other value given for it. Empty when the parameter is absent.
std::vector<std::string> readings(const Params& params, std::string_view name);

// The Content-Transfer-Encoding to decode with: the lowercase mechanism, "" for an empty field. A
// value that does not start with a token is kept as written (lowercased), so that it is an
// unknown encoding and the part is removed, not guessed to be 7bit.
std::string transfer_encoding(std::string_view untrusted_value);

// The attachment name for showing to people: `filename`, else `name`, RFC 2231 / RFC 2047 decoded
// to UTF-8 (including the non-standard encoded words Outlook and Thunderbird put in quoted values),
// then made safe with escape_for_display (bidi marks, C0/C1 controls shown as `\uXXXX`). "" if none.
std::string display_filename(const Params& params);

}  // namespace mugai::sanitize
