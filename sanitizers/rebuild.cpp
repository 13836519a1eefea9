// Rebuild (see rebuild.hpp): the notice lists every held part, then the kept text follows; the whole
// body text is defanged once more, so nothing that reads as active content is delivered as text.
#include "sanitizers/rebuild.hpp"

#include <vector>

#include "sanitizers/charset.hpp"
#include "sanitizers/html_text.hpp"
#include "sanitizers/mime_builder.hpp"

namespace mugai::sanitize {
namespace {

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

std::string notice(const Walk& walk, const Policy& policy, std::string_view qid) {
  std::string lines;
  for (const auto& h : walk.held) {
    const RemovedPart& p = h.part;
    lines += "  - " + p.filename + " | 申告/declared: " + escape_for_display(p.declared_type) +
             " | 検出/detected: " + escape_for_display(p.detected_type) + " | " + std::to_string(p.size) + " bytes | sha256:" +
             p.sha256 + " | " + escape_for_display(p.reason) + " | 隔離ID/quarantine id: " + std::string(qid);
    for (std::size_t i = 0; i < h.flags.size(); ++i) lines += (i ? ", " : " | 警告/warning: ") + h.flags[i];
    lines += "\n";
  }
  return render_notice(policy.notice_template, qid, walk.held.size(), lines);
}

}  // namespace

RebuiltMessage rebuild_message(const Walk& walk, const RebuiltHeaders& headers, const MessageContext& ctx,
                               const Policy& policy, std::string_view quarantine_id) {
  std::string text = walk.held.empty() ? clean_notice(policy) : notice(walk, policy, quarantine_id);
  for (const auto& k : walk.texts) {
    if (!text.empty()) text += "\n";
    text += k;
    if (!text.empty() && text.back() != '\n') text += "\n";  // a kept part may be empty text
  }
  std::vector<Attachment> attachments;
  for (const auto& a : walk.attachments) attachments.push_back(Attachment{a.bytes, a.content_type, a.filename});
  const MimeBody body = build_mime_body(defang_active_text(text), policy.output_charset, attachments);

  const std::string date = rfc5322_date(ctx.received_unix);
  RebuiltMessage out;
  out.unrepresentable = body.unrepresentable;
  std::string& m = out.bytes;
  m = fold_header("Received", "from " + safe_token(ctx.helo) + " ([" + safe_token(ctx.client_ip) + "]) by " +
                                  safe_token(ctx.gateway_hostname) + " (mugai) with ESMTP id " +
                                  safe_token(ctx.queue_id) + "; " + date);
  m += headers.block;
  if (!headers.has_date) m += fold_header("Date", date);
  m += body.header;
  m += "X-Mugai-Sanitized: yes\r\n";
  m += fold_header("X-Mugai-Queue-Id", safe_token(ctx.queue_id));
  if (!quarantine_id.empty()) m += fold_header("X-Mugai-Quarantine-Id", safe_token(quarantine_id));
  m += "\r\n";
  m += body.body;
  return out;
}

}  // namespace mugai::sanitize
