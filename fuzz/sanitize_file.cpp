// Fuzz target: an arbitrary file (and name) through sanitize_file(), what `mugaictl sanitize-file` and
// the watched folder run in their workers. Input: one byte n, then n bytes of file name, then the file.
// Oracle: a result is one of the file result types under a safe name ending in its extension, and
// holds only what that type may (fuzz/oracle.hpp's artefact checks; text: UTF-8 without controls but
// TAB and LF; a zip: each entry, read back by libarchive, passes the same checks under a safe name);
// every verdict but Failed keeps the original (a quarantine record under the caller's id), and
// nothing comes out of one that is not Sanitized.
#include <archive.h>
#include <archive_entry.h>

#include <clocale>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz/fontconfig_leak.hpp"
#include "fuzz/libarchive_alloc.hpp"
#include "fuzz/oracle.hpp"
#include "sanitizers/file.hpp"

namespace {

using mugai::fuzz::fail;
using Verdict = mugai::sanitize::Outcome::Verdict;

mugai::sanitize::Policy fuzz_policy() {
  mugai::sanitize::Policy policy;  // the default rules
  policy.limits.max_parts = 30;
  policy.archive.max_entries = 30;
  policy.render.max_pixels = 1 << 16;
  policy.render.dpi = 36;
  policy.render.max_pages = 2;
  return policy;
}

void check_text(std::string_view text) {
  if (!mugai::fuzz::valid_utf8(text)) fail("text result is not UTF-8", text);
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') fail("text result holds a control", text);
  }
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && mugai::fuzz::iequals(s.substr(s.size() - suffix.size()), suffix);
}

// One safe file as the recipient gets it: a name that says its type, contents of that type only.
void check_safe_file(std::string_view name, std::string_view bytes) {
  mugai::fuzz::check_filename(name);
  if (ends_with_ci(name, ".pdf")) return mugai::fuzz::check_pdf_artefact(bytes);
  if (ends_with_ci(name, ".png")) return mugai::fuzz::check_png_artefact(bytes);
  if (ends_with_ci(name, ".jpg")) return mugai::fuzz::check_jpeg_artefact(bytes);
  if (ends_with_ci(name, ".txt")) return check_text(bytes);
  fail("a safe file of no allowed type", name);
}

void check_zip(std::string_view zip) {
  // libarchive converts names through the locale: a UTF-8 one reads them as they were written.
  static const bool utf8_locale = std::setlocale(LC_CTYPE, "C.UTF-8") != nullptr;
  if (!utf8_locale) fail("no C.UTF-8 locale to read zip names with");
  const std::unique_ptr<struct archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_zip(a.get());
  if (archive_read_open_memory(a.get(), zip.data(), zip.size()) != ARCHIVE_OK) fail("zip result does not open", zip);
  archive_entry* e = nullptr;
  int r = ARCHIVE_OK;
  std::size_t entries = 0;
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    ++entries;
    const char* name = archive_entry_pathname_utf8(e);
    if (name == nullptr) fail("zip entry without a UTF-8 name", zip);
    std::string bytes;
    char buf[16384];
    la_ssize_t n = 0;
    while ((n = archive_read_data(a.get(), buf, sizeof buf)) > 0) bytes.append(buf, static_cast<std::size_t>(n));
    if (n < 0) fail("zip entry does not read", name);
    check_safe_file(name, bytes);
  }
  if (r != ARCHIVE_EOF) fail("zip result is damaged", archive_error_string(a.get()) ? archive_error_string(a.get()) : "");
  if (entries == 0) fail("an empty zip result", zip);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t name_size = in.empty() ? 0 : std::min<std::size_t>(static_cast<unsigned char>(in[0]), in.size() - 1);
  mugai::sanitize::MessageContext ctx;
  ctx.queue_id = "FUZZFILE1";
  ctx.received_unix = 1700000000;
  ctx.quarantine_id = "QFUZ-0002";
  ctx.pair_window_over = true;
  ctx.file = true;
  ctx.file_name = std::string(in.substr(in.empty() ? 0 : 1, name_size));
  const std::string_view file = in.substr(in.empty() ? 0 : 1 + name_size);
  static const mugai::sanitize::Policy policy = fuzz_policy();

  const mugai::sanitize::Outcome out = mugai::sanitize::sanitize_file(file, ctx, policy);
  if (out.quarantine && out.quarantine_id != ctx.quarantine_id) fail("quarantine asked for under another id", out.quarantine_id);
  switch (out.verdict) {
    case Verdict::Sanitized: {
      if (!out.quarantine) fail("a sanitized file does not keep its original", file);
      const mugai::sanitize::ArtefactType* type = mugai::sanitize::file_result_type(out.file_type);
      if (type == nullptr) fail("file result of a type not allowed", out.file_type);
      if (!ends_with_ci(out.file_name, type->extension)) fail("file result named unlike its type", out.file_name);
      if (out.file_type == "application/zip") {
        mugai::fuzz::check_filename(out.file_name);
        check_zip(out.message);
      } else {
        check_safe_file(out.file_name, out.message);
      }
      break;
    }
    case Verdict::Quarantined:
      if (!out.message.empty() || !out.file_name.empty()) fail("a removed file still gives bytes", out.message);
      if (!out.quarantine) fail("a removed file without a record to keep it with", file);
      break;
    case Verdict::Failed:
    case Verdict::AwaitingPassword:
      if (!out.message.empty() || out.quarantine) fail("a failed run gives bytes or keeps the file", file);
      break;
  }
  return 0;
}
