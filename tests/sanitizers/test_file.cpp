// sanitize_file() in process: what each kind of file becomes, the names its results get (never a
// script's, never twice in one zip), and that the original is always to be kept.
#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>

#include <clocale>
#include <map>
#include <string>

#include "sanitizers/file.hpp"
#include "tests/sanitizers/helpers.hpp"

namespace mugai::sanitize::test {
namespace {

using Verdict = Outcome::Verdict;

// A PE header: detected as an executable, which no rule converts.
std::string exe() {
  std::string b = std::string("MZ\x90\x00", 4) + std::string(0x3c - 4, '\0') + std::string("\x80\0\0\0", 4);
  b.resize(0x80, '\0');
  return b + std::string("PE\0\0", 4) + std::string(64, '\0');
}

Outcome run_file(std::string name, std::string_view bytes) {
  MessageContext ctx = test_context();
  ctx.file = true;
  ctx.file_name = std::move(name);
  return sanitize_file(bytes, ctx, Policy{});
}

std::string zip_of(const std::map<std::string, std::string>& files) {
  archive* a = archive_write_new();
  REQUIRE(archive_write_set_format_zip(a) == ARCHIVE_OK);
  std::string out(1 << 20, '\0');
  std::size_t used = 0;
  REQUIRE(archive_write_open_memory(a, out.data(), out.size(), &used) == ARCHIVE_OK);
  for (const auto& [name, data] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    REQUIRE(archive_write_data(a, data.data(), data.size()) == static_cast<la_ssize_t>(data.size()));
    archive_entry_free(e);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
  out.resize(used);
  return out;
}

// libarchive converts names through the locale: read under a UTF-8 one, then put the test's back.
std::map<std::string, std::string> entries_of(const std::string& zip) {
  const std::string before = std::setlocale(LC_CTYPE, nullptr);
  REQUIRE(std::setlocale(LC_CTYPE, "C.UTF-8") != nullptr);
  archive* a = archive_read_new();
  archive_read_support_format_zip(a);
  REQUIRE(archive_read_open_memory(a, zip.data(), zip.size()) == ARCHIVE_OK);
  std::map<std::string, std::string> out;
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string data(static_cast<std::size_t>(archive_entry_size(e)), '\0');
    archive_read_data(a, data.data(), data.size());
    out[archive_entry_pathname(e)] = data;
  }
  archive_read_free(a);
  std::setlocale(LC_CTYPE, before.c_str());
  return out;
}

TEST_CASE("a text file becomes UTF-8 text named .txt, whatever it was called") {
  const Outcome o = run_file("run.js", "WScript.Echo(1);\r\n");
  REQUIRE(o.verdict == Verdict::Sanitized);
  CHECK(o.file_type == "text/plain");
  CHECK(o.file_name == "run.js.txt");
  CHECK(o.message == "WScript.Echo(1);\n");
  REQUIRE(o.quarantine.has_value());  // the original is always kept
  CHECK(o.quarantine_id == test_context().quarantine_id);
  CHECK(run_file("メモ.txt", "a\n").file_name == "メモ.txt");
  CHECK(run_file("", "a\n").file_name == "attachment.txt");
  // A name from a Japanese Windows share comes as CP932 bytes: read as such, not shown as escapes.
  CHECK(run_file("\x8c\xa9\x90\xcf.txt", "a\n").file_name == "見積.txt");
  // Path separators, controls and device names never reach a result's name.
  CHECK(run_file("..\\CON.txt", "a\n").file_name == "_CON.txt");
  CHECK(run_file("CON.txt", "a\n").file_name == "_CON.txt");
  CHECK(run_file("a\x1b[31m.txt", "a\n").file_name.find('\x1b') == std::string::npos);
}

TEST_CASE("a file nothing makes safe is held whole, with its reason and nothing to write") {
  const Outcome o = run_file("setup.exe", exe());
  CHECK(o.verdict == Verdict::Quarantined);
  CHECK(o.message.empty());
  CHECK(o.file_name.empty());
  CHECK(o.reason.find("nothing could be made safe") != std::string::npos);
  REQUIRE(o.quarantine.has_value());
  CHECK(o.quarantine->parts.size() == 1);
  CHECK(o.quarantine->subject == "setup.exe");
}

TEST_CASE("an archive becomes a zip of its entries' safe results, one name each") {
  const std::string zip = zip_of({{"a/報告.txt", "一"}, {"b/報告.txt", "二"}, {"a_報告.txt", "三"}, {"x.exe", exe()}});
  const Outcome o = run_file("資料.tar.zip", zip);
  REQUIRE(o.verdict == Verdict::Sanitized);
  CHECK(o.file_type == "application/zip");
  CHECK(o.file_name == "資料.tar.zip");
  const auto got = entries_of(o.message);
  // Directories are joined with '_' (a_報告.txt twice), the third is numbered; the exe is not there.
  REQUIRE(got.size() == 3);
  CHECK(got.count("a_報告.txt") == 1);
  CHECK(got.count("a_報告 (2).txt") == 1);
  CHECK(got.count("b_報告.txt") == 1);
  REQUIRE(o.quarantine.has_value());
  // An archive of one entry is still a zip: the recipient sees what the archive held.
  CHECK(run_file("one.zip", zip_of({{"only.txt", "hello\n"}})).file_type == "application/zip");
  CHECK(run_file("none.zip", zip_of({{"x.exe", exe()}})).verdict == Verdict::Quarantined);
}

TEST_CASE("numbered names keep the extension") {
  CHECK(numbered_name("見積.pdf", 1) == "見積.pdf");
  CHECK(numbered_name("見積.pdf", 2) == "見積 (2).pdf");
  CHECK(numbered_name("README", 3) == "README (3)");
  CHECK(numbered_name(".profile", 2) == ".profile (2)");
  CHECK(file_result_type("application/zip") != nullptr);
  CHECK(file_result_type("text/html") == nullptr);
}

}  // namespace
}  // namespace mugai::sanitize::test
