// Hold notices (see hold_notice.hpp). Every value that came from outside (the original's Subject and
// Date, the envelope, the pipeline's reason) is decoded, cut short and made display-safe before it is
// written, so it stays on its own labelled line; in the header it appears only RFC 2047-encoded.
#include "gateway/hold_notice.hpp"

#include <algorithm>
#include <optional>
#include <set>

#include "common/ascii.hpp"
#include "common/utf8.hpp"
#include "gateway/bounce.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/headers.hpp"
#include "sanitizers/pipeline.hpp"

namespace mugai::gateway {
namespace {

// A raw value is cut before it is decoded: a megabyte Subject is not decoded to show 200 characters.
constexpr std::size_t kMaxRawValue = 4096;
constexpr std::size_t kShownChars = 200;    // a value on its line of the body
constexpr std::size_t kSubjectChars = 80;   // the original's Subject inside the notice's own
constexpr std::size_t kAddressChars = 256;  // RFC 5321 §4.5.3.1.3 path

// The first `max_chars` characters, "…" marking a cut (invalid bytes count as one character each).
std::string cut(std::string_view text, std::size_t max_chars) {
  std::size_t i = 0;
  for (std::size_t n = 0; i < text.size() && n < max_chars; ++n) {
    i += std::max<std::size_t>(1, utf8::sequence_length(text, i));
  }
  if (i >= text.size()) return std::string(text);
  return std::string(text.substr(0, i)) + "…";
}

// One display-safe line: controls (CR and LF included), bidi marks and line separators become \uXXXX,
// invalid bytes \xNN (escape_for_display), so the text can neither break the line nor reorder it.
std::string one_line(std::string_view text, std::size_t max_chars) {
  return sanitize::escape_for_display(cut(text.substr(0, kMaxRawValue), max_chars));
}

// A header value of the original as people see it: RFC 2047 decoded (an encoded CR LF included:
// decode_header_text turns line breaks into spaces), then one display-safe line.
std::string header_text(std::string_view raw, std::size_t max_chars) {
  return one_line(sanitize::decode_header_text(raw.substr(0, kMaxRawValue)), max_chars);
}

std::string shown_address(std::string_view addr) { return "<" + one_line(addr, kAddressChars) + ">"; }

bool atext(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool dot_atom(std::string_view s) {
  return !s.empty() && s.front() != '.' && s.back() != '.' && s.find("..") == std::string_view::npos &&
         std::all_of(s.begin(), s.end(), [](char c) { return c == '.' || atext(c); });
}

// RFC 5322 §3.6.4 msg-id with dot-atom text on both sides; obsolete and literal forms are not
// repaired but left out, so References never carries anything but a plain id.
bool valid_msg_id(std::string_view v) {
  if (v.size() < 5 || v.size() > 250 || v.front() != '<' || v.back() != '>') return false;
  v = v.substr(1, v.size() - 2);
  const auto at = v.find('@');
  return at != std::string_view::npos && dot_atom(v.substr(0, at)) && dot_atom(v.substr(at + 1));
}

struct OriginalHeader {
  std::optional<std::string> subject, date, message_id;  // raw, the first of each
};

OriginalHeader read_header(std::string_view message) {
  OriginalHeader h;
  for (auto& f : sanitize::parse_header_block(message)) {
    std::optional<std::string>* slot = ascii::iequals(f.name, "Subject")      ? &h.subject
                                       : ascii::iequals(f.name, "Date")       ? &h.date
                                       : ascii::iequals(f.name, "Message-ID") ? &h.message_id
                                                                              : nullptr;
    if (slot != nullptr && !*slot) *slot = std::move(f.value);
  }
  return h;
}

// The pipeline's (and the scheduler's) reasons start with what kind of hold they are; an unknown
// one still gets a true, if general, sentence.
struct JapaneseReason {
  std::string_view prefix;
  std::string_view text;
};
constexpr JapaneseReason kJapaneseReasons[] = {
    {"limit exceeded", "処理の上限（大きさ、パーツ数、入れ子の深さ、処理時間など）を超えていました。"},
    {"ambiguous structure", "メールの構造が二通りに読める（曖昧な）ものでした。"},
    {"unparseable", "メールの構造を解析できませんでした。"},
    {"policy: quarantine", "隔離する設定になっている種類の内容が含まれていました。"},
    {"sanitizer failed:", "無害化の処理が異常終了しました。"},  // a worker crashed on it (before the next row)
    {"sanitizer failed", "無害化の処理が繰り返し失敗しました。"},
    {"timeout after", "無害化の処理が制限時間内に終わりませんでした。"},
    {"out of memory", "無害化の処理に必要なメモリが上限を超えました。"},
    {"CPU time limit", "無害化の処理に必要なCPU時間が上限を超えました。"},
    {"internal error", "無害化の処理中にエラーが発生しました。"},
};
constexpr std::string_view kRejectedReason = "受信を拒否する設定になっている種類の内容が含まれていました。";
constexpr std::string_view kGeneralReason = "安全に無害化できませんでした。";

std::string_view japanese_reason(const HeldMessage& held) {
  if (held.rejected) return kRejectedReason;
  for (const auto& r : kJapaneseReasons)
    if (held.reason.starts_with(r.prefix)) return r.text;
  return kGeneralReason;
}

// The gateway's own notice around `text` (CRLF line ends): From quarantine.postmaster, text/plain UTF-8
// in quoted-printable, Auto-Submitted, References the original's Message-ID when it is a valid one.
std::string notice_message(const config::Config& cfg, std::string_view to, const std::string& subject,
                           std::string_view message_id_local, const OriginalHeader& original,
                           std::string_view quarantine_id, std::int64_t now_unix, const std::string& text) {
  const std::string host = flatten(cfg.smtp.hostname);
  std::string out;
  out += sanitize::fold_header("From", sanitize::rfc2047_encode("無害化ゲートウェイ mugai") + " <" +
                                           flatten(cfg.quarantine.postmaster) + ">");
  out += sanitize::fold_header("To", "<" + flatten(to) + ">");
  out += sanitize::fold_header("Subject", sanitize::rfc2047_encode(subject));
  out += "Date: " + sanitize::rfc5322_date(now_unix) + "\r\n";
  out += "Message-ID: <" + flatten(message_id_local) + "@" + host + ">\r\n";
  if (original.message_id && valid_msg_id(*original.message_id)) out += "References: " + *original.message_id + "\r\n";
  out += "Auto-Submitted: auto-generated\r\n";  // RFC 3834: no auto-reply may answer it
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=UTF-8\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n";
  if (!quarantine_id.empty()) out += "X-Mugai-Quarantine-Id: " + flatten(quarantine_id) + "\r\n";
  out += "\r\n";
  out += sanitize::qp_encode(text);
  return out;
}

}  // namespace

std::vector<NoticeAddressee> hold_notice_addressees(const config::Quarantine& q,
                                                    const std::vector<std::string>& rcpt_to) {
  std::vector<NoticeAddressee> out;
  std::set<std::string> seen;
  const auto add = [&](const std::string& to, std::vector<std::string> about) {
    if (seen.insert(ascii::lower(to)).second) out.push_back({to, std::move(about)});
  };
  if (q.notify == config::Quarantine::Notify::Recipients) {
    for (const auto& r : rcpt_to) add(r, {r});
  } else if (q.notify == config::Quarantine::Notify::Postmaster) {
    add(q.postmaster, rcpt_to);
  }
  if (!q.notify_admin.empty()) add(q.notify_admin, rcpt_to);
  return out;
}

std::string make_hold_notice(const SpoolEntry& original, const HeldMessage& held, const NoticeAddressee& addressee,
                             const config::Config& cfg, std::string_view notice_id, std::int64_t now_unix) {
  const OriginalHeader h = read_header(original.message);
  const std::string host = flatten(cfg.smtp.hostname);
  const std::string contact = one_line(cfg.quarantine.contact, kShownChars);
  std::string recipients;
  for (const auto& r : addressee.about) recipients += (recipients.empty() ? "" : ", ") + shown_address(r);

  std::string text = "このメールは無害化ゲートウェイ (mugai, " + host + ") からの自動通知です。\n";
  text += held.rejected ? "次のメールは受信を拒否され、配送されずに隔離されました。\n"
                        : "次のメールは安全に無害化できなかったため、配送されずに隔離されました。\n";
  text += "This is an automatic notice from the mail sanitization gateway (mugai, " + host + ").\n";
  text += held.rejected ? "The message below was rejected by policy: it was not delivered and is held in quarantine.\n"
                        : "The message below could not be made safe: it was not delivered and is held in quarantine.\n";
  text += "\n理由: " + std::string(japanese_reason(held)) + "\n";
  text += "Reason: " + one_line(held.reason, kShownChars) + "\n";
  text += "差出人 / Sender: " + shown_address(original.mail_from) + "\n";
  text += "件名 / Subject: " + (h.subject ? header_text(*h.subject, kShownChars) : "(なし / none)") + "\n";
  text += "日付 / Date: " + (h.date ? header_text(*h.date, kShownChars) : "(なし / none)") + "\n";
  text += "受信日時 / Received: " + sanitize::rfc5322_date(original.arrival_unix) + "\n";
  text += "宛先 / Recipients: " + recipients + "\n";
  text += "隔離ID / Quarantine ID: " + flatten(held.quarantine_id) + "\n";
  text += "\nこのメールが必要な場合は、隔離IDを添えて " + contact + " にお問い合わせください。\n";
  text += "If you need this message, ask " + contact + ", quoting the quarantine ID.\n";

  std::string subject = held.rejected ? "【受信拒否】メールを配送できませんでした / Message rejected"
                                      : "【隔離】メールを配送できませんでした / Message held in quarantine";
  if (h.subject) subject += ": " + header_text(*h.subject, kSubjectChars);
  return notice_message(cfg, addressee.to, subject, std::string(notice_id) + ".hold", h, held.quarantine_id, now_unix, text);
}

std::string password_mail_description(const SpoolEntry& mail) {
  const OriginalHeader h = read_header(mail.message);
  std::string out = "the mail " + flatten(mail.id) + " from " + shown_address(mail.mail_from) + " received " +
                    sanitize::rfc5322_date(mail.arrival_unix);
  if (h.subject) out += ", Subject \"" + header_text(*h.subject, kSubjectChars) + "\"";
  return out;
}

std::string make_encrypted_refusal(const SpoolEntry& original, const config::Config& cfg, std::string_view notice_id,
                                   std::int64_t now_unix) {
  const OriginalHeader h = read_header(original.message);
  const std::string host = flatten(cfg.smtp.hostname);
  const std::string contact = one_line(cfg.quarantine.contact, kShownChars);
  std::string recipients;
  for (const auto& r : original.rcpt_to) recipients += (recipients.empty() ? "" : ", ") + shown_address(r);

  std::string text = "このメールは無害化ゲートウェイ (mugai, " + host + ") からの自動通知です。\n";
  text += "お送りいただいたメールに添付されたパスワード付きの圧縮ファイル（いわゆる PPAP）は受け付けていないため、"
          "取り除いたうえで本文のみを配送しました。\n";
  text += "ファイルは、パスワード付き圧縮ファイル以外の方法（組織のファイル共有サービスなど）でお送りください。\n";
  text += "This is an automatic notice from the mail sanitization gateway (mugai, " + host + ").\n";
  text += "Password-protected archives (PPAP) are not accepted: the one attached to your message was removed, and the "
          "rest of the message was delivered.\n";
  text += "Please send the files another way (for example the recipient organization's file sharing service).\n";
  text += "\n件名 / Subject: " + (h.subject ? header_text(*h.subject, kShownChars) : "(なし / none)") + "\n";
  text += "日付 / Date: " + (h.date ? header_text(*h.date, kShownChars) : "(なし / none)") + "\n";
  text += "受信日時 / Received: " + sanitize::rfc5322_date(original.arrival_unix) + "\n";
  text += "宛先 / Recipients: " + recipients + "\n";
  text += "\nご不明な点は " + contact + " にお問い合わせください。\n";
  text += "If you have questions, ask " + contact + ".\n";

  std::string subject = "【受信拒否】パスワード付き圧縮ファイルは受け付けていません / Password-protected archive not accepted";
  if (h.subject) subject += ": " + header_text(*h.subject, kSubjectChars);
  return notice_message(cfg, original.mail_from, subject, std::string(notice_id) + ".ppap", h, "", now_unix, text);
}

sanitize::MessageContext message_context(const SpoolEntry& entry, std::string gateway_hostname,
                                         std::string quarantine_id) {
  sanitize::MessageContext ctx;
  ctx.queue_id = entry.id;
  ctx.gateway_hostname = std::move(gateway_hostname);
  ctx.client_ip = entry.client_ip;
  ctx.helo = entry.helo;
  ctx.mail_from = entry.mail_from;
  ctx.rcpt_to = entry.rcpt_to;
  ctx.received_unix = entry.arrival_unix;
  ctx.quarantine_id = std::move(quarantine_id);
  return ctx;
}

sanitize::QuarantineRecord hold_record(const SpoolEntry& entry, std::string reason) {
  // The pipeline's own record builder, so these entries list like its holds.
  return sanitize::quarantine_record(message_context(entry, {}, {}),
                                     sanitize::rebuild_headers(sanitize::parse_header_block(entry.message)),
                                     std::move(reason));
}

}  // namespace mugai::gateway
