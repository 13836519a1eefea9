// What the gateway says when it holds a whole message in quarantine instead of delivering it: a short
// text notice (Japanese, then English) from the postmaster, and the record for holds it decides itself;
// likewise the sender's report when a password-protected archive (PPAP) was refused.
// Pure: time and ids come in as values; nothing from the original can start a header or a notice line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "gateway/spool.hpp"
#include "sanitizers/pipeline.hpp"
#include "sanitizers/quarantine_record.hpp"

namespace mugai::gateway {

struct HeldMessage {
  std::string quarantine_id;
  std::string reason;     // English, as logged: "limit exceeded: max_parts (...)", "sanitizer failed 3 times: ..."
  bool rejected = false;  // a reject rule decided it, not a limit or a quarantine rule
};

// One notice: whom it goes to, and which of the original recipients it speaks of (a recipient learns
// of no one but themselves; the postmaster and notify_admin learn of all).
struct NoticeAddressee {
  std::string to;
  std::vector<std::string> about;
};

// By quarantine.notify and quarantine.notify_admin; each address (compared case-insensitively) once.
std::vector<NoticeAddressee> hold_notice_addressees(const config::Quarantine& q,
                                                    const std::vector<std::string>& rcpt_to);

// The notice (CRLF line ends): From quarantine.postmaster, To the addressee, text/plain UTF-8 in
// quoted-printable, Auto-Submitted: auto-generated, Message-ID <notice_id.hold@smtp.hostname>,
// References the original's Message-ID when it is a valid one. The caller spools it with the null
// sender, so a notice that fails is dead-lettered, never bounced.
std::string make_hold_notice(const SpoolEntry& original, const HeldMessage& held, const NoticeAddressee& addressee,
                             const config::Config& cfg, std::string_view notice_id, std::int64_t now_unix);

// The report to the sender of a message whose password-protected archive archive.encrypted = "reject"
// removed (the rest was delivered): Japanese, then English, asking for the files another way. Like a
// notice, but To the envelope sender, Message-ID <notice_id.ppap@smtp.hostname>; the caller spools it
// with the null sender on the bounce route, and never for null-sender mail.
std::string make_encrypted_refusal(const SpoolEntry& original, const config::Config& cfg, std::string_view notice_id,
                                   std::int64_t now_unix);

// How the notice of a message a password mail unlocked names that mail: queue id, sender, arrival and
// Subject, on one display-safe line.
std::string password_mail_description(const SpoolEntry& mail);

// The quarantine record for a message the scheduler holds itself (the pipeline could not):
// envelope and arrival from the spool entry, Subject and Message-ID from the original's header.
sanitize::QuarantineRecord hold_record(const SpoolEntry& entry, std::string reason);

// What the pipeline (and its quarantine record) knows of a spooled message besides its bytes.
sanitize::MessageContext message_context(const SpoolEntry& entry, std::string gateway_hostname,
                                         std::string quarantine_id);

}  // namespace mugai::gateway
