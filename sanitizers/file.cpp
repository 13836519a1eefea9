// sanitize_file() (file.hpp): walk_file → one safe result (the single result as it is, several packed
// into a zip written with libarchive) → report, plus the record that keeps the original in quarantine.
// Like sanitize_message, nothing thrown gets out, and the original's bytes are never the result.
#include "sanitizers/file.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <set>

#include "sanitizers/charset.hpp"
#include "sanitizers/mime_builder.hpp"
#include "sanitizers/report.hpp"
#include "sanitizers/walk.hpp"

namespace mugai::sanitize {
namespace {

using Verdict = Outcome::Verdict;

// Names in one zip must differ, or an unzip overwrites.
std::string unique_name(const std::string& name, std::set<std::string>& taken) {
  for (unsigned n = 1;; ++n) {
    std::string candidate = numbered_name(name, n);
    if (taken.insert(candidate).second) return candidate;
  }
}

std::string zip_error(struct archive* a) {
  const char* why = a != nullptr ? archive_error_string(a) : "out of memory";
  return "cannot write a zip: " + std::string(why != nullptr ? why : "unknown error");
}

la_ssize_t append_to_string(struct archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

// Flat names only (the walk joins an entry's directories with '_'), UTF-8 flagged, deflated, dated `mtime`.
Expected<std::string> zip_of(const std::vector<const Artefact*>& files, std::int64_t mtime) {
  std::string out;
  const std::unique_ptr<struct archive, decltype(&archive_write_free)> a(archive_write_new(), archive_write_free);
  if (!a || archive_write_set_format_zip(a.get()) != ARCHIVE_OK ||
      archive_write_set_options(a.get(), "zip:hdrcharset=UTF-8") != ARCHIVE_OK ||
      archive_write_open2(a.get(), &out, nullptr, append_to_string, nullptr, nullptr) != ARCHIVE_OK) {
    return Error{zip_error(a.get())};
  }
  std::set<std::string> taken;
  for (const Artefact* f : files) {
    const std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
    const std::string name = unique_name(f->filename, taken);
    archive_entry_set_pathname_utf8(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_mtime(e.get(), static_cast<time_t>(mtime), 0);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(f->bytes.size()));
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK ||
        archive_write_data(a.get(), f->bytes.data(), f->bytes.size()) != static_cast<la_ssize_t>(f->bytes.size())) {
      return Error{zip_error(a.get())};
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return Error{zip_error(a.get())};
  }
  return out;
}

// "申請書.pdf" → "申請書": an archive's zip is named after it.
std::string stem_of(std::string_view name) {
  const auto dot = name.rfind('.');
  return std::string(dot == std::string_view::npos || dot == 0 ? name : name.substr(0, dot));
}

Outcome run(std::string_view file, const MessageContext& ctx, const Policy& policy, Clock::time_point start) {
  // A name from a Windows share may be CP932: read as the archive names are, never as raw bytes.
  const std::string name = to_utf8(ctx.file_name, "").text;
  const Walk walk = walk_file(file, name, policy, start, ArchiveKeys{{}, "", true});
  RebuiltHeaders headers;
  headers.subject = escape_for_display(name);
  Outcome out;
  out.quarantine_id = ctx.quarantine_id;
  if (walk.stop && walk.stop->retry_later) {
    out.verdict = Verdict::Failed;
    out.reason = walk.stop->reason;
    out.quarantine_id.clear();
    return out;
  }
  std::vector<const Artefact*> results;
  for (const auto& a : walk.attachments) results.push_back(&a);
  for (const auto& t : walk.text_files) results.push_back(&t);
  std::vector<RemovedPart> parts;
  for (const auto& h : walk.held) parts.push_back(h.part);
  // Entries of an unpacked archive have paths "1:N": then the result is a zip even of one entry.
  const bool unpacked = std::any_of(walk.parts.begin(), walk.parts.end(),
                                    [](const PartReport& p) { return p.path.find(':') != std::string::npos; });
  if (walk.stop || results.empty()) {
    out.verdict = Verdict::Quarantined;
    out.rejected = walk.stop && walk.stop->rejected;
    if (walk.stop) {
      out.reason = walk.stop->reason;
    } else {
      const auto removed = std::find_if(walk.held.begin(), walk.held.end(), [](const HeldPart& h) { return !h.replaced; });
      out.reason = "nothing could be made safe" +
                   (removed == walk.held.end() ? std::string() : ": " + removed->part.reason);
    }
    out.quarantine = quarantine_record(ctx, headers, out.reason, walk.stop ? std::vector<RemovedPart>{} : std::move(parts));
    out.report_json = report_json({out, walk, ctx, policy, {}, 0, start});
    return out;
  }
  if (results.size() == 1 && !unpacked) {
    out.message = results.front()->bytes;
    out.file_name = results.front()->filename;
    out.file_type = results.front()->content_type;
  } else {
    auto zip = zip_of(results, ctx.received_unix);
    if (!zip) {
      out.verdict = Verdict::Quarantined;
      out.reason = zip.error().message;
      out.quarantine = quarantine_record(ctx, headers, out.reason, std::move(parts));
      out.report_json = report_json({out, walk, ctx, policy, {}, 0, start});
      return out;
    }
    out.message = std::move(*zip);
    out.file_name = safe_filename(stem_of(name), ".zip");
    out.file_type = "application/zip";
  }
  out.verdict = Verdict::Sanitized;
  const std::size_t removed = walk.held.size() - count_replaced(walk);
  out.reason = "sanitized: " + std::to_string(results.size()) + " safe file(s) as " + out.file_name + ", " +
               std::to_string(removed) + " part(s) removed";
  out.quarantine = quarantine_record(ctx, headers, "file sanitized", std::move(parts));
  out.report_json = report_json({out, walk, ctx, policy, {}, 0, start});
  return out;
}

}  // namespace

const ArtefactType* file_result_type(std::string_view content_type) {
  const auto it = std::find_if(kFileResultTypes.begin(), kFileResultTypes.end(),
                               [&](const ArtefactType& t) { return t.content_type == content_type; });
  return it == kFileResultTypes.end() ? nullptr : &*it;
}

std::string numbered_name(std::string_view name, unsigned n) {
  if (n <= 1) return std::string(name);
  const auto dot = name.rfind('.');
  const bool has_ext = dot != std::string_view::npos && dot != 0;
  return std::string(name.substr(0, has_ext ? dot : name.size())) + " (" + std::to_string(n) + ")" +
         std::string(has_ext ? name.substr(dot) : std::string_view());
}

Outcome sanitize_file(std::string_view untrusted_file, const MessageContext& ctx, const Policy& policy) {
  const auto start = Clock::now();
  std::string what;
  try {
    return run(untrusted_file, ctx, policy, start);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  Outcome out;
  out.reason = "internal error: " + what;
  try {
    RebuiltHeaders headers;
    headers.subject = escape_for_display(ctx.file_name);
    out.verdict = Verdict::Quarantined;
    out.quarantine = quarantine_record(ctx, headers, out.reason);
    out.quarantine_id = ctx.quarantine_id;
  } catch (...) {
    out = Outcome{};
    out.reason = "internal error while holding the file back: " + what;
  }
  return out;
}

}  // namespace mugai::sanitize
