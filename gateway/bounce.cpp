// DSN construction (RFC 3464, see bounce.hpp). Every value that came from outside (recipients,
// next-hop replies, the original's header) is flattened to printable ASCII or re-folded, so the
// DSN always has CRLF line ends, lines of at most 998 octets and no injected header lines.
#include "gateway/bounce.hpp"

#include <algorithm>
#include <string_view>

#include "sanitizers/codec.hpp"
#include "sanitizers/headers.hpp"

namespace mugai::gateway {

namespace {

constexpr std::size_t kMaxValue = 900;              // keeps "Diagnostic-Code: smtp; ..." < 998
constexpr std::size_t kMaxLine = 998;               // RFC 5322 §2.1.1
constexpr std::size_t kMaxHeaderSection = 64 * 1024;  // enough to identify the original

// The original's header section with every line break made CRLF and every over-long line folded
// (a fold starts with a space, so it stays part of the same field).
std::string header_section(std::string_view message) {
  auto end = message.find("\r\n\r\n");
  std::string_view head = message.substr(0, end == std::string_view::npos ? message.size() : end + 2);
  if (head.size() > kMaxHeaderSection) {
    head = head.substr(0, kMaxHeaderSection);
    auto last = head.rfind('\n');
    head = head.substr(0, last == std::string_view::npos ? 0 : last + 1);
  }
  std::string out;
  out.reserve(head.size() + 64);
  std::size_t line_len = 0;
  for (std::size_t i = 0; i < head.size(); ++i) {
    char c = head[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < head.size() && head[i + 1] == '\n') ++i;
      out += "\r\n";
      line_len = 0;
      continue;
    }
    if (line_len == kMaxLine - 1) {
      out += "\r\n ";
      line_len = 1;
    }
    out += c;
    ++line_len;
  }
  if (line_len != 0) out += "\r\n";
  return out;
}

bool has_8bit(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  return false;
}

}  // namespace

std::string flatten(std::string_view untrusted) {
  std::string out;
  out.reserve(std::min(untrusted.size(), kMaxValue));
  for (char c : untrusted.substr(0, kMaxValue)) {
    auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u == 0x7f ? ' ' : u >= 0x80 ? '?' : c;
  }
  return out;
}

std::string make_dsn(const SpoolEntry& original, const std::vector<FailedRecipient>& failed,
                     const std::string& reporting_mta, std::int64_t now_unix) {
  const std::string mta = flatten(reporting_mta);

  std::string human =
      "このメールは " + mta + " の無害化ゲートウェイ (mugai) から自動送信されています。\n"
      "お送りいただいたメールを、以下の宛先へ配送できませんでした。\n"
      "宛先のアドレスをご確認のうえ、必要であれば再送してください。\n"
      "\n"
      "This is the mail system at host " + mta + ".\n"
      "Your message could not be delivered to one or more recipients.\n"
      "\n";
  std::string status =
      "Reporting-MTA: dns; " + mta + "\r\n" +
      "Arrival-Date: " + sanitize::rfc5322_date(original.arrival_unix) + "\r\n";
  for (const auto& f : failed) {
    auto rcpt = flatten(f.rcpt);
    auto diagnostic = flatten(f.diagnostic);
    human += "<" + rcpt + ">: " + diagnostic + "\n";
    status += "\r\nFinal-Recipient: rfc822; " + rcpt + "\r\nAction: failed\r\nStatus: " +
              flatten(f.status) + "\r\n";
    if (!f.remote_mta.empty()) status += "Remote-MTA: dns; " + flatten(f.remote_mta) + "\r\n";
    status += "Diagnostic-Code: smtp; " + diagnostic + "\r\n";
  }
  auto headers = header_section(original.message);

  // Quoted-printable never yields "=_", but part 3 is the original's text: a boundary is only used
  // once it is proven absent from every part.
  std::string boundary;
  for (unsigned n = 0;; ++n) {
    boundary = "=_mugai_dsn_" + flatten(original.id) + "_" + std::to_string(n);
    auto in = [&](const std::string& s) { return s.find(boundary) != std::string::npos; };
    if (!in(human) && !in(status) && !in(headers)) break;
  }

  std::string out;
  out.reserve(human.size() * 3 + status.size() + headers.size() + 1024);
  out += "From: Mail Delivery System <MAILER-DAEMON@" + mta + ">\r\n";
  out += "To: <" + flatten(original.mail_from) + ">\r\n";
  out += "Subject: Undelivered Mail Returned to Sender\r\n";
  out += "Date: " + sanitize::rfc5322_date(now_unix) + "\r\n";
  out += "Message-ID: <" + flatten(original.id) + ".dsn@" + mta + ">\r\n";
  out += "Auto-Submitted: auto-replied\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/report; report-type=delivery-status;\r\n";
  out += "\tboundary=\"" + boundary + "\"\r\n";
  out += "\r\n";
  out += "This is a MIME-encapsulated delivery status notification.\r\n";

  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Type: text/plain; charset=UTF-8\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
  out += sanitize::qp_encode(human);

  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Type: message/delivery-status\r\n\r\n";
  out += status;

  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Type: text/rfc822-headers\r\n";
  if (has_8bit(headers)) out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "\r\n";
  out += headers;

  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

}  // namespace mugai::gateway
