// Structured MIME fields read the way mail readers read them: the tokenizer (comments, quoted
// strings, folding), Content-Type / Content-Transfer-Encoding / Content-Disposition values and
// parameters, and the same readings in mimetic's splitting, the prescan and the ambiguity check.
// Where a case is marked "Python", it is what Python 3.11's email package (policy.default header
// objects: content_type, params, cte) reads from the same value.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sanitizers/codec.hpp"
#include "sanitizers/mime.hpp"
#include "sanitizers/params.hpp"
#include "sanitizers/pipeline.hpp"
#include "sanitizers/prescan.hpp"
#include "tests/sanitizers/helpers.hpp"

namespace mugai::sanitize {
namespace {

using Kind = FieldToken::Kind;

std::vector<std::string> texts(const FieldTokens& t) {
  std::vector<std::string> out;
  for (const auto& token : t.tokens) out.push_back(token.text);
  return out;
}

std::string param(const StructuredField& f, const std::string& name) {
  const auto it = f.params.values.find(name);
  return it == f.params.values.end() ? "<absent>" : it->second;
}

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

Outcome run(const std::string& msg) { return sanitize_message(msg, test::test_context(), Policy{}); }

}  // namespace

TEST_CASE("the tokenizer: tokens, tspecials, quoted strings, comments") {
  const FieldTokens t = tokenize_field("text/html (fancy) ; charset = \"utf-8\"");
  CHECK(texts(t) == std::vector<std::string>{"text", "/", "html", ";", "charset", "=", "utf-8"});
  REQUIRE(t.tokens.size() == 7);
  CHECK(t.tokens[0].kind == Kind::Atom);
  CHECK(t.tokens[1].kind == Kind::Special);
  CHECK_FALSE(t.tokens[1].spaced);
  CHECK(t.tokens[3].spaced);  // the comment and the blanks before the ';'
  CHECK(t.tokens[6].kind == Kind::Quoted);
  CHECK_FALSE(t.unterminated);
  CHECK_FALSE(t.too_deep);

  // Nested comments with quoted-pairs (an escaped ')' does not close one); a '"' in a comment is no quote.
  CHECK(texts(tokenize_field("a (b (c) \\) \" d) e")) == std::vector<std::string>{"a", "e"});
  // In a quoted string parentheses are text and quoted-pairs are resolved.
  CHECK(texts(tokenize_field("\"x (y) \\\"z\\\\\"")) == std::vector<std::string>{"x (y) \"z\\"});
  // Every tspecial is a token of its own; 8-bit bytes belong to tokens (raw UTF-8 names).
  CHECK(texts(tokenize_field("<a@b>,c:[d]?e=f/g\\h")) ==
        std::vector<std::string>{"<", "a", "@", "b", ">", ",", "c", ":", "[", "d", "]", "?", "e", "=", "f", "/", "g",
                                 "\\", "h"});
  CHECK(texts(tokenize_field("日本.pdf")) == std::vector<std::string>{"日本.pdf"});
}

TEST_CASE("the tokenizer reads raw folded text and mimetic's unfolded copy alike") {
  // mimetic keeps a fold as one space, also inside quoted strings; so does the tokenizer.
  const FieldTokens raw = tokenize_field("multipart/mixed;\r\n boundary=\"a\r\n    b\"");
  const FieldTokens unfolded = tokenize_field("multipart/mixed; boundary=\"a b\"");
  CHECK(texts(raw) == texts(unfolded));
  CHECK(texts(raw).back() == "a b");
  // mimetic keeps a blank continuation line as one more space.
  CHECK(texts(tokenize_field("\"a\r\n   \r\n b\"")) == std::vector<std::string>{"a  b"});
  CHECK(texts(tokenize_field("\"open\r")) == std::vector<std::string>{"open"});  // a line end at the end is nothing
  // A line break never joins what it separates (it cannot occur inside a field mimetic reads).
  CHECK(texts(tokenize_field("a\r\nb")) == std::vector<std::string>{"a", "b"});
  // A NUL ends the value: mimetic keeps field values as C strings.
  CHECK(texts(tokenize_field(std::string("text/plain\0; boundary=x", 24))) ==
        std::vector<std::string>{"text", "/", "plain"});
}

TEST_CASE("unterminated quoted strings and comments run to the end; deep nesting stops reading") {
  const FieldTokens q = tokenize_field("a; b=\"open; c=d");
  CHECK(q.unterminated);
  CHECK(texts(q) == std::vector<std::string>{"a", ";", "b", "=", "open; c=d"});
  const FieldTokens c = tokenize_field("a (open; c=d");
  CHECK(c.unterminated);
  CHECK(texts(c) == std::vector<std::string>{"a"});
  CHECK_FALSE(tokenize_field("a \"b\\\"").tokens.empty());
  CHECK(tokenize_field("a \"b\\\"").unterminated);  // the escaped quote does not close it

  const std::string deep16 = std::string(kMaxCommentDepth, '(') + std::string(kMaxCommentDepth, ')');
  const FieldTokens ok = tokenize_field("a " + deep16 + " b");
  CHECK_FALSE(ok.too_deep);
  CHECK(texts(ok) == std::vector<std::string>{"a", "b"});
  const FieldTokens deep = tokenize_field("a " + std::string(kMaxCommentDepth + 1, '(') + ") b; c=d");
  CHECK(deep.too_deep);
  CHECK(texts(deep) == std::vector<std::string>{"a"});
}

TEST_CASE("Content-Type values as mail readers read them") {
  // Python: text/html, charset utf-8 (compat32's get_content_type() keeps "text/html (fancy)").
  const StructuredField html = parse_field("text/html (fancy) ; charset = utf-8");
  CHECK(html.value == "text/html");
  CHECK(param(html, "charset") == "utf-8");
  // Python: charset iso-2022-jp.
  CHECK(param(parse_field("text/plain; charset=\"iso-2022-jp\" (jis)"), "charset") == "iso-2022-jp");
  CHECK(param(parse_field("text/plain; charset = \"utf-8\""), "charset") == "utf-8");
  CHECK(param(parse_field("text/plain; charset (c) = (d) utf-8"), "charset") == "utf-8");  // Python too
  CHECK(param(parse_field("multipart/mixed; boundary = \"b1\" (comment)"), "boundary") == "b1");
  CHECK(param(parse_field("multipart/mixed; boundary=b1 (comment)"), "boundary") == "b1");
  // White space and comments around '/' are CFWS between tokens (RFC 2045 §5.1 is written in RFC 822
  // lexical tokens); Python reads text/html for all three. Thunderbird stops at the first blank.
  CHECK(parse_field("text / html").value == "text/html");
  CHECK(parse_field("text/(c)html").value == "text/html");
  CHECK(parse_field("(c) TEXT/HTML; CHARSET=UTF-8").value == "text/html");
  CHECK(param(parse_field("TEXT/HTML; CHARSET=UTF-8"), "charset") == "UTF-8");
  // Words after type/subtype are ignored (Thunderbird's reading; Python falls back to text/plain).
  CHECK(parse_field("text/html extra; charset=utf-8").value == "text/html");
  // Not a type: no value, so the part model applies the RFC 2045 default.
  CHECK(parse_field("text/").value.empty());
  CHECK(parse_field("/html").value.empty());
  CHECK(parse_field("\"text/html\"").value.empty());
  CHECK(parse_field("").value.empty());
  CHECK(parse_field("text").value == "text");  // a one-token value, as for Content-Transfer-Encoding
}

TEST_CASE("parameter values: quoted strings keep parentheses, unquoted words are joined") {
  CHECK(param(parse_field("text/plain; name=\"a (not a comment).txt\""), "name") == "a (not a comment).txt");
  CHECK(param(parse_field("multipart/mixed; boundary=\"a;b\""), "boundary") == "a;b");  // Python too
  CHECK(param(parse_field("multipart/mixed; boundary=\"a\\\"b\""), "boundary") == "a\"b");
  // Unquoted tspecials stay in the value (Outlook Express boundaries; Python's compat32 reads the
  // same, its policy.default stops at the '=').
  const StructuredField part = parse_field("multipart/mixed; boundary=----=_Part_1");
  CHECK(param(part, "boundary") == "----=_Part_1");
  CHECK(part.params.unclear.empty());
  // Outlook's unquoted long names: the words up to the ';' (compat32; policy.default keeps "spaced").
  const StructuredField spaced = parse_field("text/plain; name=spaced  value (c) here ;z=1");
  CHECK(param(spaced, "name") == "spaced value here");
  CHECK(param(spaced, "z") == "1");
  CHECK(spaced.params.unclear == std::vector<std::string>{"name"});
  CHECK(parse_field("text/plain; name=\"x\"y").params.unclear == std::vector<std::string>{"name"});
  CHECK(parse_field("text/plain; name=\"x\" (c)").params.unclear.empty());
  // Not parameters: a bare word, a missing name, an empty segment.
  const StructuredField junk = parse_field("text/plain;; junk; =v; a b=c; ok=1");
  CHECK(junk.params.values.size() == 1);
  CHECK(param(junk, "ok") == "1");
}

TEST_CASE("Content-Disposition: the disposition and RFC 2231 filenames around comments") {
  const StructuredField d = parse_field("attachment (x); filename = \"a.pdf\"");
  CHECK(d.value == "attachment");
  CHECK(display_filename(d.params) == "a.pdf");
  // Python: 日.pdf for both.
  CHECK(display_filename(parse_params("attachment; filename*0*=UTF-8''%E6%97%A5; filename*1=.pdf")) == "日.pdf");
  CHECK(display_filename(parse_params("attachment; filename*0*=UTF-8''%E6%97%A5 (c); filename*1=\".pdf\" (d)")) ==
        "日.pdf");
  CHECK(display_filename(parse_params("attachment; filename=a.pdf (comment)")) == "a.pdf");
  CHECK(display_filename(parse_params("attachment; filename=日本.pdf")) == "日本.pdf");
}

TEST_CASE("Content-Transfer-Encoding: the mechanism, or the value as written when it is none") {
  CHECK(transfer_encoding("base64 (encoded)") == "base64");
  CHECK(transfer_encoding("(x) Base64") == "base64");           // Python: base64
  CHECK(transfer_encoding("quoted-printable;") == "quoted-printable");
  CHECK(transfer_encoding("base64 extra") == "base64");         // Python: base64, with a defect
  CHECK(transfer_encoding("") == "");
  CHECK(transfer_encoding(" \t") == "");
  // Python takes this for 7bit; mugai keeps it as an unknown encoding, so the part is removed.
  CHECK(transfer_encoding("\"base64\"") == "\"base64\"");
  CHECK(transfer_encoding("(only a comment)") == "(only a comment)");
}

TEST_CASE("readings: every boundary a reader could take, the one in effect first") {
  const Params dup = parse_params("multipart/mixed; boundary=\"b1\"; BOUNDARY=b2; boundary=b1");
  CHECK(dup.values.at("boundary") == "b1");
  CHECK(dup.duplicates == std::vector<std::string>{"boundary"});
  CHECK(readings(dup, "boundary") == std::vector<std::string>{"b1", "b2"});
  // RFC 2231 wins over the plain value (Python too), and the plain one stays a reading.
  const Params ext = parse_params("multipart/mixed; boundary=x; boundary*=us-ascii''y");
  CHECK(readings(ext, "boundary") == std::vector<std::string>{"y", "x"});
  CHECK(readings(ext, "charset").empty());
}

TEST_CASE("long fields: read up to kMaxFieldValue, duplicates counted without a list search") {
  // 3,000 distinct names, each given twice (well within the bound).
  std::string field = "text/plain";
  for (int i = 0; i < 3000; ++i) field += "; p" + std::to_string(i) + "=1; p" + std::to_string(i) + "=2";
  REQUIRE(field.size() < kMaxFieldValue);
  const StructuredField f = parse_field(field);
  CHECK_FALSE(f.too_long);
  CHECK(f.params.values.size() == 3000);
  CHECK(f.params.duplicates.size() == 3000);
  CHECK(f.params.given.size() == 6000);
  CHECK(param(f, "p2999") == "1");
  // Past the bound nothing is read: a 1 MiB value costs what 64 KiB does.
  const FieldTokens quotes = tokenize_field(std::string(1 << 20, '"'));
  CHECK(quotes.too_long);
  CHECK(quotes.tokens.size() == kMaxFieldValue / 2);
  const std::string at_bound = "a" + std::string(kMaxFieldValue - 1, ' ');
  CHECK_FALSE(tokenize_field(at_bound).too_long);
  CHECK(tokenize_field(at_bound + "b").too_long);
  CHECK(texts(tokenize_field(at_bound + "b")) == std::vector<std::string>{"a"});
  // The bound counts the unfolded value: three bytes of fold are one space.
  std::string folded = "a";
  while (folded.size() < 2 * kMaxFieldValue) folded += "\r\n ";
  CHECK_FALSE(tokenize_field(folded + "b").too_long);
  CHECK(tokenize_field(std::string(kMaxCommentDepth + 1, '(') + "x").too_deep);
}

TEST_CASE("mimetic splits where params.cpp reads the boundary and the type") {
  const std::string msg =
      "Content-Type: multipart (x) / mixed; boundary = \"b1\" (comment)\r\n\r\n"
      "--b1\r\nContent-Type: text/html (fancy) ; charset = utf-8\r\nContent-Transfer-Encoding: base64 (x)\r\n\r\n"
      "PHA+aGk8L3A+\r\n"
      "--b1\r\nContent-Type: message/rfc822 (fwd)\r\n\r\n"
      "From: x@y\r\nContent-Type: multipart/alternative; boundary=\"in (not a comment)\"\r\n\r\n"
      "--in (not a comment)\r\nContent-Type: text/plain\r\n\r\ninner\r\n--in (not a comment)--\r\n"
      "--b1\r\nContent-Disposition: attachment (x); filename = \"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
      "%PDF-1.4\r\n--b1--\r\n";
  const PrescanResult pre = prescan(msg, Limits{});
  CHECK_FALSE(pre.breach.has_value());
  CHECK(pre.estimated_parts == 5);  // the root, three parts, the embedded message's one part
  const ParsedMime p = parse_mime(msg, Limits{});
  REQUIRE(p.tree.has_value());
  const auto& parts = p.tree->parts;
  REQUIRE(parts.size() == 4);
  CHECK(parts[0].type == "multipart/mixed");
  CHECK(parts[0].children == std::vector<std::size_t>{1, 2, 3});
  CHECK(parts[1].type == "text/html");
  CHECK(parts[1].charset == "utf-8");
  CHECK(parts[1].transfer_encoding == "base64");
  // The embedded message is its bytes as sent, for the pipeline to parse on its own.
  CHECK(parts[2].type == "message/rfc822");
  CHECK(parts[2].children.empty());
  CHECK(parts[2].body.starts_with("From: x@y\r\nContent-Type: multipart/alternative; boundary=\"in (not a comment)\""));
  CHECK(parts[2].body.ends_with("--in (not a comment)--"));
  CHECK(parts[3].type == "application/pdf");
  CHECK(parts[3].filename == "a.pdf");
  const ParsedMime inner = parse_mime(parts[2].body, Limits{});
  REQUIRE(inner.tree.has_value());
  REQUIRE(inner.tree->parts.size() == 2);
  CHECK(inner.tree->parts[1].body == "inner");
}

TEST_CASE("whole messages: a commented HTML type is converted, a commented base64 decodes") {
  const std::string msg =
      "From: a@sender.example\r\nSubject: fields\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary = \"b1\" (comment)\r\n\r\n"
      "--b1\r\nContent-Type: text/html (fancy) ; charset = utf-8\r\n\r\n<p>Hello <b>world</b></p>\r\n"
      "--b1\r\nContent-Type: text/plain; charset=\"utf-8\" (u)\r\nContent-Transfer-Encoding: base64 (x)\r\n\r\n" +
      base64_encode("decoded from base64") + "\r\n--b1--\r\n";
  const Outcome out = run(msg);
  REQUIRE(out.verdict == Outcome::Verdict::Sanitized);
  CHECK(test::held(out).empty());
  const std::string body = test::after_clean_notice(test::check_rebuilt(out.message).body);
  CHECK(contains(body, "Hello world"));
  CHECK_FALSE(contains(body, "<p>"));
  CHECK(contains(body, "decoded from base64"));
}

TEST_CASE("the ambiguity check reads fields as the parser does and refuses what readers split two ways") {
  const auto held = [](const std::string& header, std::string_view why) {
    const Outcome out = run("From: a@x\r\n" + header + "\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n");
    CHECK_MESSAGE(out.verdict == Outcome::Verdict::Quarantined, header.substr(0, 200));
    CHECK_MESSAGE(contains(out.reason, why), header.substr(0, 200) << ": " << out.reason);
  };
  held("Content-Type: multipart/mixed; boundary=\"b\"\r\nContent-Type: multipart/mixed; boundary=c",
       "duplicated boundary parameters");
  held("Content-Type: multipart/mixed; boundary=b; boundary=B", "duplicated boundary parameters");  // case counts
  held("Content-Type: multipart/mixed; boundary=c; boundary*=''b", "duplicated boundary parameters");
  held("Content-Type : multipart/mixed; boundary=c\r\nContent-Type: multipart/mixed; boundary=b",
       "duplicated boundary parameters");  // mimetic takes "Content-Type :" for the field too
  held("Content-Type: multipart/mixed; boundary=b\r\nContent-Type: text/plain", "conflicting Content-Type");
  held("Content-Type: multipart/mixed; boundary=b c", "a boundary of several words");
  held("Content-Type: multipart/mixed; boundary=\"b\"c", "a boundary of several words");
  held("Content-Type: multipart/mixed; boundary=b (open", "unterminated");
  held("Content-Type: multipart/mixed; boundary=\"b", "unterminated");
  held("Content-Type: multipart/mixed; boundary=b " + std::string(kMaxCommentDepth + 1, '(') +
           std::string(kMaxCommentDepth + 1, ')'),
       "nested deeper");
  held("Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: 7bit (", "unterminated");
  held("Content-Type: multipart/mixed; boundary=b;\r\n x=\"" + std::string(kMaxFieldValue, 'x') + "\"",
       "is not read");
  held("Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64\r\n"
       "Content-Transfer-Encoding: 7bit (x)",
       "conflicting Content-Transfer-Encoding");

  // The same reading written differently is one reading.
  const Outcome same = run(
      "From: a@x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\nContent-type: multipart/MIXED (x);\r\n"
      " boundary = b (c)\r\nContent-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: (x) 7BIT\r\n\r\n"
      "--b\r\n\r\nkept\r\n--b--\r\n");
  REQUIRE(same.verdict == Outcome::Verdict::Sanitized);
  CHECK(contains(test::check_rebuilt(same.message).body, "kept\n"));
}

}  // namespace mugai::sanitize
