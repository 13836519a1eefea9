// Rule matching and notice templates for the policy. Patterns are matched exactly (lowercase), never
// as regular expressions, so a policy cannot make matching slow or surprising.
#include "common/utf8.hpp"
#include "sanitizers/policy.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "sanitizers/charset.hpp"

namespace mugai::sanitize {
namespace {

constexpr std::array<std::pair<std::string_view, Action>, 6> kActions{{
    {"convert", Action::Convert},
    {"render", Action::Render},
    {"strip", Action::Strip},
    {"unpack", Action::Unpack},
    {"quarantine", Action::Quarantine},
    {"reject", Action::Reject},
}};

constexpr std::array<std::string_view, 3> kPlaceholders{"quarantine_id", "removed_count", "parts"};

constexpr std::string_view kDefaultNotice =
    "【mugai 無害化通知】このメールは無害化されました。以下の{removed_count}件の部分を削除または安全な形式に変換し、原本を隔離しました"
    "（隔離ID: {quarantine_id}）。\n"
    "[mugai sanitization notice] This message was sanitized. The {removed_count} part(s) below were removed or "
    "replaced by safe copies; "
    "the original is kept in quarantine (id: {quarantine_id}).\n"
    "{parts}";

constexpr std::string_view kDefaultCleanNotice =
    "【mugai 無害化通知】このメールは無害化されました。本文はテキストに変換されています。\n"
    "[mugai sanitization notice] This message was sanitized; its body was converted to plain text.\n";

// RFC 2045 token characters, lowercase only (types are compared lowercased).
bool token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '!' || c == '#' || c == '$' ||
                    c == '%' || c == '&' || c == '\'' || c == '*' || c == '+' || c == '-' || c == '.' ||
                    c == '^' || c == '_' || c == '`' || c == '{' || c == '|' || c == '}' || c == '~';
    if (!ok) return false;
  }
  return true;
}

// `tmpl` has passed check_notice_template, so every {...} in it is a known placeholder.
std::string fill_template(std::string_view tmpl, std::string_view quarantine_id, std::size_t removed_count,
                          std::string_view parts) {
  std::string out;
  out.reserve(tmpl.size() + parts.size());
  for (std::size_t i = 0; i < tmpl.size();) {
    const auto close = tmpl[i] == '{' ? tmpl.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out.push_back(tmpl[i++]);
      continue;
    }
    const std::string_view name = tmpl.substr(i + 1, close - i - 1);
    if (name == "quarantine_id") {
      out += quarantine_id;
    } else if (name == "removed_count") {
      out += std::to_string(removed_count);
    } else {
      out += parts;
    }
    i = close + 1;
  }
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  return out;
}

}  // namespace

std::vector<Rule> default_rules() {
  std::vector<Rule> rules{Rule{"text/plain", Action::Convert, {"text_plain"}},
                          Rule{"text/html", Action::Convert, {"html_text"}},
                          Rule{"application/pdf", Action::Render, {"pdf_render"}}};
  // Images as libmagic 5.44 names them (image/x-ms-bmp: older libmagic's BMP) to fresh PNG/JPEG pixels.
  for (const char* type : {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/x-ms-bmp", "image/tiff", "image/webp"}) {
    rules.push_back(Rule{type, Action::Render, {"image_render"}});
  }
  // Office and OpenDocument files (and encrypted OOXML, to say why it goes) through LibreOffice to a PDF, rendered.
  for (const auto& office : kOfficeTypes) rules.push_back(Rule{std::string(office.detected_type), Action::Render, {"office_render"}});
  rules.push_back(Rule{std::string(kEncryptedOffice), Action::Render, {"office_render"}});
  for (const auto type : kArchiveTypes) rules.push_back(Rule{std::string(type), Action::Unpack, {}});
  // SVG is an XML document that can hold scripts and links, not pixels: removed until a renderer exists.
  rules.push_back(Rule{"image/svg+xml", Action::Strip, {}});
  rules.push_back(Rule{"*", Action::Strip, {}});
  return rules;
}

std::string_view action_name(Action action) {
  for (const auto& [name, value] : kActions) {
    if (value == action) return name;
  }
  return "strip";
}

Expected<Action> parse_action(std::string_view word) {
  std::string names;
  for (const auto& [name, value] : kActions) {
    if (name == word) return value;
    names += names.empty() ? "" : "|";
    names += name;
  }
  return Error{"expected one of " + names};
}

bool valid_type_pattern(std::string_view pattern) {
  if (pattern == "*") return true;
  const auto slash = pattern.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view sub = pattern.substr(slash + 1);
  return token(pattern.substr(0, slash)) && pattern.substr(0, slash) != "*" &&
         (sub == "*" || (token(sub) && sub.find('*') == std::string_view::npos));
}

bool type_matches(std::string_view pattern, std::string_view type) {
  if (pattern == "*") return true;
  if (pattern.ends_with("/*")) return type.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == type;
}

const Rule* match_rule(const std::vector<Rule>& rules, std::string_view type) {
  for (const auto& r : rules) {
    if (type_matches(r.type, type)) return &r;
  }
  return nullptr;
}

Status check_notice_template(std::string_view tmpl) {
  if (tmpl.size() > kMaxNoticeTemplate) {
    return Error{"notice template larger than " + std::to_string(kMaxNoticeTemplate) + " bytes"};
  }
  if (!utf8::is_valid(tmpl)) return Error{"notice template is not valid UTF-8"};
  for (std::size_t open = tmpl.find('{'); open != std::string_view::npos; open = tmpl.find('{', open + 1)) {
    const auto close = tmpl.find('}', open);
    const std::string_view name = tmpl.substr(open + 1, close == std::string_view::npos ? 20 : close - open - 1);
    bool known = close != std::string_view::npos;
    known = known && std::find(kPlaceholders.begin(), kPlaceholders.end(), name) != kPlaceholders.end();
    if (!known) {
      return Error{"notice template: unknown placeholder {" + std::string(name) +
                   (close == std::string_view::npos ? "" : "}") +
                   " (known: {quarantine_id}, {removed_count}, {parts})"};
    }
  }
  return Ok{};
}

std::string render_notice(std::string_view tmpl, std::string_view quarantine_id, std::size_t removed_count,
                          std::string_view parts) {
  if (tmpl.empty()) tmpl = kDefaultNotice;
  return fill_template(tmpl, quarantine_id, removed_count, parts);
}

std::string clean_notice(const Policy& policy) {
  if (!policy.clean_notice_template) return std::string(kDefaultCleanNotice);
  return policy.clean_notice_template->empty() ? std::string() : fill_template(*policy.clean_notice_template, "", 0, "");
}

}  // namespace mugai::sanitize
