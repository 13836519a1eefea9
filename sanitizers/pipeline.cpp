// sanitize_message(): ambiguity check → walk (walk.hpp: one decision per part) → rebuild (rebuild.hpp)
// → report (report.hpp), plus the record of what the caller must quarantine. Ambiguous structure, any
// limit crossed, a parse failure, a quarantine/reject rule or an exception holds the whole message back;
// only an exception while doing that leaves nothing at all (Failed).
#include "sanitizers/pipeline.hpp"

#include <algorithm>
#include <exception>
#include <optional>

#include "common/ascii.hpp"
#include "sanitizers/headers.hpp"
#include "sanitizers/params.hpp"
#include "sanitizers/passwords.hpp"
#include "sanitizers/rebuild.hpp"
#include "sanitizers/report.hpp"
#include "sanitizers/walk.hpp"

namespace mugai::sanitize {
namespace {

using Verdict = Outcome::Verdict;

// The most cautious reading (issue 3): a header block that declares two different media types,
// boundaries or transfer encodings has two readings, and readers disagree on which one wins. So has a
// Content-Type or Content-Transfer-Encoding that readers end in different places: an unterminated
// quoted string or comment, comments nested too deep for recursive readers, a boundary of several
// words; one too long to be read to its end is refused too. Fields are read by params.cpp, as
// mimetic's splitting and the part model read them; every run of non-empty lines that starts like a
// header field is checked, wherever it is in the message.
std::optional<std::string> ambiguous_structure(std::string_view msg) {
  std::optional<std::string> type, boundary, encoding;  // the first of each in the current block
  const auto differs = [](std::optional<std::string>& first, const std::string& value) {
    if (!first) first = value;
    return *first != value;
  };
  struct Field {
    bool is_type;  // Content-Type, else Content-Transfer-Encoding
    std::size_t value_start, end;  // the value, up to the end of the field's last line
  };
  std::optional<Field> field;
  const auto end_field = [&]() -> std::optional<std::string> {
    if (!field) return std::nullopt;
    const bool is_type = field->is_type;
    const std::string_view value = msg.substr(field->value_start, field->end - field->value_start);
    field.reset();
    const std::string what = is_type ? "Content-Type" : "Content-Transfer-Encoding";
    const StructuredField f = parse_field(value);
    // The cut or the nesting can leave a quote or comment open: the cause is named, not the symptom.
    if (f.too_long) {
      return "ambiguous structure: a " + what + " longer than " + std::to_string(kMaxFieldValue) + " bytes is not read";
    }
    if (f.too_deep) {
      return "ambiguous structure: comments nested deeper than " + std::to_string(kMaxCommentDepth) + " in " + what;
    }
    if (f.unterminated) return "ambiguous structure: an unterminated quoted string or comment in " + what;
    if (!is_type) {
      if (differs(encoding, transfer_encoding(value))) {
        return "ambiguous structure: conflicting Content-Transfer-Encoding headers";
      }
      return std::nullopt;
    }
    if (differs(type, f.value)) return "ambiguous structure: conflicting Content-Type headers";
    for (const auto& b : readings(f.params, "boundary")) {
      if (differs(boundary, b)) return "ambiguous structure: duplicated boundary parameters";
    }
    if (std::find(f.params.unclear.begin(), f.params.unclear.end(), "boundary") != f.params.unclear.end()) {
      return "ambiguous structure: a boundary of several words or with text after its quotes";
    }
    return std::nullopt;
  };
  const auto new_block = [&] {
    type.reset();
    boundary.reset();
    encoding.reset();
  };
  for (std::size_t ls = 0; ls < msg.size();) {
    std::size_t le = msg.find('\n', ls);
    if (le == std::string_view::npos) le = msg.size();
    std::string_view line = msg.substr(ls, le - ls);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t start = ls;
    ls = le + 1;
    if (line.empty()) {
      if (auto a = end_field()) return a;
      new_block();
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {  // continues the field before it
      if (field) field->end = start + line.size();
      continue;
    }
    if (auto a = end_field()) return a;
    // mimetic takes "Name :" for a field named "Name" too.
    const auto colon = line.find(':');
    const std::string_view name = colon == std::string_view::npos ? "" : ascii::trim(line.substr(0, colon));
    if (name.empty() || name.find_first_of(" \t") != std::string_view::npos) {
      new_block();  // a body line or a boundary delimiter: whatever follows is a new header block
    } else if (ascii::iequals(name, "content-type") || ascii::iequals(name, "content-transfer-encoding")) {
      field = Field{ascii::iequals(name, "content-type"), start + colon + 1, start + line.size()};
    }
  }
  return end_field();
}


// Nothing is delivered; the whole original is to be held.
Outcome hold_whole(const Stop& stop, const Walk& walk, const RebuiltHeaders& headers, const MessageContext& ctx,
                   const Policy& policy, Clock::time_point start) {
  Outcome out;
  out.verdict = Verdict::Quarantined;
  out.reason = stop.reason;
  out.rejected = stop.rejected;
  // Parts decided before the stop are not listed: the record describes the message as a whole.
  out.quarantine = quarantine_record(ctx, headers, stop.reason, {});
  out.quarantine_id = ctx.quarantine_id;
  out.report_json = report_json({out, walk, ctx, policy, headers.notes, 0, start});
  return out;
}

Outcome run(std::string_view original, const MessageContext& ctx, const Policy& policy, Clock::time_point start) {
  const RebuiltHeaders headers = rebuild_headers(parse_header_block(original));
  if (auto a = ambiguous_structure(original)) {
    return hold_whole(Stop{*a, std::nullopt, false, false}, Walk{}, headers, ctx, policy, start);
  }
  const Walk walk = walk_message(original, policy, start,
                                 ArchiveKeys{ctx.archive_passwords, ctx.password_source, ctx.pair_window_over});
  // Whatever the verdict, the message's own text may hold the password another message waits for.
  std::vector<std::string> candidates = password_candidates(walk.texts);
  if (walk.stop && (walk.stop->retry_later || walk.stop->awaiting_password)) {
    Outcome out;
    out.verdict = walk.stop->retry_later ? Verdict::Failed : Verdict::AwaitingPassword;
    out.reason = walk.stop->reason;
    out.password_candidates = std::move(candidates);
    return out;
  }
  if (walk.stop) {
    Outcome out = hold_whole(*walk.stop, walk, headers, ctx, policy, start);
    out.password_candidates = std::move(candidates);
    return out;
  }

  Outcome out;
  out.password_candidates = std::move(candidates);
  out.encrypted_refused = walk.encrypted_refused;
  out.archive_unlocked = walk.archive_unlocked;
  const std::size_t replaced = count_replaced(walk);
  const std::size_t removed = walk.held.size() - replaced;
  if (!walk.held.empty()) {
    std::vector<RemovedPart> parts;
    for (const auto& h : walk.held) parts.push_back(h.part);
    out.quarantine = quarantine_record(ctx, headers,
                            replaced == 0 ? "parts removed" : removed == 0 ? "parts replaced" : "parts removed and replaced",
                            std::move(parts));
    out.quarantine_id = ctx.quarantine_id;
  }
  RebuiltMessage rebuilt = rebuild_message(walk, headers, ctx, policy, out.quarantine_id);
  out.message = std::move(rebuilt.bytes);
  out.verdict = Verdict::Sanitized;
  out.reason = "sanitized: " + std::to_string(walk.texts.size()) + " part(s) kept, " +
               (replaced == 0 ? "" : std::to_string(replaced) + " replaced, ") + std::to_string(removed) + " removed";
  out.report_json = report_json({out, walk, ctx, policy, headers.notes, rebuilt.unrepresentable, start});
  return out;
}

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

Outcome sanitize_message(std::string_view untrusted_message, const MessageContext& ctx, const Policy& policy) {
  // The data path carries no exceptions out: anything thrown below (mimetic, allocation) holds the
  // whole message back, and if even that throws, nothing at all comes out.
  const auto start = Clock::now();
  std::string what;
  try {
    return run(untrusted_message, ctx, policy, start);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  try {
    return hold_whole(Stop{"internal error: " + what, std::nullopt, false, false}, Walk{},
                      rebuild_headers(parse_header_block(untrusted_message)), ctx, policy, start);
  } catch (...) {
    Outcome out;
    out.verdict = Outcome::Verdict::Failed;
    out.reason = "internal error while holding the message back: " + what;
    return out;
  }
}

}  // namespace mugai::sanitize
