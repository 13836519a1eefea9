// sanitize_message(): ambiguity check → pre-scan → parse (mimetic) → one decision per leaf part, by the
// policy's rule for its detected type → quarantine the original if anything was removed → a fresh
// single-part text/plain message. Embedded messages (message/rfc822) go through the same walk and are
// inlined as text. Any limit crossed, ambiguous structure, parse failure, quarantine/reject rule or
// exception holds the whole message back; a quarantine failure delivers nothing.
#include "sanitizers/pipeline.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <optional>

#include "common/ascii.hpp"
#include "common/hex.hpp"
#include "common/json.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/detect.hpp"
#include "sanitizers/encoded_blocks.hpp"
#include "sanitizers/headers.hpp"
#include "sanitizers/mime.hpp"
#include "sanitizers/prescan.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

using Verdict = Outcome::Verdict;
using Clock = std::chrono::steady_clock;

struct PartReport {
  std::string path;
  std::string declared_type;
  std::string detected_type;
  std::string filename;  // display-safe
  std::string decision;  // "kept", "removed", "container", "inlined"
  std::string sanitizer;
  std::size_t size = 0;
  std::string sha256;
  std::string reason;
  std::vector<std::string> flags;
  std::int64_t timing_us = 0;
};

struct Removal {
  RemovedPart part;
  std::vector<std::string> flags;
};

// What ends the walk and holds the whole message back.
struct Stop {
  std::string reason;
  std::optional<LimitBreach> breach;
  bool rejected = false;
  bool unparseable = false;  // inside a forwarded message only that part is lost
};

// Parts that are never opened, whatever the policy says: fragments (never reassembled), pointers to
// outside content (never fetched), containers we cannot inspect.
std::optional<std::string_view> never_opened(std::string_view type) {
  if (type == "message/partial") return "message/partial removed: fragments are never reassembled";
  if (type == "message/external-body") return "message/external-body removed: external content is never fetched";
  if (type == "application/ms-tnef" || type == "application/vnd.ms-tnef") {
    return "TNEF (winmail.dat) removed: not understood";
  }
  if (type == "application/pkcs7-mime" || type == "application/x-pkcs7-mime") {
    return "S/MIME encrypted part removed: its content cannot be inspected";
  }
  return std::nullopt;
}

// Values from the SMTP session (HELO, addresses) are client-chosen: only a harmless token survives.
std::string safe_token(std::string_view untrusted) {
  std::string out;
  for (const char c : untrusted.substr(0, 255)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == ':';
    out.push_back(ok ? c : '_');
  }
  return out.empty() ? "unknown" : out;
}

// Every boundary parameter value in a Content-Type value (lowercased field text).
std::vector<std::string> boundary_values(std::string_view v) {
  std::vector<std::string> out;
  for (std::size_t at = v.find("boundary"); at != std::string_view::npos; at = v.find("boundary", at + 1)) {
    if (at == 0 || (v[at - 1] != ';' && v[at - 1] != ' ' && v[at - 1] != '\t')) continue;
    std::size_t i = at + 8;
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    if (i >= v.size() || v[i] != '=') continue;
    ++i;
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    const bool quoted = i < v.size() && v[i] == '"';
    const std::size_t from = quoted ? i + 1 : i;
    const std::size_t to = std::min(v.find_first_of(quoted ? "\"" : "; \t", from), v.size());
    out.emplace_back(v.substr(from, to - from));
  }
  return out;
}

// The most cautious reading (issue 3): a header block that declares two different boundaries or two
// different transfer encodings has two readings, and readers disagree on which one wins. Every run of
// non-empty lines that starts like a header field is checked, wherever it is in the message.
std::optional<std::string> ambiguous_structure(std::string_view msg) {
  std::vector<std::string> boundaries, encodings;
  std::string field;  // the current unfolded field, lowercased
  const auto end_field = [&]() -> std::optional<std::string> {
    if (field.starts_with("content-type:")) {
      for (auto& b : boundary_values(field)) {
        if (!boundaries.empty() && std::find(boundaries.begin(), boundaries.end(), b) == boundaries.end()) {
          return "ambiguous structure: duplicated boundary parameters";
        }
        boundaries.push_back(std::move(b));
      }
    } else if (field.starts_with("content-transfer-encoding:")) {
      std::string cte(ascii::trim(std::string_view(field).substr(26), " \t\r"));
      if (!encodings.empty() && encodings.front() != cte) {
        return "ambiguous structure: conflicting Content-Transfer-Encoding headers";
      }
      encodings.push_back(std::move(cte));
    }
    field.clear();
    return std::nullopt;
  };
  bool in_block = false;
  for (std::size_t ls = 0; ls < msg.size();) {
    std::size_t le = msg.find('\n', ls);
    if (le == std::string_view::npos) le = msg.size();
    std::string_view line = msg.substr(ls, le - ls);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ls = le + 1;
    if (line.empty()) {
      if (auto a = end_field()) return a;
      boundaries.clear();
      encodings.clear();
      in_block = false;
      continue;
    }
    const bool continuation = line.front() == ' ' || line.front() == '\t';
    if (continuation) {
      // Only a field's own continuation is worth keeping (boundaries are short); cap what is kept.
      if (in_block && field.size() < 4096) field += ascii::lower(line.substr(0, 4096));
      continue;
    }
    if (auto a = end_field()) return a;
    const auto colon = line.find(':');
    in_block = colon != std::string_view::npos && colon > 0 &&
               line.substr(0, colon).find_first_of(" \t") == std::string_view::npos;
    if (!in_block) {  // a body line or a boundary delimiter: whatever follows is a new header block
      boundaries.clear();
      encodings.clear();
    }
    if (in_block && (line.size() > 13) && (line[0] == 'c' || line[0] == 'C')) field = ascii::lower(line.substr(0, 4096));
  }
  return end_field();
}

// Known "your mailer cannot show HTML" stand-ins for a real text alternative.
constexpr std::array<std::string_view, 9> kStubPhrases{
    "html message",      "html format", "html version",          "html email",    "html e-mail",
    "not support html",  "in your browser", "html形式",          "htmlメール",
};

std::size_t visible_length(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return c != ' ' && c != '\t' && c != '\n' && c != '\r';
  }));
}

// Messages saved from a mailbox start with the mbox envelope line ("From addr date", no colon after
// the name): no header field, so it is skipped rather than making the whole header unreadable.
std::string_view skip_mbox_line(std::string_view message) {
  if (!message.starts_with("From ")) return message;
  const auto lf = message.find('\n');
  return lf == std::string_view::npos ? std::string_view() : message.substr(lf + 1);
}

std::int64_t micros(Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

class Run {
 public:
  Run(std::string_view original, const MessageContext& ctx, const Policy& policy, QuarantineStore& store)
      : original_(original), ctx_(ctx), policy_(policy), store_(store),
        headers_(rebuild_headers(parse_header_block(original))) {}

  Outcome run() {
    if (auto a = ambiguous_structure(original_)) return stop_whole(Stop{*a, std::nullopt, false, false});
    if (auto stop = walk(original_, "", 0)) return stop_whole(*stop);
    return finish();
  }

  // The whole original goes to quarantine; nothing is delivered.
  Outcome stop_whole(const Stop& stop) {
    if (stop.breach) breaches_.push_back(*stop.breach);
    Outcome out;
    // Parts decided before the stop are not listed: the record describes the message as a whole.
    const auto id = store_.put(original_, record(stop.reason, {}));
    if (!id) return failed("quarantine failed: " + id.error().message + " (after: " + stop.reason + ")");
    out.verdict = Verdict::Quarantined;
    out.reason = stop.reason;
    out.rejected = stop.rejected;
    out.quarantine_id = *id;
    out.report_json = report(out);
    return out;
  }

  Outcome failed(std::string reason) {
    Outcome out;
    out.verdict = Verdict::Failed;
    out.reason = std::move(reason);
    out.report_json = report(out);
    return out;
  }

 private:
  static Stop limit(LimitBreach b) {
    std::string reason = "limit exceeded: " + b.limit + " (" + b.detail + ")";
    return Stop{std::move(reason), std::move(b), false, false};
  }

  QuarantineRecord record(const std::string& reason, std::vector<RemovedPart> parts) const {
    return quarantine_record(ctx_, headers_, reason, std::move(parts));
  }

  static bool known_encoding(const std::string& cte) {
    return cte.empty() || cte == "7bit" || cte == "8bit" || cte == "binary" || cte == "base64" ||
           cte == "quoted-printable";
  }

  // Only for known encodings; the only error is the size limit.
  Expected<std::string> decode(const MimePart& part) const {
    const std::size_t max = policy_.limits.max_decoded_part;
    if (part.transfer_encoding == "base64") return base64_decode(part.body, max);
    if (part.transfer_encoding == "quoted-printable") return qp_decode(part.body, max);
    if (part.body.size() > max) return Error{"decoded size exceeds " + std::to_string(max) + " bytes"};
    return std::string(part.body);
  }

  std::optional<Stop> check_time() const {
    const auto spent = Clock::now() - start_;
    if (spent <= policy_.limits.max_time_per_message) return std::nullopt;
    return limit(LimitBreach{"max_time_per_message",
                             std::to_string(micros(spent) / 1000) + " ms spent, limit " +
                                 std::to_string(policy_.limits.max_time_per_message.count()) + " ms"});
  }

  // One message (the original, or one embedded in it at nesting `depth`), paths prefixed by `prefix`.
  std::optional<Stop> walk(std::string_view message, const std::string& prefix, std::size_t depth) {
    Limits limits = policy_.limits;
    if (depth > limits.max_depth) {
      return limit(LimitBreach{"max_depth", "nesting deeper than " + std::to_string(limits.max_depth)});
    }
    limits.max_depth -= depth;
    message = skip_mbox_line(message);
    const PrescanResult pre = prescan(message, limits);
    if (pre.breach) return limit(*pre.breach);
    ParsedMime parsed = parse_mime(message, limits);
    if (parsed.breach) return limit(*parsed.breach);
    if (!parsed.tree) return Stop{"unparseable: " + parsed.error, std::nullopt, false, true};
    return visit(*parsed.tree, 0, prefix, depth, nullptr);
  }

  // Decides every leaf below `index`. `losing` is the reason when an alternative elsewhere was chosen.
  std::optional<Stop> visit(const MimeTree& tree, std::size_t index, const std::string& prefix, std::size_t depth,
                            const char* losing) {
    const MimePart& part = tree.parts[index];
    if (part.container && !part.children.empty()) {
      PartReport rep;
      rep.path = prefix + part.path;
      rep.declared_type = part.type;
      rep.decision = "container";
      parts_.push_back(std::move(rep));
      std::optional<std::size_t> chosen;
      const char* why = nullptr;
      if (part.type == "multipart/alternative") chosen = choose_alternative(tree, part, why);
      for (const std::size_t child : part.children) {
        const char* l = losing != nullptr ? losing : (chosen && child != *chosen) ? why : nullptr;
        if (auto stop = visit(tree, child, prefix, depth, l)) return stop;
      }
      return std::nullopt;
    }
    return decide_leaf(part, prefix, depth, losing);
  }

  // The text/plain alternative when it is a real rendering, else the HTML one.
  std::optional<std::size_t> choose_alternative(const MimeTree& tree, const MimePart& part, const char*& why) const {
    const auto leaf = [&](std::string_view type) -> std::optional<std::size_t> {
      for (const std::size_t c : part.children) {
        const MimePart& p = tree.parts[c];
        if (!p.container && p.type == type && known_encoding(p.transfer_encoding)) return c;
      }
      return std::nullopt;
    };
    const auto plain = leaf("text/plain");
    const auto html = leaf("text/html");
    why = "alternative removed (text/plain alternative kept)";
    if (!plain || !html) return plain;
    const auto plain_bytes = decode(tree.parts[*plain]);
    const auto html_bytes = decode(tree.parts[*html]);
    if (!plain_bytes || !html_bytes) return plain;  // the size limit is reported when the part is decided
    const std::string plain_text = to_utf8(*plain_bytes, tree.parts[*plain].charset).text;
    const std::size_t plain_len = visible_length(plain_text);
    // The HTML's text is never longer than its bytes: convert it only when the ratio could matter.
    const bool may_be_short = plain_len * 20 < html_bytes->size();
    const std::size_t html_len =
        may_be_short
            ? visible_length(html_to_text(to_utf8(*html_bytes, tree.parts[*html].charset).text, policy_.links).text)
            : 0;
    bool stub = plain_len == 0 || plain_len * 20 < html_len;
    if (!stub && plain_len < 400) {
      const std::string l = ascii::lower(plain_text);
      stub = std::any_of(kStubPhrases.begin(), kStubPhrases.end(),
                         [&](std::string_view p) { return l.find(p) != std::string::npos; });
    }
    if (!stub) return plain;
    why = "alternative removed (the text/plain alternative was only a stub; the HTML was converted)";
    return html;
  }

  std::optional<Stop> decide_leaf(const MimePart& part, const std::string& prefix, std::size_t depth,
                                   const char* losing) {
    if (auto stop = check_time()) return stop;
    const auto t0 = Clock::now();
    const bool known = known_encoding(part.transfer_encoding);
    std::string decoded;
    if (known) {
      auto d = decode(part);
      if (!d) return limit(LimitBreach{"max_decoded_part", "part " + prefix + part.path + ": " + d.error().message});
      decoded = std::move(*d);
    }
    // An unknown encoding is removed as it stands; its raw size still counts against the total.
    const std::string_view bytes = known ? std::string_view(decoded) : part.body;
    decoded_total_ += bytes.size();
    if (decoded_total_ > policy_.limits.max_decoded_total) {
      return limit(LimitBreach{"max_decoded_total", "decoded parts exceed " +
                                                        std::to_string(policy_.limits.max_decoded_total) + " bytes"});
    }
    PartReport rep;
    rep.path = prefix + part.path;
    rep.declared_type = part.type;
    rep.detected_type = detect_part_type(part.type, bytes);
    rep.filename = escape_for_display(part.filename);
    rep.size = bytes.size();
    rep.sha256 = hex::sha256(bytes);
    rep.flags = risk_flags(part.type, rep.detected_type, part.filename);
    rep.sanitizer = "pipeline";
    Decision d;
    const auto never = never_opened(part.type) ? never_opened(part.type) : never_opened(rep.detected_type);
    if (!known) {
      d = Decision::remove("unknown transfer encoding (" + part.transfer_encoding + ")");
    } else if (part.container) {
      d = Decision::remove("multipart without parts (malformed)");
    } else if (never) {
      d = Decision::remove(std::string(*never));
    } else if (losing != nullptr) {
      rep.sanitizer = "alternative";
      d = Decision::remove(losing);
    } else if (part.type == "message/rfc822" || part.type == "message/global") {
      return inline_message(std::move(rep), bytes, depth + part.depth + 1, t0);
    } else {
      const std::string type = effective_type(part.type, rep.detected_type);
      const Rule* rule = match_rule(policy_.rules, type);
      const Action action = rule != nullptr ? rule->action : Action::Strip;
      const std::string what = "policy: " + std::string(action_name(action)) + " " + type + " (part " + rep.path + ")";
      if (action == Action::Quarantine) return Stop{what, std::nullopt, false, false};
      if (action == Action::Reject) return Stop{"rejected by " + what, std::nullopt, true, false};
      d = apply(action, rule, bytes, part, rep);
      // Dropping controls can join a signature the bytes did not show ("%P\0DF-" becomes "%PDF-"): what
      // is kept is detected again, and text that has become a binary format is removed.
      if (d.action == Decision::Action::KeepText) {
        const std::string kept_type = detect_part_type("text/plain", d.text);
        if (effective_type("text/plain", kept_type) != "text/plain") {
          d = Decision::remove("the sanitized text reads as " + kept_type + " content");
        }
      }
    }
    rep.reason = d.reason;
    replacement_chars_ += d.replacement_chars;
    dropped_controls_ += d.dropped_controls;
    rep.timing_us = micros(Clock::now() - t0);
    if (d.action == Decision::Action::KeepText) {
      rep.decision = "kept";
      parts_.push_back(std::move(rep));
      keep(std::move(d.text), prefix + part.path);
    } else {
      list_removed(std::move(rep));
    }
    return std::nullopt;
  }

  // convert/render: the first sanitizer that keeps the part wins; strip (and no rule) removes it.
  Decision apply(Action action, const Rule* rule, std::string_view bytes, const MimePart& part, PartReport& rep) {
    const PartInfo info{rep.path, part.type, part.charset, part.filename};
    if (action == Action::Convert || action == Action::Render) {
      std::string reasons;
      for (const auto& name : rule->sanitizers) {
        const Sanitizer* s = find_sanitizer(name, policy_.links);
        if (s == nullptr) continue;  // config validation names every sanitizer; a policy built in code may not
        rep.sanitizer = name;
        Decision d = s->sanitize(bytes, info);
        if (d.action == Decision::Action::KeepText) return d;
        reasons += reasons.empty() ? d.reason : "; " + d.reason;
      }
      if (action == Action::Render) {
        return Decision::remove("removed: rendering to images is not available yet" +
                                (reasons.empty() ? std::string() : " (" + reasons + ")"));
      }
      return Decision::remove(reasons.empty() ? "no sanitizer could convert this part" : reasons);
    }
    const Sanitizer* strip = find_sanitizer("strip", policy_.links);
    rep.sanitizer = "strip";
    return strip->sanitize(bytes, info);
  }

  // For the notice and the quarantine record as well as the report.
  void list_removed(PartReport rep) {
    rep.decision = "removed";
    removed_.push_back(Removal{RemovedPart{rep.filename.empty() ? "(no name)" : rep.filename, rep.declared_type,
                                           rep.detected_type, rep.size, rep.sha256, rep.reason, rep.sanitizer},
                               rep.flags});
    parts_.push_back(std::move(rep));
  }

  // Kept text never carries a file: encoded blocks are cut out and listed like attachments.
  void keep(std::string text, const std::string& path) {
    TextWithoutBlocks t = remove_encoded_blocks(text);
    for (std::size_t i = 0; i < t.blocks.size(); ++i) {
      const EncodedBlock& b = t.blocks[i];
      PartReport rep;
      rep.path = path + "#" + b.kind + std::to_string(i + 1);
      rep.declared_type = "text/plain";
      rep.detected_type = "text/x-" + b.kind;
      rep.filename = escape_for_display(b.filename);
      rep.sanitizer = "encoded_blocks";
      rep.size = b.bytes.size();
      rep.sha256 = hex::sha256(b.bytes);
      rep.reason = b.kind + " block embedded in text removed";
      rep.flags = risk_flags("text/plain", rep.detected_type, b.filename);
      list_removed(std::move(rep));
    }
    kept_.push_back(t.blocks.empty() ? std::move(text) : std::move(t.text));
  }

  // A forwarded message: its header summarized, its parts sanitized by the same walk, inlined.
  std::optional<Stop> inline_message(PartReport rep, std::string_view bytes, std::size_t depth, Clock::time_point t0) {
    rep.decision = "inlined";
    rep.sanitizer = "pipeline";
    rep.reason = "embedded message sanitized and inlined";
    const std::string prefix = rep.path + "/";
    const auto parts_before = parts_.size();
    const auto kept_before = kept_.size();
    std::string summary = "---------- 転送されたメッセージ / Forwarded message ----------\n";
    for (const auto& f : parse_header_block(skip_mbox_line(bytes))) {
      const std::string name = ascii::lower(f.name);
      const std::string_view shown = name == "from" ? "From" : name == "to" ? "To" : name == "cc" ? "Cc"
                                     : name == "date" ? "Date" : name == "subject" ? "Subject" : "";
      if (shown.empty()) continue;
      std::string value = decode_header_text(f.value);
      if (value.size() > 998) {  // a summary line, not a dump; cut on a character boundary
        std::size_t n = 998;
        while (n > 0 && (static_cast<unsigned char>(value[n]) & 0xC0) == 0x80) --n;
        value.resize(n);
      }
      summary += std::string(shown) + ": " + escape_for_display(value) + "\n";
    }
    rep.timing_us = micros(Clock::now() - t0);
    parts_.push_back(std::move(rep));
    kept_.push_back(std::move(summary));
    if (auto stop = walk(bytes, prefix, depth)) {
      if (!stop->unparseable) return stop;
      // Whatever was kept of it goes; the part is listed as removed instead.
      PartReport r = std::move(parts_[parts_before]);
      parts_.resize(parts_before);
      kept_.resize(kept_before);
      r.reason = "embedded message " + stop->reason;
      list_removed(std::move(r));
      return std::nullopt;
    }
    kept_.emplace_back("---------- 転送されたメッセージここまで / End of forwarded message ----------\n");
    return std::nullopt;
  }

  std::string notice(const std::string& qid) const {
    std::string lines;
    for (const auto& r : removed_) {
      const RemovedPart& p = r.part;
      lines += "  - " + p.filename + " | 申告/declared: " + escape_for_display(p.declared_type) +
               " | 検出/detected: " + escape_for_display(p.detected_type) + " | " + std::to_string(p.size) + " bytes | sha256:" +
               p.sha256 + " | " + escape_for_display(p.reason) + " | 隔離ID/quarantine id: " + qid;
      for (std::size_t i = 0; i < r.flags.size(); ++i) lines += (i ? ", " : " | 警告/warning: ") + r.flags[i];
      lines += "\n";
    }
    return render_notice(policy_.notice_template, qid, removed_.size(), lines);
  }

  struct Body {
    std::string bytes;
    std::string charset;
    std::string_view encoding;
    std::size_t unrepresentable = 0;
  };

  // In the policy's charset, with the lightest transfer encoding that keeps every line within 998
  // octets and, for anything but UTF-8 (which may use quoted-printable), 7-bit clean.
  Body encode_body(const std::string& text) const {
    EncodedText enc = encode_output(text, policy_.output_charset);
    bool seven_bit = true;
    std::size_t line = 0;
    for (const char c : enc.bytes) {
      line = c == '\n' ? 0 : line + 1;
      seven_bit = seven_bit && line <= 998 && static_cast<unsigned char>(c) < 0x80;
    }
    Body b{{}, enc.charset, "7bit", enc.unrepresentable};
    if (seven_bit) {
      b.bytes.reserve(enc.bytes.size() + enc.bytes.size() / 16);
      for (const char c : enc.bytes) b.bytes += c == '\n' ? std::string_view("\r\n") : std::string_view(&c, 1);
    } else if (enc.charset == "UTF-8") {
      b.encoding = "quoted-printable";
      b.bytes = qp_encode(enc.bytes);
    } else {
      b.encoding = "base64";
      std::string crlf;
      for (const char c : enc.bytes) crlf += c == '\n' ? std::string_view("\r\n") : std::string_view(&c, 1);
      const std::string flat = base64_encode(crlf);
      for (std::size_t i = 0; i < flat.size(); i += 76) b.bytes += flat.substr(i, 76) + "\r\n";
    }
    if (!b.bytes.empty() && b.bytes.back() != '\n') b.bytes += "\r\n";
    return b;
  }

  Outcome finish() {
    Outcome out;
    if (!removed_.empty()) {
      std::vector<RemovedPart> parts;
      for (const auto& r : removed_) parts.push_back(r.part);
      const auto id = store_.put(original_, record("parts removed", parts));
      if (!id) return failed("quarantine failed: " + id.error().message);
      out.quarantine_id = *id;
      out.removed = std::move(parts);
    }
    std::string text = removed_.empty() ? clean_notice(policy_) : notice(out.quarantine_id);
    for (const auto& k : kept_) {
      if (!text.empty()) text += "\n";
      text += k;
      if (!text.empty() && text.back() != '\n') text += "\n";  // a kept part may be empty text
    }
    const Body body = encode_body(defang_active_text(text));
    unrepresentable_ = body.unrepresentable;
    const std::string date = rfc5322_date(ctx_.received_unix);
    std::string& m = out.message;
    m = fold_header("Received", "from " + safe_token(ctx_.helo) + " ([" + safe_token(ctx_.client_ip) + "]) by " +
                                    safe_token(ctx_.gateway_hostname) + " (mugai) with ESMTP id " +
                                    safe_token(ctx_.queue_id) + "; " + date);
    m += headers_.block;
    if (!headers_.has_date) m += fold_header("Date", date);
    m += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=" + body.charset + "\r\n";
    m += "Content-Transfer-Encoding: " + std::string(body.encoding) + "\r\n";
    m += "X-Mugai-Sanitized: yes\r\n";
    m += fold_header("X-Mugai-Queue-Id", safe_token(ctx_.queue_id));
    if (!out.quarantine_id.empty()) m += fold_header("X-Mugai-Quarantine-Id", safe_token(out.quarantine_id));
    m += "\r\n";
    m += body.bytes;
    out.verdict = Verdict::Sanitized;
    out.reason = "sanitized: " + std::to_string(kept_.size()) + " part(s) kept, " + std::to_string(removed_.size()) +
                 " removed";
    out.report_json = report(out);
    return out;
  }

  std::string report(const Outcome& out) const {
    json::Value parts = json::Value::array();
    for (const PartReport& p : parts_) {
      parts.push_back({{"path", p.path}, {"declared_type", p.declared_type}, {"detected_type", p.detected_type},
                       {"filename", p.filename}, {"decision", p.decision}, {"sanitizer", p.sanitizer},
                       {"size", p.size}, {"sha256", p.sha256}, {"reason", p.reason}, {"flags", p.flags},
                       {"timing_us", p.timing_us}});
    }
    json::Value breaches = json::Value::array();
    for (const auto& b : breaches_) breaches.push_back({{"limit", b.limit}, {"detail", b.detail}});
    return json::dump({{"queue_id", ctx_.queue_id},
                       {"verdict", out.verdict == Verdict::Sanitized ? "sanitized"
                                   : out.verdict == Verdict::Failed  ? "failed"
                                   : out.rejected                    ? "rejected"
                                                                     : "quarantined"},
                       {"reason", out.reason},
                       {"quarantine_id", out.quarantine_id},
                       {"output_charset", policy_.output_charset},
                       {"timing_us", micros(Clock::now() - start_)},
                       {"parts", std::move(parts)},
                       {"limit_breaches", std::move(breaches)},
                       {"header_notes", headers_.notes},
                       {"counts", {{"kept", kept_.size()}, {"removed", removed_.size()},
                                   {"replacement_chars", replacement_chars_}, {"dropped_controls", dropped_controls_},
                                   {"unrepresentable_chars", unrepresentable_}}}});
  }

  std::string_view original_;
  const MessageContext& ctx_;
  const Policy& policy_;
  QuarantineStore& store_;
  RebuiltHeaders headers_;
  Clock::time_point start_ = Clock::now();
  std::vector<PartReport> parts_;
  std::vector<std::string> kept_;
  std::vector<Removal> removed_;
  std::vector<LimitBreach> breaches_;
  std::size_t decoded_total_ = 0;
  std::size_t replacement_chars_ = 0;
  std::size_t dropped_controls_ = 0;
  std::size_t unrepresentable_ = 0;
};

}  // namespace

QuarantineRecord quarantine_record(const MessageContext& ctx, const RebuiltHeaders& headers, std::string reason,
                                   std::vector<RemovedPart> parts) {
  QuarantineRecord r;
  r.queue_id = ctx.queue_id;
  r.received_unix = ctx.received_unix;
  r.client_ip = ctx.client_ip;
  r.helo = ctx.helo;
  r.mail_from = ctx.mail_from;
  r.rcpt_to = ctx.rcpt_to;
  r.subject = headers.subject;
  r.message_id = headers.message_id;
  r.reason = std::move(reason);
  r.parts = std::move(parts);
  return r;
}

Outcome sanitize_message(std::string_view untrusted_message, const MessageContext& ctx, const Policy& policy,
                         QuarantineStore& quarantine) {
  // The data path carries no exceptions out: anything thrown below (mimetic, allocation) quarantines
  // the whole message, and if even that throws, nothing is delivered.
  std::string what;
  try {
    return Run(untrusted_message, ctx, policy, quarantine).run();
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  try {
    return Run(untrusted_message, ctx, policy, quarantine).stop_whole(Stop{"internal error: " + what, {}, false, false});
  } catch (...) {
    Outcome out;
    out.verdict = Outcome::Verdict::Failed;
    out.reason = "internal error while quarantining: " + what;
    return out;
  }
}

}  // namespace mugai::sanitize
