// Tests of the hold notice (gateway/hold_notice): its header (RFC 5322/2045/3834 fields, References
// only for a valid id), its wire form, that hostile Subject/Date values cannot forge a header or a
// notice line, who is addressed under each quarantine.notify mode, and the scheduler's own record; the
// sender's report of a refused password-protected archive, and how a password mail is named.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/hex.hpp"
#include "gateway/hold_notice.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/headers.hpp"

using namespace mugai;
using namespace mugai::gateway;

namespace {

config::Config test_config() {
  config::Config cfg;
  cfg.smtp.hostname = "mugai.city.example.lg.jp";
  cfg.quarantine.postmaster = "postmaster@mugai.city.example.lg.jp";
  cfg.quarantine.contact = "情報政策課 内線 1234";
  return cfg;
}

SpoolEntry original(const std::string& header) {
  SpoolEntry e;
  e.id = "0123456789ABCDEF";
  e.arrival_unix = 1700000000;
  e.client_ip = "192.0.2.7";
  e.helo = "mx.example.net";
  e.mail_from = "alice@example.net";
  e.rcpt_to = {"bob@city.example.lg.jp", "carol@city.example.lg.jp"};
  e.message = header + "\r\nbody\r\n";
  return e;
}

const HeldMessage kHeld{"Q7K4-M2PX", "limit exceeded: max_parts (more than 2 parts)", false};

struct Notice {
  std::string text;
  std::string head;  // header section, CRLF after each field
  std::string body;  // quoted-printable decoded: LF or CRLF line ends as written
};

Notice make(const SpoolEntry& e, const HeldMessage& held = kHeld, const NoticeAddressee& to = {
                                                                      "bob@city.example.lg.jp",
                                                                      {"bob@city.example.lg.jp"}}) {
  Notice n;
  n.text = make_hold_notice(e, held, to, test_config(), "NOTICE0000000001", 1700000100);
  const auto end = n.text.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  n.head = n.text.substr(0, end + 2);
  auto body = sanitize::qp_decode(n.text.substr(end + 4), 1 << 20);
  REQUIRE(body.has_value());
  n.body = *body;
  return n;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (auto pos = text.find('\n'); pos != std::string::npos; pos = text.find('\n', start)) {
    std::string l = text.substr(start, pos - start);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(l);
    start = pos + 1;
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

// Field names of a header section (continuation lines belong to the field before).
std::vector<std::string> field_names(const std::string& head) {
  std::vector<std::string> names;
  for (const auto& l : lines(head))
    if (!l.empty() && l[0] != ' ' && l[0] != '\t') names.push_back(l.substr(0, l.find(':')));
  return names;
}

std::string field(const std::string& head, const std::string& name) {
  for (const auto& f : sanitize::parse_header_block(head))
    if (f.name == name) return f.value;
  return {};
}

// Lines of the body starting with `label` (a notice line an attacker would like to add).
std::size_t lines_starting(const std::string& body, const std::string& label) {
  const auto all = lines(body);
  return static_cast<std::size_t>(
      std::count_if(all.begin(), all.end(), [&](const std::string& l) { return l.starts_with(label); }));
}

const std::string kHeader =
    "From: Alice <alice@example.net>\r\nTo: bob@city.example.lg.jp\r\n"
    "Subject: =?UTF-8?B?6KuL5rGC5pu4?= Q3\r\nDate: Mon, 1 Jan 2024 09:00:00 +0900\r\n"
    "Message-ID: <abc.123@example.net>\r\n";

}  // namespace

TEST_CASE("hold notice: a fresh text/plain message from the postmaster to the addressee") {
  const auto n = make(original(kHeader));
  CHECK(field_names(n.head) == std::vector<std::string>{"From", "To", "Subject", "Date", "Message-ID", "References",
                                                        "Auto-Submitted", "MIME-Version", "Content-Type",
                                                        "Content-Transfer-Encoding", "X-Mugai-Quarantine-Id"});
  CHECK(sanitize::decode_header_text(field(n.head, "From")) ==
        "無害化ゲートウェイ mugai <postmaster@mugai.city.example.lg.jp>");
  CHECK(field(n.head, "To") == "<bob@city.example.lg.jp>");
  CHECK(sanitize::decode_header_text(field(n.head, "Subject")) ==
        "【隔離】メールを配送できませんでした / Message held in quarantine: 請求書 Q3");
  CHECK(field(n.head, "Date") == "Tue, 14 Nov 2023 22:15:00 +0000");
  CHECK(field(n.head, "Message-ID") == "<NOTICE0000000001.hold@mugai.city.example.lg.jp>");
  CHECK(field(n.head, "References") == "<abc.123@example.net>");
  CHECK(field(n.head, "Auto-Submitted") == "auto-generated");
  CHECK(field(n.head, "Content-Type") == "text/plain; charset=UTF-8");
  CHECK(field(n.head, "Content-Transfer-Encoding") == "quoted-printable");
  CHECK(field(n.head, "X-Mugai-Quarantine-Id") == "Q7K4-M2PX");

  CHECK(n.body.find("差出人 / Sender: <alice@example.net>\r\n") != std::string::npos);
  CHECK(n.body.find("件名 / Subject: 請求書 Q3\r\n") != std::string::npos);
  CHECK(n.body.find("日付 / Date: Mon, 1 Jan 2024 09:00:00 +0900\r\n") != std::string::npos);
  CHECK(n.body.find("受信日時 / Received: Tue, 14 Nov 2023 22:13:20 +0000\r\n") != std::string::npos);
  CHECK(n.body.find("宛先 / Recipients: <bob@city.example.lg.jp>\r\n") != std::string::npos);
  CHECK(n.body.find("carol") == std::string::npos);  // a recipient learns of no other
  CHECK(n.body.find("隔離ID / Quarantine ID: Q7K4-M2PX\r\n") != std::string::npos);
  CHECK(n.body.find("理由: 処理の上限") != std::string::npos);
  CHECK(n.body.find("Reason: limit exceeded: max_parts (more than 2 parts)\r\n") != std::string::npos);
  CHECK(n.body.find("隔離IDを添えて 情報政策課 内線 1234 にお問い合わせください") != std::string::npos);
  CHECK(n.body.find("ask 情報政策課 内線 1234, quoting the quarantine ID") != std::string::npos);
}

TEST_CASE("hold notice: CRLF only, 7-bit, header lines within 998 octets, body lines within 76") {
  const auto n = make(original(kHeader + "X-Long: " + std::string(3000, 'x') + "\r\n"));
  for (std::size_t i = 0; i < n.text.size(); ++i) {
    if (n.text[i] == '\n') REQUIRE((i > 0 && n.text[i - 1] == '\r'));
    if (n.text[i] == '\r') REQUIRE((i + 1 < n.text.size() && n.text[i + 1] == '\n'));
    REQUIRE(static_cast<unsigned char>(n.text[i]) < 0x80);
  }
  const auto end = n.text.find("\r\n\r\n");
  for (const auto& l : lines(n.text.substr(0, end))) CHECK(l.size() <= 998);
  for (const auto& l : lines(n.text.substr(end + 4))) CHECK(l.size() <= 76);
}

TEST_CASE("hold notice: a hostile Subject or Date cannot forge a header or a notice line") {
  // An encoded CR LF, a raw CR, U+202E (right-to-left override), U+2028 (line separator), C1 NEL.
  const std::string encoded = "=?UTF-8?B?" + sanitize::base64_encode("x\r\nBcc: victim@example.com\r\n") + "?=";
  const std::string header = "Subject: " + encoded + " \xE2\x80\xAE" "fdp.exe \xE2\x80\xA8" "隔離ID / Quarantine ID: FAKE"
                             "\r\nDate: y\rReason: forged \xC2\x85" "Sender: <ceo@city.example.lg.jp>\r\n"
                             "Message-ID: <a@b>\r\n";
  const auto n = make(original(header));
  CHECK(field_names(n.head).size() == 11);
  CHECK(n.head.find("Bcc") == std::string::npos);  // only base64 of it, inside an encoded word
  const std::string subject = sanitize::decode_header_text(field(n.head, "Subject"));
  CHECK(subject.find("\\u202E") != std::string::npos);
  CHECK(subject.find("\xE2\x80\xAE") == std::string::npos);

  CHECK(lines_starting(n.body, "Bcc:") == 0);
  CHECK(lines_starting(n.body, "隔離ID / Quarantine ID:") == 1);
  CHECK(lines_starting(n.body, "Reason:") == 1);
  CHECK(lines_starting(n.body, "Sender:") == 0);
  CHECK(lines_starting(n.body, "差出人 / Sender:") == 1);
  CHECK(n.body.find("\xE2\x80\xAE") == std::string::npos);
  CHECK(n.body.find("\xE2\x80\xA8") == std::string::npos);
  CHECK(n.body.find("\xC2\x85") == std::string::npos);
  CHECK(n.body.find("件名 / Subject: x Bcc: victim@example.com \\u202Efdp.exe \\u2028隔離ID / Quarantine ID: FAKE\r\n") !=
        std::string::npos);
  CHECK(n.body.find("隔離ID / Quarantine ID: Q7K4-M2PX\r\n") != std::string::npos);
}

TEST_CASE("hold notice: long values are cut; an invalid Message-ID is not referenced") {
  const auto n = make(original("Subject: " + std::string(5000, 'S') + "\r\nMessage-ID: <a b@c> (comment)\r\n"));
  CHECK(n.head.find("References") == std::string::npos);
  CHECK(n.body.find("件名 / Subject: " + std::string(200, 'S') + "…\r\n") != std::string::npos);
  CHECK(sanitize::decode_header_text(field(n.head, "Subject")).ends_with(std::string(80, 'S') + "…"));
  for (const char* bad : {"<@b>", "<a@>", "<a..b@c>", "<a@b@c>", "a@b", "<a@[127.0.0.1]>"}) {
    INFO(bad);
    CHECK(make(original("Message-ID: " + std::string(bad) + "\r\n")).head.find("References") == std::string::npos);
  }
  const auto none = make(original("X-Other: 1\r\n"));
  CHECK(none.body.find("件名 / Subject: (なし / none)\r\n") != std::string::npos);
  CHECK(sanitize::decode_header_text(field(none.head, "Subject")) ==
        "【隔離】メールを配送できませんでした / Message held in quarantine");
}

TEST_CASE("hold notice: the reason in Japanese by kind, rejected messages said to be rejected") {
  auto e = original(kHeader);
  e.mail_from.clear();
  const auto rejected = make(e, {"Q7K4-M2PX", "rejected by policy: reject application/zip (part 2)", true});
  CHECK(sanitize::decode_header_text(field(rejected.head, "Subject")).starts_with("【受信拒否】"));
  CHECK(rejected.body.find("受信を拒否され") != std::string::npos);
  CHECK(rejected.body.find("rejected by policy") != std::string::npos);
  CHECK(rejected.body.find("理由: 受信を拒否する設定") != std::string::npos);
  CHECK(rejected.body.find("差出人 / Sender: <>\r\n") != std::string::npos);  // the null sender
  const auto failed = make(original(kHeader), {"Q7K4-M2PX", "sanitizer failed 3 times: quarantine failed: x", false});
  CHECK(failed.body.find("理由: 無害化の処理が繰り返し失敗しました。") != std::string::npos);
  // The worker's ends (gateway/worker_pool): each its own sentence, the crash before the repeated failure.
  const std::pair<const char*, const char*> worker_ends[] = {
      {"sanitizer failed: signal 11 (Segmentation fault)", "理由: 無害化の処理が異常終了しました。"},
      {"timeout after 60 s", "理由: 無害化の処理が制限時間内に終わりませんでした。"},
      {"out of memory (workers.memory = 64 MiB)", "理由: 無害化の処理に必要なメモリが上限を超えました。"},
      {"CPU time limit reached (workers.cpu_seconds = 300 s)", "理由: 無害化の処理に必要なCPU時間が上限を超えました。"}};
  for (const auto& [reason, japanese] : worker_ends) {
    const auto held = make(original(kHeader), {"Q7K4-M2PX", reason, false});
    CHECK(held.body.find(japanese) != std::string::npos);
    CHECK(held.body.find(reason) != std::string::npos);
  }
  const auto other = make(original(kHeader), {"Q7K4-M2PX", "something new", false});
  CHECK(other.body.find("理由: 安全に無害化できませんでした。") != std::string::npos);
}

TEST_CASE("hold notice: addressees by quarantine.notify, notify_admin on top, each address once") {
  using Notify = config::Quarantine::Notify;
  config::Quarantine q;
  q.postmaster = "postmaster@mugai.city.example.lg.jp";
  const std::vector<std::string> rcpts = {"bob@city.example.lg.jp", "Bob@City.Example.LG.JP", "carol@city.example.lg.jp"};
  const auto to = [](const std::vector<NoticeAddressee>& v) {
    std::vector<std::string> out;
    for (const auto& a : v) out.push_back(a.to);
    return out;
  };
  auto r = hold_notice_addressees(q, rcpts);
  CHECK(to(r) == std::vector<std::string>{"bob@city.example.lg.jp", "carol@city.example.lg.jp"});
  CHECK(r[1].about == std::vector<std::string>{"carol@city.example.lg.jp"});
  q.notify_admin = "carol@city.example.lg.jp";  // already told as a recipient
  CHECK(hold_notice_addressees(q, rcpts).size() == 2);
  q.notify_admin = "sec@city.example.lg.jp";
  r = hold_notice_addressees(q, rcpts);
  CHECK(to(r).back() == "sec@city.example.lg.jp");
  CHECK(r.back().about == rcpts);
  q.notify = Notify::Postmaster;
  r = hold_notice_addressees(q, rcpts);
  CHECK(to(r) == std::vector<std::string>{"postmaster@mugai.city.example.lg.jp", "sec@city.example.lg.jp"});
  CHECK(r[0].about == rcpts);
  q.notify = Notify::None;
  CHECK(to(hold_notice_addressees(q, rcpts)) == std::vector<std::string>{"sec@city.example.lg.jp"});
  q.notify_admin.clear();
  CHECK(hold_notice_addressees(q, rcpts).empty());
}

TEST_CASE("hold record: the envelope, arrival and header the scheduler stores") {
  const auto r = hold_record(original(kHeader), "sanitizer failed 3 times: boom");
  CHECK(r.queue_id == "0123456789ABCDEF");
  CHECK(r.received_unix == 1700000000);
  CHECK(r.client_ip == "192.0.2.7");
  CHECK(r.helo == "mx.example.net");
  CHECK(r.mail_from == "alice@example.net");
  CHECK(r.rcpt_to.size() == 2);
  CHECK(r.subject == "請求書 Q3");
  CHECK(r.message_id == "<abc.123@example.net>");
  CHECK(r.reason == "sanitizer failed 3 times: boom");
  CHECK(r.parts.empty());
}

TEST_CASE("encrypted refusal: to the sender, Japanese first, asking for the files another way") {
  const SpoolEntry e = original(kHeader);
  const std::string text = make_encrypted_refusal(e, test_config(), "NOTICE0000000002", 1700000100);
  const auto end = text.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  const std::string head = text.substr(0, end + 2);
  const auto body = sanitize::qp_decode(text.substr(end + 4), 1 << 20);
  REQUIRE(body.has_value());
  CHECK(field(head, "To") == "<alice@example.net>");
  CHECK(field(head, "Message-ID") == "<NOTICE0000000002.ppap@mugai.city.example.lg.jp>");
  CHECK(field(head, "References") == "<abc.123@example.net>");
  CHECK(field(head, "Auto-Submitted") == "auto-generated");
  CHECK(field(head, "X-Mugai-Quarantine-Id").empty());  // the sender has no business with the quarantine
  CHECK(sanitize::decode_header_text(field(head, "Subject")).find("パスワード付き圧縮ファイル") != std::string::npos);
  const auto japanese = body->find("パスワード付きの圧縮ファイル（いわゆる PPAP）は受け付けていない");
  const auto english = body->find("Password-protected archives (PPAP) are not accepted");
  REQUIRE(japanese != std::string::npos);
  REQUIRE(english != std::string::npos);
  CHECK(japanese < english);
  CHECK(body->find("Please send the files another way") != std::string::npos);
  CHECK(body->find("件名 / Subject: 請求書 Q3\r\n") != std::string::npos);
  CHECK(body->find("宛先 / Recipients: <bob@city.example.lg.jp>, <carol@city.example.lg.jp>\r\n") != std::string::npos);
}

TEST_CASE("password mail description: id, sender, arrival and Subject on one safe line") {
  CHECK(password_mail_description(original(kHeader)) ==
        "the mail 0123456789ABCDEF from <alice@example.net> received Tue, 14 Nov 2023 22:13:20 +0000, "
        "Subject \"請求書 Q3\"");
  const std::string hostile = password_mail_description(
      original("Subject: =?UTF-8?Q?pw=0D=0ABcc:_x?= \xe2\x80\xae\r\n"));
  CHECK(hostile.find('\r') == std::string::npos);
  CHECK(hostile.find('\n') == std::string::npos);
  CHECK(hostile.find("\xe2\x80\xae") == std::string::npos);  // no bidi override reorders the notice
  CHECK(password_mail_description(original("X-Other: 1\r\n")).find("Subject") == std::string::npos);
}
