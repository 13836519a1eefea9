// sanitize_message(): pre-scan → parse (mimetic) → one decision per leaf part → quarantine the original
// if anything was removed → build a fresh single-part text/plain message. Any limit crossed, parse
// failure or exception quarantines the whole message; a quarantine failure delivers nothing.
#include "sanitizers/pipeline.hpp"

#include <algorithm>
#include <exception>
#include <optional>

#include "sanitizers/charset.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/headers.hpp"
#include "sanitizers/json.hpp"
#include "sanitizers/mime.hpp"
#include "sanitizers/prescan.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

using Verdict = Outcome::Verdict;

struct PartReport {
  std::string path;
  std::string declared_type;
  std::string decision;  // "kept", "removed", "container"
  std::string sanitizer;
  std::size_t size = 0;
  std::string sha256;
  std::string reason;
};

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

class Run {
 public:
  Run(std::string_view original, const MessageContext& ctx, const Policy& policy, QuarantineStore& store)
      : original_(original), ctx_(ctx), policy_(policy), store_(store),
        headers_(rebuild_headers(parse_header_block(original))) {}

  Outcome run() {
    const PrescanResult pre = prescan(original_, policy_.limits);
    if (pre.breach) return quarantine_whole(*pre.breach);
    ParsedMime parsed = parse_mime(original_, policy_.limits);
    if (parsed.breach) return quarantine_whole(*parsed.breach);
    if (!parsed.tree) return quarantine_whole("unparseable: " + parsed.error);
    tree_ = &*parsed.tree;
    if (auto breach = visit(0, false)) return quarantine_whole(*breach);
    return finish();
  }

  // The whole original goes to quarantine; nothing is delivered.
  Outcome quarantine_whole(const std::string& reason) {
    Outcome out;
    // Parts decided before the stop are not listed: the record describes the message as a whole.
    const auto id = store_.put(original_, record(reason, {}));
    if (!id) return failed("quarantine failed: " + id.error().message + " (after: " + reason + ")");
    out.verdict = Verdict::Quarantined;
    out.reason = reason;
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
  Outcome quarantine_whole(const LimitBreach& b) {
    breaches_.push_back(b);
    return quarantine_whole("limit exceeded: " + b.limit + " (" + b.detail + ")");
  }

  QuarantineRecord record(const std::string& reason, std::vector<RemovedPart> parts) const {
    QuarantineRecord r;
    r.queue_id = ctx_.queue_id;
    r.client_ip = ctx_.client_ip;
    r.helo = ctx_.helo;
    r.mail_from = ctx_.mail_from;
    r.rcpt_to = ctx_.rcpt_to;
    r.subject = headers_.subject;
    r.message_id = headers_.message_id;
    r.reason = reason;
    r.parts = std::move(parts);
    return r;
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

  // Decides every leaf below `index`; returns the breach that stops the whole message, if any.
  std::optional<LimitBreach> visit(std::size_t index, bool losing_alternative) {
    const MimePart& part = tree_->parts[index];
    if (part.container && !part.children.empty()) {
      parts_.push_back(PartReport{part.path, part.type, "container", "", 0, "", ""});
      std::optional<std::size_t> chosen;
      if (part.type == "multipart/alternative") {
        const auto it = std::find_if(part.children.begin(), part.children.end(), [&](std::size_t c) {
          return tree_->parts[c].type == "text/plain";
        });
        if (it != part.children.end()) chosen = *it;
      }
      for (const std::size_t child : part.children) {
        if (auto b = visit(child, losing_alternative || (chosen && child != *chosen))) return b;
      }
      return std::nullopt;
    }
    return decide_leaf(part, losing_alternative);
  }

  std::optional<LimitBreach> decide_leaf(const MimePart& part, bool losing_alternative) {
    const bool known = known_encoding(part.transfer_encoding);
    std::string decoded;
    if (known) {
      auto d = decode(part);
      if (!d) return LimitBreach{"max_decoded_part", "part " + part.path + ": " + d.error().message};
      decoded = std::move(*d);
    }
    // An unknown encoding is removed as it stands; its raw size still counts against the total.
    const std::string_view bytes = known ? std::string_view(decoded) : part.body;
    decoded_total_ += bytes.size();
    if (decoded_total_ > policy_.limits.max_decoded_total) {
      return LimitBreach{"max_decoded_total",
                         "decoded parts exceed " + std::to_string(policy_.limits.max_decoded_total) + " bytes"};
    }
    PartReport rep{part.path, part.type, "removed", "", bytes.size(), sha256_hex(bytes), ""};
    Decision d;
    if (!known) {
      rep.sanitizer = "pipeline";
      d = Decision::remove("unknown transfer encoding (" + part.transfer_encoding + ")");
    } else if (part.container) {
      rep.sanitizer = "pipeline";
      d = Decision::remove("multipart without parts (malformed)");
    } else if (losing_alternative) {
      rep.sanitizer = "alternative";
      d = Decision::remove("alternative removed (text/plain alternative kept)");
    } else if (const Sanitizer* s = find_sanitizer(sanitizer_for_type(part.type))) {
      rep.sanitizer = std::string(s->name());
      d = s->sanitize(bytes, PartInfo{part.path, part.type, part.charset, part.filename});
    } else {
      rep.sanitizer = "pipeline";
      d = Decision::remove("no sanitizer registered for this type");
    }
    rep.reason = d.reason;
    replacement_chars_ += d.replacement_chars;
    dropped_controls_ += d.dropped_controls;
    if (d.action == Decision::Action::KeepText) {
      rep.decision = "kept";
      kept_.push_back(std::move(d.text));
    } else {
      removed_.push_back(RemovedPart{escape_for_display(part.filename.empty() ? "(no name)" : part.filename),
                                     part.type, part.type, rep.size, rep.sha256, d.reason, rep.sanitizer});
    }
    parts_.push_back(std::move(rep));
    return std::nullopt;
  }

  std::string notice(const std::string& qid) const {
    std::string n = "【mugai 無害化通知】このメールは無害化されました。以下の部分を削除し、原本を隔離しました（隔離ID: " +
                    qid + "）。\n[mugai sanitization notice] This message was sanitized. The parts below were "
                    "removed; the original is kept in quarantine (id: " + qid + ").\n";
    for (const auto& p : removed_) {
      n += "  - " + p.filename + " | " + escape_for_display(p.declared_type) + " | " + std::to_string(p.size) +
           " bytes | sha256:" + p.sha256 + " | " + p.reason + "\n";
    }
    return n;
  }

  Outcome finish() {
    Outcome out;
    if (!removed_.empty()) {
      const auto id = store_.put(original_, record("parts removed", removed_));
      if (!id) return failed("quarantine failed: " + id.error().message);
      out.quarantine_id = *id;
    }
    std::string text = removed_.empty() ? std::string() : notice(out.quarantine_id);
    for (const auto& k : kept_) {
      if (!text.empty()) text += "\n";
      text += k;
      if (text.back() != '\n') text += "\n";
    }
    bool seven_bit = std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    std::size_t line = 0;
    for (const char c : text) {
      line = c == '\n' ? 0 : line + 1;
      seven_bit = seven_bit && line <= 998;
    }
    std::string body;
    if (seven_bit) {
      body.reserve(text.size() + text.size() / 16);
      for (const char c : text) body += c == '\n' ? std::string_view("\r\n") : std::string_view(&c, 1);
    } else {
      body = qp_encode(text);
      if (!body.empty() && body.back() != '\n') body += "\r\n";
    }
    const std::string date = rfc5322_date(ctx_.received_unix);
    std::string& m = out.message;
    m = fold_header("Received", "from " + safe_token(ctx_.helo) + " ([" + safe_token(ctx_.client_ip) + "]) by " +
                                    safe_token(ctx_.gateway_hostname) + " (mugai) with ESMTP id " +
                                    safe_token(ctx_.queue_id) + "; " + date);
    m += headers_.block;
    if (!headers_.has_date) m += fold_header("Date", date);
    m += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n";
    m += seven_bit ? "Content-Transfer-Encoding: 7bit\r\n" : "Content-Transfer-Encoding: quoted-printable\r\n";
    m += "X-Mugai-Sanitized: yes\r\n";
    m += fold_header("X-Mugai-Queue-Id", safe_token(ctx_.queue_id));
    if (!out.quarantine_id.empty()) m += fold_header("X-Mugai-Quarantine-Id", safe_token(out.quarantine_id));
    m += "\r\n";
    m += body;
    out.verdict = Verdict::Sanitized;
    out.reason = "sanitized: " + std::to_string(kept_.size()) + " part(s) kept, " + std::to_string(removed_.size()) +
                 " removed";
    out.removed = removed_;
    out.report_json = report(out);
    return out;
  }

  std::string report(const Outcome& out) const {
    using json::append_string;
    std::string j = "{\"queue_id\":";
    append_string(j, ctx_.queue_id);
    j += ",\"verdict\":";
    append_string(j, out.verdict == Verdict::Sanitized ? "sanitized"
                     : out.verdict == Verdict::Quarantined ? "quarantined" : "failed");
    j += ",\"reason\":";
    append_string(j, out.reason);
    j += ",\"quarantine_id\":";
    append_string(j, out.quarantine_id);
    j += ",\"parts\":[";
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      const PartReport& p = parts_[i];
      j += i ? ",{\"path\":" : "{\"path\":";
      append_string(j, p.path);
      j += ",\"declared_type\":";
      append_string(j, p.declared_type);
      j += ",\"decision\":";
      append_string(j, p.decision);
      j += ",\"sanitizer\":";
      append_string(j, p.sanitizer);
      j += ",\"size\":" + std::to_string(p.size) + ",\"sha256\":";
      append_string(j, p.sha256);
      j += ",\"reason\":";
      append_string(j, p.reason);
      j += "}";
    }
    j += "],\"limit_breaches\":[";
    for (std::size_t i = 0; i < breaches_.size(); ++i) {
      j += i ? ",{\"limit\":" : "{\"limit\":";
      append_string(j, breaches_[i].limit);
      j += ",\"detail\":";
      append_string(j, breaches_[i].detail);
      j += "}";
    }
    j += "],\"header_notes\":[";
    for (std::size_t i = 0; i < headers_.notes.size(); ++i) {
      if (i) j += ",";
      append_string(j, headers_.notes[i]);
    }
    j += "],\"counts\":{\"kept\":" + std::to_string(kept_.size()) + ",\"removed\":" + std::to_string(removed_.size()) +
         ",\"replacement_chars\":" + std::to_string(replacement_chars_) +
         ",\"dropped_controls\":" + std::to_string(dropped_controls_) + "}}";
    return j;
  }

  std::string_view original_;
  const MessageContext& ctx_;
  const Policy& policy_;
  QuarantineStore& store_;
  RebuiltHeaders headers_;
  const MimeTree* tree_ = nullptr;
  std::vector<PartReport> parts_;
  std::vector<std::string> kept_;
  std::vector<RemovedPart> removed_;
  std::vector<LimitBreach> breaches_;
  std::size_t decoded_total_ = 0;
  std::size_t replacement_chars_ = 0;
  std::size_t dropped_controls_ = 0;
};

}  // namespace

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
    return Run(untrusted_message, ctx, policy, quarantine).quarantine_whole("internal error: " + what);
  } catch (...) {
    Outcome out;
    out.verdict = Outcome::Verdict::Failed;
    out.reason = "internal error while quarantining: " + what;
    return out;
  }
}

}  // namespace mugai::sanitize
