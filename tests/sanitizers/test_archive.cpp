// Archives through the pipeline: zips and tars this test writes with libarchive's own writer (plain,
// nested, ZipCrypto- and AES-encrypted, bombs of each kind) go through sanitize_message, and the report,
// the quarantine record and the rebuilt body say what became of every entry; each [archive] limit is crossed.
#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.hpp"
#include "sanitizers/passwords.hpp"
#include "sanitizers/pipeline.hpp"
#include "tests/sanitizers/helpers.hpp"

namespace mugai::sanitize::test {
namespace {

using Verdict = Outcome::Verdict;

struct File {
  std::string name;
  std::string data;
};

// An archive of `files` in libarchive's `format` ("zip", "ustar"...) through `filter` ("none",
// "gzip"...), with writer `options` ("zip:encryption=zipcrypt") and `password`.
std::string write_archive(const std::vector<File>& files, const char* format, const char* filter = "none",
                          const char* options = nullptr, const char* password = nullptr) {
  archive* a = archive_write_new();
  REQUIRE(archive_write_set_format_by_name(a, format) == ARCHIVE_OK);
  REQUIRE((std::string_view(filter) == "none" ? archive_write_add_filter_none(a) : archive_write_add_filter_by_name(a, filter)) ==
          ARCHIVE_OK);
  if (options != nullptr) REQUIRE_MESSAGE(archive_write_set_options(a, options) == ARCHIVE_OK, archive_error_string(a));
  if (password != nullptr) REQUIRE(archive_write_set_passphrase(a, password) == ARCHIVE_OK);
  std::string out(64 * 1024 * 1024, '\0');
  std::size_t used = 0;
  REQUIRE(archive_write_open_memory(a, out.data(), out.size(), &used) == ARCHIVE_OK);
  for (const auto& f : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, f.name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(f.data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    REQUIRE(archive_write_data(a, f.data.data(), f.data.size()) == static_cast<la_ssize_t>(f.data.size()));
    archive_entry_free(e);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
  out.resize(used);
  return out;
}

std::string zip(const std::vector<File>& files) { return write_archive(files, "zip"); }

std::string mail_with(const std::string& archive, const std::string& name, const std::string& text = "資料を送ります。\r\n") {
  return "From: alice@sender.example\r\nTo: bob@city.example.lg.jp\r\nSubject: archive\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=UTF-8\r\n"
         "Content-Transfer-Encoding: 8bit\r\n\r\n" + text + "\r\n--b\r\nContent-Type: application/octet-stream; name=\"" + name +
         "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64_encode(archive) + "\r\n--b--\r\n";
}

struct Row {
  std::string path, decision, filename, detected_type, reason;
};

std::vector<Row> rows(const Outcome& out) {
  std::vector<Row> r;
  const auto report = json::parse(out.report_json);
  for (const auto& p : report["parts"]) {
    r.push_back({p.value("path", ""), p.value("decision", ""), p.value("filename", ""), p.value("detected_type", ""),
                 p.value("reason", "")});
  }
  return r;
}

const Row& row(const std::vector<Row>& all, const std::string& path) {
  const auto it = std::find_if(all.begin(), all.end(), [&](const Row& r) { return r.path == path; });
  REQUIRE_MESSAGE(it != all.end(), "no report row " << path);
  return *it;
}

Outcome run(const std::string& message, const Policy& policy = Policy{}, MessageContext ctx = test_context()) {
  return sanitize_message(message, ctx, policy);
}

const std::string kElf = std::string("\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", 16) + std::string(200, '\0');

TEST_CASE("a zip's entries each go through the policy: text into the body, executables removed, all listed") {
  const std::string z = zip({{"書類/説明.txt", "本文です。髙橋①～\n"}, {"tool.exe", kElf}, {"data.csv", "a,b\n1,2\n"}});
  const Outcome out = run(mail_with(z, "shiryou.zip"));
  REQUIRE(out.verdict == Verdict::Sanitized);
  const auto r = rows(out);
  CHECK(row(r, "1.2").decision == "unpacked");
  CHECK(row(r, "1.2").reason == "unpacked (zip): 3 entries: 2 kept as text, 0 rendered, 1 removed");
  CHECK(row(r, "1.2:1").decision == "kept");
  CHECK(row(r, "1.2:1").filename == "shiryou.zip/書類/説明.txt");
  CHECK(row(r, "1.2:2").decision == "removed");
  CHECK(row(r, "1.2:2").detected_type == "application/x-executable");
  CHECK(row(r, "1.2:3").decision == "kept");  // a CSV is text
  const Rebuilt b = check_rebuilt(out.message);
  CHECK(b.body.find("■ 添付ファイル「shiryou.zip/書類/説明.txt」のテキスト化") != std::string::npos);
  CHECK(b.body.find("本文です。髙橋①～") != std::string::npos);
  CHECK(b.body.find("1,2") != std::string::npos);
  // The archive and every entry are in the quarantine record: only the quarantine has the originals.
  REQUIRE(out.quarantine);
  CHECK(out.quarantine->parts.size() == 4);
}

TEST_CASE("a tar.gz and a zip inside a zip are unpacked; the nesting is listed") {
  const std::string tgz = write_archive({{"a.txt", "alpha\n"}}, "ustar", "gzip");
  const std::string inner = zip({{"b.txt", "bravo\n"}});
  const Outcome out = run(mail_with(zip({{"in/inner.zip", inner}, {"x.tgz", tgz}}), "outer.zip"));
  REQUIRE(out.verdict == Verdict::Sanitized);
  const auto r = rows(out);
  CHECK(row(r, "1.2").reason == "unpacked (zip): 2 entries: 0 kept as text, 0 rendered, 2 archive(s) unpacked, 0 removed");
  CHECK(row(r, "1.2:1").decision == "unpacked");
  CHECK(row(r, "1.2:1:1").filename == "outer.zip/in/inner.zip/b.txt");
  CHECK(row(r, "1.2:2").reason == "unpacked (gzip): 1 entry: 1 kept as text, 0 rendered, 0 removed");
  const Rebuilt b = check_rebuilt(out.message);
  CHECK(b.body.find("bravo") != std::string::npos);
  CHECK(b.body.find("alpha") != std::string::npos);
}

// Each limit crossed removes the whole attached archive (nothing of it is delivered) and names its key;
// the message itself is delivered.
void check_removed_whole(const Outcome& out, const std::string& key, const std::string& absent) {
  REQUIRE(out.verdict == Verdict::Sanitized);
  const auto r = rows(out);
  CHECK(row(r, "1.2").decision == "removed");
  CHECK_MESSAGE(row(r, "1.2").reason.find(key) != std::string::npos, row(r, "1.2").reason);
  CHECK(std::none_of(r.begin(), r.end(), [](const Row& x) { return x.path.starts_with("1.2:"); }));
  const Rebuilt b = check_rebuilt(out.message);
  CHECK(b.body.find("資料を送ります。") != std::string::npos);
  CHECK(b.body.find(absent) == std::string::npos);
}

TEST_CASE("archive.max_entries, max_total_size, max_ratio and max_depth: crossing one removes the archive whole") {
  std::vector<File> many;
  for (int i = 0; i < 6; ++i) many.push_back({"f" + std::to_string(i) + ".txt", "entry text " + std::to_string(i) + "\n"});
  Policy p;
  SUBCASE("entries") {
    p.archive.max_entries = 6;
    CHECK(run(mail_with(zip(many), "six.zip"), p).verdict == Verdict::Sanitized);
    p.archive.max_entries = 5;
    check_removed_whole(run(mail_with(zip(many), "six.zip"), p), "archive.max_entries", "entry text");
  }
  SUBCASE("total size, counted across nesting") {
    const std::string text(600 * 1024, 'x');
    const std::string z = zip({{"one.txt", text + "one"}, {"inner.zip", zip({{"two.txt", text + "two"}})}});
    p.archive.max_ratio = 100'000;
    p.archive.max_total_size = 4 * 1024 * 1024;
    CHECK(run(mail_with(z, "big.zip"), p).verdict == Verdict::Sanitized);
    p.archive.max_total_size = 1024 * 1024;
    check_removed_whole(run(mail_with(z, "big.zip"), p), "archive.max_total_size", "xxxxxxxx");
  }
  SUBCASE("ratio, judged once an entry gives more than a MiB") {
    const std::string zeros = zip({{"zeros.txt", std::string(8 * 1024 * 1024, '0')}});  // about 1000:1
    check_removed_whole(run(mail_with(zeros, "bomb.zip"), p), "archive.max_ratio", "00000000");
    p.archive.max_ratio = 5000;
    const Outcome ok = run(mail_with(zeros, "bomb.zip"), p);
    CHECK(row(rows(ok), "1.2").decision == "unpacked");
  }
  SUBCASE("depth") {
    std::string nested = zip({{"deep.txt", "the deepest text\n"}});
    for (int i = 0; i < 2; ++i) nested = zip({{"level.zip", nested}});  // three levels
    p.archive.max_depth = 3;
    CHECK(check_rebuilt(run(mail_with(nested, "nest.zip"), p).message).body.find("the deepest text") != std::string::npos);
    p.archive.max_depth = 2;
    check_removed_whole(run(mail_with(nested, "nest.zip"), p), "archive.max_depth", "the deepest text");
  }
}

TEST_CASE("an entry larger than sanitize.max_decoded_part is removed alone") {
  Policy p;
  p.limits.max_decoded_part = 64 * 1024;
  const Outcome out = run(mail_with(zip({{"big.txt", std::string(100 * 1024, 'b')}, {"small.txt", "small\n"}}), "a.zip"), p);
  REQUIRE(out.verdict == Verdict::Sanitized);
  const auto r = rows(out);
  CHECK(row(r, "1.2:1").decision == "removed");
  CHECK(row(r, "1.2:1").reason.find("sanitize.max_decoded_part") != std::string::npos);
  CHECK(row(r, "1.2:2").decision == "kept");
}

TEST_CASE("hostile entry names are shown escaped and never become a path in a file name") {
  const std::string z = zip({{"../../etc/passwd", "root\n"}, {"/abs/x.txt", "abs\n"}, {"a\u202Etxt.exe", kElf}});
  const Outcome out = run(mail_with(z, "evil.zip"));
  REQUIRE(out.verdict == Verdict::Sanitized);
  const auto r = rows(out);
  // libarchive's own reader already refuses nothing here: the names are only labels, escaped.
  CHECK(row(r, "1.2:3").filename == "evil.zip/a\\u202Etxt.exe");
  CHECK(row(r, "1.2:3").decision == "removed");
}

TEST_CASE("a damaged archive is removed whole, with libarchive's reason") {
  std::string z = zip({{"a.txt", "alpha alpha alpha\n"}, {"b.txt", "bravo\n"}});
  z.resize(z.size() - 30);  // the central directory's end is gone
  const Outcome out = run(mail_with(z, "cut.zip"));
  REQUIRE(out.verdict == Verdict::Sanitized);
  CHECK(row(rows(out), "1.2").decision == "removed");
  CHECK(row(rows(out), "1.2").reason.find("removed whole") != std::string::npos);
}

std::string encrypted_zip(const char* method) {
  const std::string options = std::string("zip:encryption=") + method;
  return write_archive({{"secret.txt", "極秘の本文 secret body\n"}}, "zip", "none", options.c_str(), "Ab3$xYz9");
}

TEST_CASE("a password-protected zip: waits for its password mail, opens with the right one, else is removed") {
  for (const char* method : {"zipcrypt", "aes256"}) {
    CAPTURE(method);
    const std::string message = mail_with(encrypted_zip(method), "ppap.zip");
    MessageContext ctx = test_context();
    SUBCASE("pair, window open, no password: nothing is delivered or stored yet") {
      const Outcome out = run(message, Policy{}, ctx);
      CHECK(out.verdict == Verdict::AwaitingPassword);
      CHECK(out.message.empty());
      CHECK(!out.quarantine);
      CHECK(out.reason.find("awaits its password mail") != std::string::npos);
    }
    SUBCASE("wrong passwords: still waiting") {
      ctx.archive_passwords = {"wrong", "Ab3$xYz"};
      CHECK(run(message, Policy{}, ctx).verdict == Verdict::AwaitingPassword);
    }
    SUBCASE("the right password among others: opened, the notice cites the password mail") {
      ctx.archive_passwords = {"wrong", "Ab3$xYz9"};
      ctx.password_source = "the mail Q2 from alice@sender.example";
      const Outcome out = run(message, Policy{}, ctx);
      REQUIRE(out.verdict == Verdict::Sanitized);
      CHECK(out.archive_unlocked);
      const Row entry = row(rows(out), "1.2:1");
      CHECK(entry.decision == "kept");
      CHECK(entry.reason.find("decrypted with the password from the mail Q2 from alice@sender.example") != std::string::npos);
      CHECK(check_rebuilt(out.message).body.find("極秘の本文") != std::string::npos);
    }
    SUBCASE("window over: removed, the reason says how to have it unlocked") {
      ctx.pair_window_over = true;
      const Outcome out = run(message, Policy{}, ctx);
      REQUIRE(out.verdict == Verdict::Sanitized);
      CHECK(!out.archive_unlocked);
      const Row entry = row(rows(out), "1.2:1");
      CHECK(entry.decision == "removed");
      CHECK(entry.reason.find("mugaictl quarantine unlock") != std::string::npos);
      CHECK(check_rebuilt(out.message).body.find("極秘の本文") == std::string::npos);
    }
    SUBCASE("quarantine: removed at once; reject: removed and the sender is to be told") {
      Policy p;
      p.archive.encrypted = ArchivePolicy::Encrypted::Quarantine;
      const Outcome q = run(message, p, ctx);
      REQUIRE(q.verdict == Verdict::Sanitized);
      CHECK(!q.encrypted_refused);
      CHECK(row(rows(q), "1.2:1").reason.find("password-protected") != std::string::npos);
      p.archive.encrypted = ArchivePolicy::Encrypted::Reject;
      const Outcome r = run(message, p, ctx);
      REQUIRE(r.verdict == Verdict::Sanitized);
      CHECK(r.encrypted_refused);
      CHECK(row(rows(r), "1.2:1").reason.find("not accepted") != std::string::npos);
    }
  }
}

TEST_CASE("password candidates: the phrasings of Japanese and English password mails") {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"先ほどのファイルのパスワードは以下の通りです。\n\nAb3$xYz9\n\nよろしくお願いします。", {"Ab3$xYz9"}},
      {"パスワード：K7#mQ2", {"K7#mQ2"}},
      {"解凍パスワードは「s3cr3t」です。", {"s3cr3t"}},
      {"【パスワード】\n  hoge1234  \n", {"hoge1234"}},
      {"PW: abc.def.", {"abc.def.", "abc.def"}},
      {"解凍キー＝ＡＢＣ１２３", {"ABC123"}},  // full-width, as some mailers type it
      {"Password: Tr0ub4dor&3", {"Tr0ub4dor&3"}},
      {"pass=qwerty", {"qwerty"}},
      {"暗号化解除 :  zz-99", {"zz-99"}},
      {"パスポートを持参してください。bypass road", {}},  // neither パスポート nor "bypass" is a phrase
      {"パスワードは別途お送りします。", {}},             // nothing printable-ASCII after it, nothing below
  };
  for (const auto& c : cases) {
    CAPTURE(c.first);  // clang 14 cannot capture a structured binding
    CHECK(password_candidates({c.first}) == c.second);
  }
  std::string many;
  for (int i = 0; i < 40; ++i) many += "PW: p" + std::to_string(i) + "\n";
  CHECK(password_candidates({many}).size() == kMaxPasswords);
  CHECK(password_candidates({"PW: " + std::string(kMaxPasswordSize + 1, 'a')}).empty());
  // Only the first 64 KiB of a text are read: a password mail is short, a 60 MB body costs nothing.
  CHECK(password_candidates({std::string(64 * 1024 - 12, 'x') + "\nPW: early\n"}) == std::vector<std::string>{"early"});
  CHECK(password_candidates({std::string(64 * 1024, 'x') + "\nPW: late\n"}).empty());
}

TEST_CASE("a message's own password phrases come back as candidates, whatever the verdict") {
  const Outcome out = run(mail_with(zip({{"a.txt", "a\n"}}), "a.zip", "パスワード: Ab3$xYz9\r\n"));
  CHECK(out.password_candidates == std::vector<std::string>{"Ab3$xYz9"});
  const Outcome waiting = run(mail_with(encrypted_zip("zipcrypt"), "ppap.zip", "PW: zzz\r\n"));
  CHECK(waiting.verdict == Verdict::AwaitingPassword);
  CHECK(waiting.password_candidates == std::vector<std::string>{"zzz"});
}

}  // namespace
}  // namespace mugai::sanitize::test
