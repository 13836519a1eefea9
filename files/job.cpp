// One file's outcome on the trusted side (job.hpp). The worker's outcome was already checked by the
// channel (wire::decode_outcome); its result name is made safe again here, whatever the worker sent.
#include "files/job.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>

#include "common/durable_file.hpp"
#include "common/hex.hpp"
#include "common/json.hpp"
#include "quarantine/audit.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/file.hpp"
#include "sanitizers/headers.hpp"
#include "sanitizers/mime_builder.hpp"
#include "sanitizers/wire.hpp"

namespace mugai::files {
namespace {

using Decision = Result::Decision;

// A failed run keeps the file, as the gateway keeps a message whose worker kept failing.
Result removed(const Input& in, std::string reason) {
  Result r;
  r.reason = std::move(reason);
  sanitize::MessageContext ctx;
  ctx.queue_id = in.id;
  ctx.received_unix = in.received_unix;
  sanitize::RebuiltHeaders headers;
  headers.subject = sanitize::escape_for_display(in.name);
  r.quarantine = sanitize::quarantine_record(ctx, headers, r.reason);
  r.parts_json = "[]";
  return r;
}

std::string_view decision_name(Decision d) {
  switch (d) {
    case Decision::Sanitized: return "sanitized";
    case Decision::Removed: return "removed";
    case Decision::Retry: return "retry";
  }
  return "removed";
}

}  // namespace

sanitize::MessageContext context(const config::Config& cfg, const Input& in) {
  sanitize::MessageContext ctx;
  ctx.queue_id = in.id;
  ctx.gateway_hostname = cfg.smtp.hostname;
  ctx.received_unix = in.received_unix;
  ctx.quarantine_id = in.quarantine_id;
  ctx.pair_window_over = true;
  ctx.file = true;
  ctx.file_name = in.name;
  return ctx;
}

worker::Limits worker_limits(const config::Config& cfg) {
  return worker::Limits{cfg.workers.memory, cfg.workers.cpu_seconds,
                        sanitize::wire::max_frame(config::largest_input(cfg), cfg.sanitize)};
}

Result result(const Input& in, Expected<sanitize::Outcome> outcome) {
  if (!outcome) return removed(in, "sanitizer failed: " + outcome.error().message);
  using Verdict = sanitize::Outcome::Verdict;
  sanitize::Outcome& o = *outcome;
  if (o.verdict == Verdict::Failed) {
    Result r;
    r.decision = Decision::Retry;
    r.reason = o.reason;
    r.parts_json = "[]";
    return r;
  }
  const sanitize::ArtefactType* type = sanitize::file_result_type(o.file_type);
  if (o.verdict == Verdict::Sanitized && type == nullptr) return removed(in, "the worker answered without a file result");
  if (o.verdict != Verdict::Sanitized && o.verdict != Verdict::Quarantined) {
    return removed(in, "the worker awaited an archive password although none can follow a file");
  }
  Result r;
  r.reason = o.reason;
  r.quarantine = std::move(o.quarantine);
  if (!r.quarantine) return removed(in, "the worker's outcome kept no record of the original");
  const json::Value report = json::parse(o.report_json);
  const json::Value* parts = report.is_object() && report.contains("parts") && report["parts"].is_array()
                                 ? &report["parts"] : nullptr;
  r.parts_json = parts != nullptr ? json::dump(*parts) : "[]";
  if (parts != nullptr && !parts->empty() && (*parts)[0].contains("detected_type") &&
      (*parts)[0]["detected_type"].is_string()) {
    r.detected_type = (*parts)[0]["detected_type"].get<std::string>();
  }
  if (o.verdict == Verdict::Sanitized) {
    r.decision = Decision::Sanitized;
    r.type = o.file_type;
    r.name = sanitize::safe_filename(o.file_name, type->extension);
    r.bytes = std::move(o.message);
  }
  return r;
}

namespace {

// One report's JSON: `sha256` null when the original was never read (refused for its size).
std::string report_text(const Input& in, std::uint64_t size, json::Value sha256, const Result& r,
                        std::string_view quarantine_id, std::int64_t now_unix) {
  json::Value result = nullptr;
  if (r.decision == Decision::Sanitized) {
    result = {{"name", r.name}, {"type", r.type}, {"size", r.bytes.size()}, {"sha256", hex::sha256(r.bytes)}};
  }
  json::Value parts = json::parse(r.parts_json);
  if (parts.is_discarded()) parts = json::Value::array();
  const json::Value report = {
      {"file", in.name},
      {"id", in.id},
      {"size", size},
      {"sha256", std::move(sha256)},
      {"detected_type", r.detected_type},
      {"decision", decision_name(r.decision)},
      {"reason", r.reason},
      {"result", result},
      {"quarantine_id", quarantine_id.empty() ? json::Value(nullptr) : json::Value(quarantine_id)},
      {"time", quarantine::iso_time(now_unix)},
      {"parts", parts},
  };
  return json::dump(report, 2) + "\n";
}

}  // namespace

std::string report_json(const Input& in, const Result& r, std::string_view quarantine_id, std::int64_t now_unix) {
  return report_text(in, in.bytes.size(), hex::sha256(in.bytes), r, quarantine_id, now_unix);
}

Result refused(std::size_t max_size) {
  Result r;
  r.reason = "larger than files.max_size (" + std::to_string(max_size) + " bytes)";
  r.parts_json = "[]";
  return r;
}

std::string refused_report_json(const Input& in, std::uint64_t size, const Result& r, std::int64_t now_unix) {
  return report_text(in, size, nullptr, r, "", now_unix);
}

std::string report_name(const Input& in, const Result& r) {
  const std::string base = r.decision == Decision::Sanitized ? r.name : sanitize::safe_filename(in.name, "");
  // The suffix is the extension: a long name is cut before it, so a report always ends in .report.json.
  return sanitize::safe_filename(base + ".report.json", ".report.json");
}

std::string_view audit_event(const Result& r) {
  return r.decision == Decision::Sanitized ? "file-sanitized" : "file-removed";
}

namespace {

std::vector<std::pair<std::string, std::string>> fields(const Input& in, std::uint64_t size, std::string sha256,
                                                        const Result& r, std::string_view quarantine_id,
                                                        std::string_view where) {
  return {{"file_id", in.id},
          {"file", sanitize::escape_for_display(in.name)},
          {"where", std::string(where)},
          {"size", std::to_string(size)},
          {"sha256", std::move(sha256)},
          {"detected_type", r.detected_type},
          {"result", r.decision == Decision::Sanitized ? r.name : ""},
          {"result_sha256", r.decision == Decision::Sanitized ? hex::sha256(r.bytes) : ""},
          {"quarantine_id", std::string(quarantine_id)},
          {"reason", r.reason}};
}

}  // namespace

std::vector<std::pair<std::string, std::string>> audit_fields(const Input& in, const Result& r,
                                                              std::string_view quarantine_id, std::string_view where) {
  return fields(in, in.bytes.size(), hex::sha256(in.bytes), r, quarantine_id, where);
}

std::vector<std::pair<std::string, std::string>> refused_audit_fields(const Input& in, std::uint64_t size,
                                                                      const Result& r, std::string_view where) {
  return fields(in, size, "", r, "", where);
}

Status place(const std::string& tmp_dir, const std::string& dir, const std::string& name, std::string_view bytes,
             bool replace) {
  static std::atomic<unsigned> counter{0};
  const std::string tmp = tmp_dir + "/.mugai-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".tmp";
  // Readable as the umask allows: the LGWAN side reads results as another account.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return durable::errno_error("cannot create", tmp);
  if (!durable::write_all(fd, {bytes})) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    errno = err;
    return durable::errno_error("cannot write", tmp);
  }
  return durable::commit_file(fd, tmp, dir + "/" + name, true, replace);
}

std::string free_name(const std::string& name, const std::function<bool(const std::string&)>& taken) {
  for (unsigned n = 1;; ++n) {
    std::string candidate = sanitize::numbered_name(name, n);
    if (!taken(candidate)) return candidate;
  }
}

}  // namespace mugai::files
