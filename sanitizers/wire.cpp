// The worker channel's messages (see wire.hpp). JSON through common/json.hpp; every decoder reads
// through Fields, which requires each field with its type and range and refuses any field left over,
// and parse_bounded, which caps size, nesting and value count before nlohmann builds anything, so a
// hostile worker can make the gateway allocate no more than a small multiple of kMaxMeta.
#include "sanitizers/wire.hpp"

#include <algorithm>
#include <limits>

#include "common/json.hpp"
#include "sanitizers/file.hpp"

namespace mugai::sanitize::wire {

namespace {

// The JSON frames: a quarantine record lists at most max_parts parts of bounded fields, a report one
// row per part; 64 MiB holds the largest policy-allowed tree with room to spare.
constexpr std::size_t kMaxMeta = 64 * 1024 * 1024;
constexpr std::size_t kMaxDepth = 8;
constexpr std::size_t kMaxValues = 4'000'000;
constexpr std::size_t kHeadroom = 16 * 1024 * 1024;

Expected<json::Value> parse_bounded(std::string_view text, std::string_view what) {
  if (text.size() > kMaxMeta) return Error{std::string(what) + ": larger than " + std::to_string(kMaxMeta) + " bytes"};
  bool too_deep = false, too_many = false;
  std::size_t values = 0;
  json::Value::parser_callback_t bound = [&](int depth, json::Value::parse_event_t, json::Value&) {
    if (static_cast<std::size_t>(depth) > kMaxDepth) too_deep = true;
    if (++values > kMaxValues) too_many = true;
    return !too_deep && !too_many;  // false discards: nothing more is built
  };
  json::Value v = json::Value::parse(text, bound, false);
  if (too_deep) return Error{std::string(what) + ": nested deeper than " + std::to_string(kMaxDepth)};
  if (too_many) return Error{std::string(what) + ": more than " + std::to_string(kMaxValues) + " values"};
  if (v.is_discarded()) return Error{std::string(what) + ": not valid JSON"};
  return v;
}

// One JSON object read strictly: the first problem is kept (with the field's path), later reads return
// defaults, and finish() fails if a field was never read.
class Fields {
 public:
  Fields(const json::Value& obj, std::string where, std::string& error)
      : obj_(obj), where_(std::move(where)), error_(error) {
    if (error_.empty() && !obj_.is_object()) error_ = where_ + ": expected an object";
  }

  std::string text(const char* key) {
    const json::Value* v = get(key, &json::Value::is_string, "a string");
    return v ? v->get<std::string>() : std::string();
  }
  template <typename T>
  T number(const char* key, T max = std::numeric_limits<T>::max()) {
    const json::Value* v = get(key, &json::Value::is_number_unsigned, "an unsigned integer");
    if (v == nullptr) return T{};
    const auto n = v->get<std::uint64_t>();
    if (n > static_cast<std::uint64_t>(max)) {
      fail(key, "out of range");
      return T{};
    }
    return static_cast<T>(n);
  }
  std::int64_t signed_number(const char* key) {
    const json::Value* v = get(key, &json::Value::is_number_integer, "an integer");
    if (v == nullptr) return 0;
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > std::uint64_t{std::numeric_limits<std::int64_t>::max()}) {
      fail(key, "out of range");
      return 0;
    }
    return v->get<std::int64_t>();
  }
  bool flag(const char* key) {
    const json::Value* v = get(key, &json::Value::is_boolean, "a boolean");
    return v && v->get<bool>();
  }
  // nullptr when absent-as-null (only for keys that may be null) or on error.
  const json::Value* nullable(const char* key) {
    const json::Value* v = get(key, nullptr, nullptr);
    return v && !v->is_null() ? v : nullptr;
  }
  const json::Value& array(const char* key) {
    const json::Value* v = get(key, &json::Value::is_array, "an array");
    return v ? *v : kEmpty;
  }
  const json::Value& object(const char* key) {
    const json::Value* v = get(key, &json::Value::is_object, "an object");
    return v ? *v : kEmptyObject;
  }
  std::vector<std::string> texts(const char* key) {
    std::vector<std::string> out;
    for (const auto& item : array(key)) {
      if (!item.is_string()) {
        fail(key, "expected strings");
        return {};
      }
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  std::string path(const char* key) const { return where_ + "." + key; }
  void fail(const char* key, std::string_view problem) {
    if (error_.empty()) error_ = path(key) + ": " + std::string(problem);
  }
  bool finish() {
    if (error_.empty() && read_ != obj_.size()) error_ = where_ + ": unexpected field";
    return error_.empty();
  }

 private:
  const json::Value* get(const char* key, bool (json::Value::*is)() const noexcept, const char* kind) {
    if (!error_.empty() || !obj_.is_object()) return nullptr;
    const auto it = obj_.find(key);
    if (it == obj_.end()) {
      fail(key, "missing");
      return nullptr;
    }
    if (is != nullptr && !((*it).*is)()) {
      fail(key, std::string("expected ") + kind);
      return nullptr;
    }
    ++read_;
    return &*it;
  }

  static inline const json::Value kEmpty = json::Value::array();
  static inline const json::Value kEmptyObject = json::Value::object();
  const json::Value& obj_;
  std::string where_;
  std::string& error_;
  std::size_t read_ = 0;
};

std::string_view link_name(LinkPolicy links) {
  switch (links) {
    case LinkPolicy::Keep: return "keep";
    case LinkPolicy::Defang: return "defang";
    case LinkPolicy::Remove: return "remove";
  }
  return "defang";
}

std::string_view encrypted_name(ArchivePolicy::Encrypted e) {
  switch (e) {
    case ArchivePolicy::Encrypted::Pair: return "pair";
    case ArchivePolicy::Encrypted::Quarantine: return "quarantine";
    case ArchivePolicy::Encrypted::Reject: return "reject";
  }
  return "pair";
}

// Passwords cross in both directions bounded (pipeline.hpp): a worker cannot make the gateway keep more.
Status check_passwords(const std::vector<std::string>& passwords, const char* what) {
  if (passwords.size() > kMaxPasswords) return Error{std::string(what) + ": more than " + std::to_string(kMaxPasswords) + " passwords"};
  for (const auto& p : passwords)
    if (p.empty() || p.size() > kMaxPasswordSize) return Error{std::string(what) + ": a password of " + std::to_string(p.size()) + " bytes"};
  return Ok{};
}

std::string_view verdict_name(Outcome::Verdict v) {
  switch (v) {
    case Outcome::Verdict::Sanitized: return "sanitized";
    case Outcome::Verdict::Quarantined: return "quarantined";
    case Outcome::Verdict::Failed: return "failed";
    case Outcome::Verdict::AwaitingPassword: return "awaiting_password";
  }
  return "failed";
}

json::Value record_json(const QuarantineRecord& r) {
  json::Value parts = json::Value::array();
  for (const auto& p : r.parts) {
    parts.push_back({{"filename", p.filename}, {"declared_type", p.declared_type}, {"detected_type", p.detected_type},
                     {"size", p.size}, {"sha256", p.sha256}, {"reason", p.reason}, {"sanitizer", p.sanitizer}});
  }
  return {{"queue_id", r.queue_id}, {"received_unix", r.received_unix}, {"client_ip", r.client_ip},
          {"helo", r.helo}, {"mail_from", r.mail_from}, {"rcpt_to", r.rcpt_to}, {"subject", r.subject},
          {"message_id", r.message_id}, {"reason", r.reason}, {"parts", std::move(parts)}};
}

QuarantineRecord read_record(const json::Value& v, std::string& error) {
  QuarantineRecord r;
  Fields f(v, "quarantine", error);
  r.queue_id = f.text("queue_id");
  r.received_unix = f.signed_number("received_unix");
  r.client_ip = f.text("client_ip");
  r.helo = f.text("helo");
  r.mail_from = f.text("mail_from");
  r.rcpt_to = f.texts("rcpt_to");
  r.subject = f.text("subject");
  r.message_id = f.text("message_id");
  r.reason = f.text("reason");
  std::size_t i = 0;
  for (const auto& item : f.array("parts")) {
    Fields p(item, f.path("parts") + "[" + std::to_string(i++) + "]", error);
    RemovedPart part;
    part.filename = p.text("filename");
    part.declared_type = p.text("declared_type");
    part.detected_type = p.text("detected_type");
    part.size = p.number<std::size_t>("size");
    part.sha256 = p.text("sha256");
    part.reason = p.text("reason");
    part.sanitizer = p.text("sanitizer");
    if (!p.finish()) break;
    r.parts.push_back(std::move(part));
  }
  f.finish();
  return r;
}

}  // namespace

std::size_t max_frame(std::size_t max_message_size, const Policy& policy) {
  const std::size_t rebuilt = policy.limits.max_decoded_total / 3 * 4 + policy.limits.max_decoded_total / 38 + 4;
  return std::max(max_message_size, rebuilt) + kHeadroom;
}

std::string encode_policy(const Policy& p) {
  const Limits& l = p.limits;
  json::Value rules = json::Value::array();
  for (const auto& r : p.rules) rules.push_back({{"type", r.type}, {"action", action_name(r.action)}, {"sanitizers", r.sanitizers}});
  json::Value clean = p.clean_notice_template ? json::Value(*p.clean_notice_template) : json::Value(nullptr);
  return json::dump(
      {{"limits", {{"max_depth", l.max_depth}, {"max_parts", l.max_parts}, {"max_decoded_part", l.max_decoded_part},
                   {"max_decoded_total", l.max_decoded_total}, {"max_time_per_message_ms", l.max_time_per_message.count()},
                   {"max_header_section", l.max_header_section}, {"max_line_length", l.max_line_length},
                   {"max_artefact_size", l.max_artefact_size}}},
       {"output_charset", p.output_charset},
       {"links", link_name(p.links)},
       {"notice_template", p.notice_template},
       {"clean_notice_template", std::move(clean)},
       {"rules", std::move(rules)},
       {"render", {{"dpi", p.render.dpi}, {"max_pixels", p.render.max_pixels}, {"max_pages", p.render.max_pages},
                   {"max_text", p.render.max_text}, {"jpeg_quality", p.render.jpeg_quality}}},
       {"archive", {{"max_depth", p.archive.max_depth}, {"max_entries", p.archive.max_entries},
                    {"max_total_size", p.archive.max_total_size}, {"max_ratio", p.archive.max_ratio},
                    {"encrypted", encrypted_name(p.archive.encrypted)}}}});
}

Expected<Policy> decode_policy(std::string_view text) {
  auto parsed = parse_bounded(text, "policy");
  if (!parsed) return parsed.error();
  std::string error;
  Policy p;
  Fields f(*parsed, "policy", error);
  {
    Fields l(f.object("limits"), "policy.limits", error);
    p.limits.max_depth = l.number<std::size_t>("max_depth");
    p.limits.max_parts = l.number<std::size_t>("max_parts");
    p.limits.max_decoded_part = l.number<std::size_t>("max_decoded_part");
    p.limits.max_decoded_total = l.number<std::size_t>("max_decoded_total");
    p.limits.max_time_per_message = std::chrono::milliseconds(l.number<std::int64_t>("max_time_per_message_ms"));
    p.limits.max_header_section = l.number<std::size_t>("max_header_section");
    p.limits.max_line_length = l.number<std::size_t>("max_line_length");
    p.limits.max_artefact_size = l.number<std::size_t>("max_artefact_size");
    l.finish();
  }
  p.output_charset = f.text("output_charset");
  if (error.empty() && p.output_charset != "UTF-8" && p.output_charset != "ISO-2022-JP")
    f.fail("output_charset", "expected UTF-8 or ISO-2022-JP");
  const std::string links = f.text("links");
  if (links == "keep") p.links = LinkPolicy::Keep;
  else if (links == "defang") p.links = LinkPolicy::Defang;
  else if (links == "remove") p.links = LinkPolicy::Remove;
  else f.fail("links", "expected keep, defang or remove");
  p.notice_template = f.text("notice_template");
  if (error.empty() && !p.notice_template.empty()) {
    if (auto st = check_notice_template(p.notice_template); !st) f.fail("notice_template", st.error().message);
  }
  if (const json::Value* clean = f.nullable("clean_notice_template")) {
    if (!clean->is_string()) {
      f.fail("clean_notice_template", "expected a string or null");
    } else {
      p.clean_notice_template = clean->get<std::string>();
      if (auto st = check_notice_template(*p.clean_notice_template); !st) f.fail("clean_notice_template", st.error().message);
    }
  }
  p.rules.clear();
  std::size_t i = 0;
  for (const auto& item : f.array("rules")) {
    Fields r(item, "policy.rules[" + std::to_string(i++) + "]", error);
    Rule rule;
    rule.type = r.text("type");
    if (error.empty() && !valid_type_pattern(rule.type)) r.fail("type", "not a type pattern");
    const std::string action = r.text("action");
    if (auto a = parse_action(action)) rule.action = *a;
    else r.fail("action", "unknown action");
    rule.sanitizers = r.texts("sanitizers");
    for (const auto& name : rule.sanitizers)
      if (error.empty() && find_sanitizer(name) == nullptr) r.fail("sanitizers", "unknown sanitizer");
    if (!r.finish()) break;
    p.rules.push_back(std::move(rule));
  }
  {
    Fields r(f.object("render"), "policy.render", error);
    p.render.dpi = r.number<unsigned>("dpi");
    p.render.max_pixels = r.number<std::uint64_t>("max_pixels");
    p.render.max_pages = r.number<unsigned>("max_pages");
    p.render.max_text = r.number<std::size_t>("max_text");
    p.render.jpeg_quality = r.number<unsigned>("jpeg_quality", 100);
    r.finish();
  }
  {
    Fields a(f.object("archive"), "policy.archive", error);
    p.archive.max_depth = a.number<std::size_t>("max_depth");
    p.archive.max_entries = a.number<std::size_t>("max_entries");
    p.archive.max_total_size = a.number<std::size_t>("max_total_size");
    p.archive.max_ratio = a.number<unsigned>("max_ratio");
    const std::string encrypted = a.text("encrypted");
    if (encrypted == "pair") p.archive.encrypted = ArchivePolicy::Encrypted::Pair;
    else if (encrypted == "quarantine") p.archive.encrypted = ArchivePolicy::Encrypted::Quarantine;
    else if (encrypted == "reject") p.archive.encrypted = ArchivePolicy::Encrypted::Reject;
    else a.fail("encrypted", "expected pair, quarantine or reject");
    a.finish();
  }
  if (!f.finish()) return Error{error};
  return p;
}

std::string encode_context(const MessageContext& c) {
  return json::dump({{"queue_id", c.queue_id}, {"gateway_hostname", c.gateway_hostname}, {"client_ip", c.client_ip},
                     {"helo", c.helo}, {"mail_from", c.mail_from}, {"rcpt_to", c.rcpt_to},
                     {"received_unix", c.received_unix}, {"quarantine_id", c.quarantine_id},
                     {"archive_passwords", c.archive_passwords}, {"password_source", c.password_source},
                     {"pair_window_over", c.pair_window_over}, {"file", c.file}, {"file_name", c.file_name}});
}

Expected<MessageContext> decode_context(std::string_view text) {
  auto parsed = parse_bounded(text, "context");
  if (!parsed) return parsed.error();
  std::string error;
  MessageContext c;
  Fields f(*parsed, "context", error);
  c.queue_id = f.text("queue_id");
  c.gateway_hostname = f.text("gateway_hostname");
  c.client_ip = f.text("client_ip");
  c.helo = f.text("helo");
  c.mail_from = f.text("mail_from");
  c.rcpt_to = f.texts("rcpt_to");
  c.received_unix = f.signed_number("received_unix");
  c.quarantine_id = f.text("quarantine_id");
  c.archive_passwords = f.texts("archive_passwords");
  c.password_source = f.text("password_source");
  c.pair_window_over = f.flag("pair_window_over");
  c.file = f.flag("file");
  c.file_name = f.text("file_name");
  if (!f.finish()) return Error{error};
  if (auto st = check_passwords(c.archive_passwords, "context"); !st) return st.error();
  return c;
}

std::string encode_outcome(const Outcome& o) {
  return json::dump({{"verdict", verdict_name(o.verdict)}, {"reason", o.reason},
                     {"quarantine", o.quarantine ? record_json(*o.quarantine) : json::Value(nullptr)},
                     {"quarantine_id", o.quarantine_id}, {"rejected", o.rejected}, {"report_json", o.report_json},
                     {"password_candidates", o.password_candidates}, {"encrypted_refused", o.encrypted_refused},
                     {"archive_unlocked", o.archive_unlocked}, {"file_name", o.file_name},
                     {"file_type", o.file_type}});
}

Expected<Outcome> decode_outcome(std::string_view text, std::string message) {
  auto parsed = parse_bounded(text, "outcome");
  if (!parsed) return parsed.error();
  std::string error;
  Outcome o;
  Fields f(*parsed, "outcome", error);
  const std::string verdict = f.text("verdict");
  if (verdict == "sanitized") o.verdict = Outcome::Verdict::Sanitized;
  else if (verdict == "quarantined") o.verdict = Outcome::Verdict::Quarantined;
  else if (verdict == "failed") o.verdict = Outcome::Verdict::Failed;
  else if (verdict == "awaiting_password") o.verdict = Outcome::Verdict::AwaitingPassword;
  else f.fail("verdict", "expected sanitized, quarantined, failed or awaiting_password");
  o.reason = f.text("reason");
  if (const json::Value* q = f.nullable("quarantine")) o.quarantine = read_record(*q, error);
  o.quarantine_id = f.text("quarantine_id");
  o.rejected = f.flag("rejected");
  o.report_json = f.text("report_json");
  o.password_candidates = f.texts("password_candidates");
  o.encrypted_refused = f.flag("encrypted_refused");
  o.archive_unlocked = f.flag("archive_unlocked");
  o.file_name = f.text("file_name");
  o.file_type = f.text("file_type");
  if (!f.finish()) return Error{error};
  if (auto st = check_passwords(o.password_candidates, "outcome"); !st) return st.error();
  // The pipeline's own invariants (pipeline.hpp), which the caller relies on.
  if (o.verdict == Outcome::Verdict::Sanitized && message.empty()) return Error{"outcome: sanitized without a message"};
  if (o.verdict != Outcome::Verdict::Sanitized && !message.empty()) return Error{"outcome: a message without the sanitized verdict"};
  if (o.verdict == Outcome::Verdict::Quarantined && !o.quarantine) return Error{"outcome: quarantined without a record"};
  if (o.quarantine.has_value() != !o.quarantine_id.empty()) return Error{"outcome: a quarantine record needs its id, and only it"};
  if (o.rejected && o.verdict != Outcome::Verdict::Quarantined) return Error{"outcome: rejected but not quarantined"};
  if (!o.file_type.empty() && file_result_type(o.file_type) == nullptr) return Error{"outcome: a file result of a type not allowed"};
  if (o.file_name.empty() != o.file_type.empty()) return Error{"outcome: a file result needs a name and a type"};
  if (!o.file_type.empty() && o.verdict != Outcome::Verdict::Sanitized) return Error{"outcome: a file result without the sanitized verdict"};
  o.message = std::move(message);
  return o;
}

std::string encode_convert_request(std::string_view format) { return json::dump({{"format", format}}); }

Expected<std::string> decode_convert_request(std::string_view text) {
  auto parsed = parse_bounded(text, "convert request");
  if (!parsed) return parsed.error();
  std::string error;
  Fields f(*parsed, "convert request", error);
  std::string format = f.text("format");
  if (!f.finish()) return Error{error};
  if (std::find(kOfficeFormats.begin(), kOfficeFormats.end(), format) == kOfficeFormats.end())
    return Error{"convert request: unknown format"};
  return format;
}

std::string encode_convert_failure(const Error& why) {
  return json::dump({{"reason", why.message}, {"unavailable", why.kind == DocumentConverter::kUnavailable}});
}

Expected<ConvertFailure> decode_convert_failure(std::string_view text) {
  auto parsed = parse_bounded(text, "convert failure");
  if (!parsed) return parsed.error();
  std::string error;
  Fields f(*parsed, "convert failure", error);
  ConvertFailure why{f.text("reason")};
  why.kind = f.flag("unavailable") ? DocumentConverter::kUnavailable : DocumentConverter::kRefused;
  if (!f.finish()) return Error{error};
  if (why.reason.empty()) return Error{"convert failure: no reason"};
  return why;
}

}  // namespace mugai::sanitize::wire
