// The one sanitization entry point, shared by the gateway, `mugaictl sanitize` and the fuzz oracle
// (DESIGN.md principle 8). Pure: no I/O; everything comes back as values. Fail closed: the result is
// either a freshly built message holding only what a sanitizer positively made safe, or a verdict that
// the whole message is held back; whenever anything did not cross as it was, it also says what the
// caller must quarantine. Never throws; never returns the original bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sanitizers/headers.hpp"
#include "sanitizers/policy.hpp"
#include "sanitizers/quarantine_record.hpp"

namespace mugai::sanitize {

// What the gateway knows about the message besides its bytes.
struct MessageContext {
  std::string queue_id;
  std::string gateway_hostname;
  std::string client_ip;
  std::string helo;
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::int64_t received_unix = 0;  // time comes in as a value (for Received/Date)
  // Allocated by the caller before the call (required): the notice and X-Mugai-Quarantine-Id cite it,
  // so the caller must store the original under it whenever the outcome asks for quarantine.
  std::string quarantine_id;
  // Passwords to try on encrypted archives (a paired password mail's candidates, or the one an operator
  // gives `mugaictl quarantine unlock`), and where they came from, for the notice ("the password came
  // from ..."). At most kMaxPasswords of at most kMaxPasswordSize bytes.
  std::vector<std::string> archive_passwords;
  std::string password_source;
  // archive.encrypted = "pair": while false, an archive that needs a password no given one opens ends
  // the run with AwaitingPassword; once true (the pair window is over, or an unlock), it is removed.
  bool pair_window_over = false;
  // Set: the bytes are one file, not a message (sanitize_file, file.hpp); `file_name` is its name as
  // it came (untrusted, may be empty).
  bool file = false;
  std::string file_name;
};

inline constexpr std::size_t kMaxPasswords = 16;
inline constexpr std::size_t kMaxPasswordSize = 128;

struct Outcome {
  enum class Verdict {
    Sanitized,    // `message` holds the rebuilt, safe message to deliver
    Quarantined,  // nothing deliverable: the whole original is to be held (`quarantine`);
                  // `rejected` says a reject rule (not a limit or a quarantine rule) decided it
    Failed,       // nothing to deliver or store, retry later: a sanitizer's host failed (no document
                  // converter could be started), or even holding the message back failed
    AwaitingPassword,  // archive.encrypted = "pair" and the window is open: an archive needs a password
                       // none of ctx.archive_passwords opens; nothing to deliver or store yet
  } verdict = Verdict::Failed;
  std::string message;        // CRLF line ends; for a file (ctx.file), the safe result's bytes
  // A file's safe result (Sanitized only): its name, made safe, and its type (one of kFileResultTypes).
  std::string file_name;
  std::string file_type;
  std::string reason;         // human-readable summary for logs
  // Set when the caller must store the whole original with this record under `quarantine_id` (then
  // ctx.quarantine_id, else empty), durably, before `message` is delivered: on every Quarantined
  // verdict, and on a Sanitized one whenever a part was removed or replaced.
  std::optional<QuarantineRecord> quarantine;
  std::string quarantine_id;
  bool rejected = false;
  std::string report_json;    // per-message report
  // What the message's own text offers as archive passwords (password_candidates()), whatever the
  // verdict: the gateway tries them on the messages from the same sender that await one.
  std::vector<std::string> password_candidates;
  bool encrypted_refused = false;  // archive.encrypted = "reject" removed an archive: the sender is told
  bool archive_unlocked = false;   // one of ctx.archive_passwords opened an archive of this message
};

// The record the quarantine keeps for a message held for `reason` (and the parts removed from it, if
// any): envelope and arrival from `ctx`, Subject and Message-ID as rebuild_headers read them. The same
// for the pipeline's holds and for those the gateway decides itself (the pipeline kept failing).
QuarantineRecord quarantine_record(const MessageContext& ctx, const RebuiltHeaders& headers, std::string reason,
                                   std::vector<RemovedPart> parts = {});

Outcome sanitize_message(std::string_view untrusted_message, const MessageContext& ctx, const Policy& policy);

}  // namespace mugai::sanitize
