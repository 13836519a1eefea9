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
#include "sanitizers/rebuild.hpp"
#include "sanitizers/report.hpp"
#include "sanitizers/walk.hpp"

namespace mugai::sanitize {
namespace {

using Verdict = Outcome::Verdict;

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

QuarantineRecord record(const MessageContext& ctx, const RebuiltHeaders& headers, std::string reason,
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

// Nothing is delivered; the whole original is to be held.
Outcome hold_whole(const Stop& stop, const Walk& walk, const RebuiltHeaders& headers, const MessageContext& ctx,
                   const Policy& policy, Clock::time_point start) {
  Outcome out;
  out.verdict = Verdict::Quarantined;
  out.reason = stop.reason;
  out.rejected = stop.rejected;
  // Parts decided before the stop are not listed: the record describes the message as a whole.
  out.quarantine = record(ctx, headers, stop.reason, {});
  out.quarantine_id = ctx.quarantine_id;
  out.report_json = report_json({out, walk, ctx, policy, headers.notes, 0, start});
  return out;
}

Outcome run(std::string_view original, const MessageContext& ctx, const Policy& policy, Clock::time_point start) {
  const RebuiltHeaders headers = rebuild_headers(parse_header_block(original));
  if (auto a = ambiguous_structure(original)) {
    return hold_whole(Stop{*a, std::nullopt, false, false}, Walk{}, headers, ctx, policy, start);
  }
  const Walk walk = walk_message(original, policy, start);
  if (walk.stop) return hold_whole(*walk.stop, walk, headers, ctx, policy, start);

  Outcome out;
  const std::size_t replaced = count_replaced(walk);
  const std::size_t removed = walk.held.size() - replaced;
  if (!walk.held.empty()) {
    std::vector<RemovedPart> parts;
    for (const auto& h : walk.held) parts.push_back(h.part);
    out.quarantine = record(ctx, headers,
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
