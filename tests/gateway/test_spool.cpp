// Tests of the durable spool (round trips, crash leftovers, torn files, ids) and of the logger's
// one-event-one-line escaping in both formats.
#include <doctest/doctest.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "common/hex.hpp"
#include "gateway/log.hpp"
#include "gateway/spool.hpp"
#include "tests/temp_dir.hpp"

using namespace mugai::gateway;
namespace fs = std::filesystem;
using namespace std::string_literals;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

mugai::proto::Envelope envelope() {
  mugai::proto::Envelope env;
  env.client_ip = "192.0.2.7";
  env.helo = "mx.example.net";
  env.mail_from = "alice@example.net";
  env.rcpt_to = {"bob@city.example.lg.jp", "carol@city.example.lg.jp"};
  return env;
}

// Holds what a spool file must survive: NUL, bare LF, a fake end record and a fake header.
const std::string kMessage = std::string("Subject: t\r\n\r\nbody\0x\nEND 5\n\nsize 3\n", 35);

}  // namespace

TEST_CASE("spool: accept then load returns the envelope and the exact message bytes") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto id = spool.accept(envelope(), kMessage, 1700000000);
  REQUIRE(id);
  CHECK(valid_spool_id(*id));
  CHECK(fs::exists(tmp.path() + "/queue/" + *id + ".raw"));
  CHECK(fs::is_empty(tmp.path() + "/tmp"));

  auto e = spool.load(*id);
  REQUIRE(e);
  CHECK(e->id == *id);
  CHECK(e->stage == Stage::Raw);
  CHECK(e->route == Route::NextHop);
  CHECK(e->arrival_unix == 1700000000);
  CHECK(e->client_ip == "192.0.2.7");
  CHECK(e->helo == "mx.example.net");
  CHECK(e->mail_from == "alice@example.net");
  CHECK(e->rcpt_to == envelope().rcpt_to);
  CHECK(e->message == kMessage);
}

TEST_CASE("spool: a message streamed in pieces loads exactly as one written whole") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  const std::string big = kMessage + std::string(300 * 1024, 'b') + "\r\n" + kMessage;
  auto whole_id = spool.accept(envelope(), big, 1700000000);
  REQUIRE(whole_id);
  auto w = spool.begin(envelope(), 1700000000);
  REQUIRE(w);
  CHECK(fs::exists(tmp.path() + "/tmp/" + w->id() + ".raw"));
  CHECK_FALSE(fs::exists(tmp.path() + "/queue/" + w->id() + ".raw"));  // nothing queued before commit
  // Pieces that split the fake end record, a CRLF and the header/body boundary.
  for (std::size_t at = 0, step = 1; at < big.size(); at += step, step = step * 3 + 1)
    REQUIRE(w->append(std::string_view(big).substr(at, step)));
  CHECK(w->size() == big.size());
  REQUIRE(w->commit());
  CHECK(fs::is_empty(tmp.path() + "/tmp"));
  auto streamed = spool.load(w->id());
  auto whole = spool.load(*whole_id);
  REQUIRE(streamed);
  REQUIRE(whole);
  CHECK(streamed->message == big);
  CHECK(streamed->message == whole->message);
  CHECK(streamed->rcpt_to == whole->rcpt_to);
  CHECK(streamed->arrival_unix == whole->arrival_unix);
  CHECK(streamed->stage == Stage::Raw);
  // Same bytes on disk apart from the id (and so the tag).
  CHECK(slurp(tmp.path() + "/queue/" + w->id() + ".raw").size() ==
        slurp(tmp.path() + "/queue/" + *whole_id + ".raw").size());
  CHECK_FALSE(w->append("late"s));  // the writer is finished
}

TEST_CASE("spool: an aborted or abandoned stream leaves nothing in tmp/ or queue/") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  {
    auto w = spool.begin(envelope(), 1);
    REQUIRE(w);
    REQUIRE(w->append(kMessage));
    w->abort();
    CHECK_FALSE(w->commit());
  }
  {
    auto w = spool.begin(envelope(), 1);
    REQUIRE(w);
    REQUIRE(w->append(kMessage));
    CHECK_FALSE(fs::is_empty(tmp.path() + "/tmp"));
  }  // destroyed uncommitted: the client went away mid-DATA
  CHECK(fs::is_empty(tmp.path() + "/tmp"));
  CHECK(fs::is_empty(tmp.path() + "/queue"));
  std::vector<std::string> problems;
  CHECK(spool.recover(problems).empty());
  CHECK(problems.empty());
}

TEST_CASE("spool: a streamed entry fails authentication with any one byte changed") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), false, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto w = spool.begin(envelope(), 1);
  REQUIRE(w);
  REQUIRE(w->append(kMessage.substr(0, 10)));
  REQUIRE(w->append(kMessage.substr(10)));
  REQUIRE(w->commit());
  const auto path = tmp.path() + "/queue/" + w->id() + ".raw";
  const std::string good = slurp(path);
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    spit(path, bad);
    CAPTURE(i);
    CHECK_FALSE(spool.load(w->id()));
    fs::remove_all(tmp.path() + "/corrupt");
    fs::create_directory(tmp.path() + "/corrupt");
  }
  spit(path, good);
  CHECK(spool.load(w->id()));
}

TEST_CASE("spool: files of format 2 (size in the header) written before the upgrade still load") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), false, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto id = spool.accept(envelope(), kMessage, 1);
  REQUIRE(id);
  const auto path = tmp.path() + "/queue/" + *id + ".raw";
  const std::string v3 = slurp(path);
  // The old writer's layout: magic 2 and "size <n>" as the header's last line, same tag definition.
  std::string header = v3.substr(0, v3.find("\n\n") + 1);
  REQUIRE(header.starts_with("MUGAI-SPOOL 3\n"));
  header.replace(12, 1, "2");
  header += "size " + std::to_string(kMessage.size()) + "\n\n";
  const std::string key = slurp(tmp.path() + "/spool.key");
  const std::string tag = mugai::hex::hmac_sha256(key, ".raw\n" + header + kMessage);
  spit(path, header + kMessage + "\nEND " + std::to_string(kMessage.size()) + " " + tag + "\n");
  auto e = spool.load(*id);
  REQUIRE(e);
  CHECK(e->message == kMessage);
  CHECK(e->rcpt_to == envelope().rcpt_to);
  std::vector<std::string> problems;
  CHECK(spool.recover(problems) == std::vector<std::string>{*id});
  CHECK(problems.empty());
}

TEST_CASE("spool: store_clean adds the clean form, keeping id, envelope and the raw fallback") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto id = spool.accept(envelope(), kMessage, 42);
  REQUIRE(id);
  auto raw = spool.load(*id);
  REQUIRE(raw);
  REQUIRE(spool.store_clean(*raw, "Subject: clean\r\n\r\nok\r\n"));
  CHECK(fs::exists(tmp.path() + "/queue/" + *id + ".raw"));  // until remove(): a fallback

  auto clean = spool.load(*id);
  REQUIRE(clean);
  CHECK(clean->stage == Stage::Clean);
  CHECK(clean->message == "Subject: clean\r\n\r\nok\r\n");
  CHECK(clean->arrival_unix == 42);
  CHECK(clean->rcpt_to == raw->rcpt_to);
}

TEST_CASE("spool: add() writes a clean bounce entry with a null sender") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  SpoolEntry dsn;
  dsn.route = Route::Bounce;
  dsn.arrival_unix = 7;
  dsn.rcpt_to = {"alice@example.net"};
  dsn.message = "Subject: bounce\r\n\r\n";
  auto id = spool.add(dsn);
  REQUIRE(id);
  auto e = spool.load(*id);
  REQUIRE(e);
  CHECK(e->stage == Stage::Clean);
  CHECK(e->route == Route::Bounce);
  CHECK(e->mail_from.empty());
  CHECK(e->message == dsn.message);
}

TEST_CASE("spool: add() keeps an id chosen beforehand and never replaces an entry") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  SpoolEntry release;
  release.id = mugai::gateway::new_spool_id();
  release.arrival_unix = 7;
  release.mail_from = "sender@example.org";
  release.rcpt_to = {"user@city.example.lg.jp"};
  release.message = "X-Mugai-Released-By: alice\r\n\r\noriginal\r\n";
  auto id = spool.add(release);
  REQUIRE(id);
  CHECK(*id == release.id);
  CHECK(spool.list() == std::vector<std::string>{release.id});
  release.message = "another\r\n";
  CHECK_FALSE(spool.add(release));
  auto e = spool.load(release.id);
  REQUIRE(e);
  CHECK(e->route == Route::NextHop);
  CHECK(e->message == "X-Mugai-Released-By: alice\r\n\r\noriginal\r\n");
}

TEST_CASE("spool: envelope values with CR, LF or NUL are refused and nothing is queued") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  for (const std::string& bad : {"x\r\nrcpt evil@x"s, "x\nsize 0"s, "x\0y"s}) {
    auto env = envelope();
    env.helo = bad;
    CHECK_FALSE(spool.accept(env, "m", 0));
    env = envelope();
    env.rcpt_to.push_back(bad);
    CHECK_FALSE(spool.accept(env, "m", 0));
  }
  CHECK(fs::is_empty(tmp.path() + "/queue"));
  CHECK(fs::is_empty(tmp.path() + "/tmp"));
}

TEST_CASE("spool: a file cut at any length is never loaded and recover() moves it to corrupt/") {
  std::string id, full;
  {
    mugai::test::TempDir tmp;
    Spool spool(tmp.path(), false, tmp.path() + "/spool.key");
    REQUIRE(spool.open());
    auto got = spool.accept(envelope(), kMessage, 1);
    REQUIRE(got);
    id = *got;
    full = slurp(tmp.path() + "/queue/" + id + ".raw");
  }
  REQUIRE(full.size() > kMessage.size());
  for (std::size_t len = 0; len < full.size(); ++len) {
    CAPTURE(len);
    mugai::test::TempDir tmp;
    Spool spool(tmp.path(), false, tmp.path() + "/spool.key");
    REQUIRE(spool.open());
    spit(tmp.path() + "/queue/" + id + ".raw", full.substr(0, len));
    std::vector<std::string> problems;
    CHECK(spool.recover(problems).empty());
    CHECK(problems.size() == 1);
    CHECK_FALSE(fs::exists(tmp.path() + "/queue/" + id + ".raw"));
    CHECK(slurp(tmp.path() + "/corrupt/" + id + ".raw") == full.substr(0, len));
    spit(tmp.path() + "/queue/" + id + ".raw", full.substr(0, len));  // load() alone moves it aside too
    CHECK_FALSE(spool.load(id));
    CHECK(slurp(tmp.path() + "/corrupt/" + id + ".raw.1") == full.substr(0, len));
  }
}

TEST_CASE("spool: a damaged end record or size is detected") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), false, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto id = spool.accept(envelope(), kMessage, 1);
  REQUIRE(id);
  auto path = tmp.path() + "/queue/" + *id + ".raw";
  auto full = slurp(path);

  const auto end = full.rfind("\nEND ");
  const std::string size = std::to_string(kMessage.size());
  REQUIRE(full.compare(end + 5, size.size(), size) == 0);
  spit(path, full.substr(0, end + 5) + std::to_string(kMessage.size() + 1) + full.substr(end + 5 + size.size()));
  CHECK_FALSE(spool.load(*id));  // END <n> disagrees with size
  std::string flipped = full;
  flipped[flipped.size() - 2] = flipped[flipped.size() - 2] == '0' ? '1' : '0';
  spit(path, flipped);
  CHECK_FALSE(spool.load(*id));  // one hex digit of the tag
  spit(path, full + "x");  // trailing garbage
  CHECK_FALSE(spool.load(*id));
  spit(path, full);
  CHECK(spool.load(*id));
}

TEST_CASE("spool: recover() keeps .clean and .raw, skips tmp leftovers and sorts by age") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto first = spool.accept(envelope(), kMessage, 1);
  auto second = spool.accept(envelope(), kMessage, 2);
  REQUIRE(first);
  REQUIRE(second);
  auto raw_path = tmp.path() + "/queue/" + *first + ".raw";
  auto raw = spool.load(*first);
  REQUIRE(raw);
  REQUIRE(spool.store_clean(*raw, "clean\r\n"));
  spit(tmp.path() + "/tmp/" + *second + ".raw", "partial");
  CHECK(spool.list() == std::vector<std::string>{*first, *second});  // read-only: changes nothing

  std::vector<std::string> problems;
  auto ids = spool.recover(problems);
  CHECK(problems.empty());
  CHECK(ids == std::vector<std::string>{*first, *second});
  CHECK(fs::exists(raw_path));
  CHECK(fs::is_empty(tmp.path() + "/tmp"));
  auto e = spool.load(*first);
  REQUIRE(e);
  CHECK(e->stage == Stage::Clean);
  CHECK(e->message == "clean\r\n");
  REQUIRE(spool.remove(*first));
  CHECK_FALSE(fs::exists(raw_path));
}

TEST_CASE("spool: a corrupt .clean falls back to its .raw; stray files go to corrupt/") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto id = spool.accept(envelope(), kMessage, 1);
  REQUIRE(id);
  spit(tmp.path() + "/queue/" + *id + ".clean", "MUGAI-SPOOL 2\nid ");
  spit(tmp.path() + "/queue/notes.txt", "hello");

  std::vector<std::string> problems;
  CHECK(spool.recover(problems) == std::vector<std::string>{*id});
  CHECK(problems.size() == 2);
  CHECK(fs::exists(tmp.path() + "/corrupt/" + *id + ".clean"));
  CHECK(fs::exists(tmp.path() + "/corrupt/notes.txt"));
  auto e = spool.load(*id);
  REQUIRE(e);
  CHECK(e->stage == Stage::Raw);
}

TEST_CASE("spool: a file the gateway did not write is never loaded as it is") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto id = spool.accept(envelope(), kMessage, 1);
  REQUIRE(id);
  const auto queue = tmp.path() + "/queue/" + *id;
  const std::string raw_bytes = slurp(queue + ".raw");

  // A raw file renamed to .clean (delivery without sanitizing) fails: the tag binds the stage.
  spit(queue + ".clean", raw_bytes);
  auto e = spool.load(*id);
  REQUIRE(e);
  CHECK(e->stage == Stage::Raw);
  CHECK(slurp(tmp.path() + "/corrupt/" + *id + ".clean") == raw_bytes);

  // A clean file written with another key, and one whose message was edited in place.
  {
    mugai::test::TempDir other;
    Spool attacker(other.path(), true, other.path() + "/spool.key");
    REQUIRE(attacker.open());
    REQUIRE(attacker.store_clean(*e, "Subject: planted\r\n\r\nMZ\r\n"));
    spit(queue + ".clean", slurp(other.path() + "/queue/" + *id + ".clean"));
  }
  e = spool.load(*id);
  REQUIRE(e);
  CHECK(e->stage == Stage::Raw);
  REQUIRE(spool.store_clean(*e, "Subject: ok\r\n\r\nfine\r\n"));
  std::string clean = slurp(queue + ".clean");
  clean.replace(clean.find("fine"), 4, "evil");
  spit(queue + ".clean", clean);
  e = spool.load(*id);
  REQUIRE(e);
  CHECK(e->stage == Stage::Raw);
  CHECK(e->message == kMessage);
  CHECK(fs::exists(tmp.path() + "/corrupt/" + *id + ".clean.2"));

  // With no raw original left, nothing authentic remains: an error, nothing delivered.
  spit(queue + ".clean", clean);
  fs::remove(queue + ".raw");
  auto gone = spool.load(*id);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().message.find("authentication failed") != std::string::npos);
}

TEST_CASE("spool: open() refuses directories and keys other users could change") {
  mugai::test::TempDir tmp;
  {
    Spool spool(tmp.path() + "/s", true, tmp.path() + "/s/spool.key");
    REQUIRE(spool.open());
  }
  fs::permissions(tmp.path() + "/s/queue", fs::perms::others_write, fs::perm_options::add);
  {
    Spool spool(tmp.path() + "/s", true, tmp.path() + "/s/spool.key");
    auto st = spool.open();
    REQUIRE_FALSE(st);
    CHECK(st.error().message.find(tmp.path() + "/s/queue") != std::string::npos);
    CHECK(st.error().message.find("chmod go-w") != std::string::npos);
  }
  fs::permissions(tmp.path() + "/s/queue", fs::perms::others_write, fs::perm_options::remove);
  fs::permissions(tmp.path() + "/s/spool.key", fs::perms::group_read, fs::perm_options::add);
  {
    Spool spool(tmp.path() + "/s", true, tmp.path() + "/s/spool.key");
    auto st = spool.open();
    REQUIRE_FALSE(st);
    CHECK(st.error().message.find("spool key file") != std::string::npos);
    CHECK(st.error().message.find("chmod 600") != std::string::npos);
  }
}

TEST_CASE("spool: per-recipient progress ignores a torn last line and goes with remove()") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto id = spool.accept(envelope(), kMessage, 1);
  REQUIRE(id);
  CHECK(spool.done(*id).empty());
  REQUIRE(spool.mark_done(*id, "bob@city.example.lg.jp"));
  REQUIRE(spool.mark_done(*id, "carol@city.example.lg.jp"));
  CHECK_FALSE(spool.mark_done(*id, "x\ny"));
  {
    std::ofstream out(tmp.path() + "/queue/" + *id + ".done", std::ios::binary | std::ios::app);
    out << "rcpt dave@city.exam";  // a crash in the middle of an append
  }
  CHECK(spool.done(*id) ==
        std::set<std::string>{"bob@city.example.lg.jp", "carol@city.example.lg.jp"});

  REQUIRE(spool.remove(*id));
  CHECK(fs::is_empty(tmp.path() + "/queue"));
  CHECK_FALSE(spool.load(*id));
}

TEST_CASE("spool: recover() drops the progress file of an entry remove() already unlinked") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto id = spool.accept(envelope(), kMessage, 1);
  REQUIRE(id);
  REQUIRE(spool.mark_done(*id, "bob@city.example.lg.jp"));
  fs::remove(tmp.path() + "/queue/" + *id + ".raw");
  std::vector<std::string> problems;
  CHECK(spool.recover(problems).empty());
  CHECK(problems.empty());
  CHECK(fs::is_empty(tmp.path() + "/queue"));
}

TEST_CASE("spool: operator holds are durable, go with remove(), and recover() drops a hold without an entry") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  auto kept = spool.accept(envelope(), kMessage, 1);
  auto gone = spool.accept(envelope(), kMessage, 2);
  REQUIRE(kept);
  REQUIRE(gone);
  REQUIRE(spool.hold(*kept, "確認中"));
  REQUIRE(spool.hold(*gone, "x"));
  REQUIRE(spool.hold(*gone, "replaced"));  // a second hold replaces the reason
  CHECK(spool.holds() == std::map<std::string, std::string>{{*kept, "確認中"}, {*gone, "replaced"}});
  CHECK_FALSE(spool.hold("../../etc/passwd", "x"));
  std::size_t size = 0;
  auto peeked = spool.peek(*kept, size);
  REQUIRE(peeked);
  CHECK(size == kMessage.size());
  CHECK(peeked->rcpt_to == envelope().rcpt_to);
  CHECK(peeked->message.empty());

  // As if remove() had crashed between the entry and its hold.
  fs::remove(tmp.path() + "/queue/" + *gone + ".raw");
  std::vector<std::string> problems;
  CHECK(spool.recover(problems) == std::vector<std::string>{*kept});
  CHECK(spool.holds() == std::map<std::string, std::string>{{*kept, "確認中"}});
  REQUIRE(spool.unhold(*kept));
  REQUIRE(spool.unhold(*kept));  // idempotent
  CHECK(spool.holds().empty());
  REQUIRE(spool.hold(*kept, "again"));
  REQUIRE(spool.remove(*kept));
  CHECK(spool.holds().empty());
  CHECK(fs::is_empty(tmp.path() + "/hold"));
}

TEST_CASE("spool: ids that are not ours never reach the file system") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path(), true, tmp.path() + "/spool.key");
  REQUIRE(spool.open());
  for (std::string bad : {"../../etc/passwd", "", "0123456789ABCDEU", "0123456789abcdef"}) {
    CHECK_FALSE(spool.load(bad));
    CHECK_FALSE(spool.remove(bad));
    CHECK_FALSE(spool.mark_done(bad, "a@b"));
  }
}

TEST_CASE("spool: ids are unique, strictly increasing and filename-safe over 100k calls") {
  std::string prev = new_spool_id();
  bool ok = true;
  for (int i = 0; i < 100000 && ok; ++i) {
    auto id = new_spool_id();
    ok = valid_spool_id(id) && id > prev;
    prev = std::move(id);
  }
  CHECK(ok);
}

TEST_CASE("spool: an id tells when it was made (the queue's oldest age is read from it)") {
  const auto before = static_cast<std::int64_t>(std::time(nullptr));
  const auto made = mugai::gateway::spool_id_unix(new_spool_id());
  CHECK(made >= before);
  CHECK(made <= static_cast<std::int64_t>(std::time(nullptr)));
  CHECK(mugai::gateway::spool_id_unix("not-an-id") == 0);
}

TEST_CASE("spool: fsync=false still writes complete entries; missing parents are created") {
  mugai::test::TempDir tmp;
  Spool spool(tmp.path() + "/var/spool", false, tmp.path() + "/var/spool.key");
  REQUIRE(spool.open());
  auto id = spool.accept(envelope(), kMessage, 1);
  REQUIRE(id);
  auto e = spool.load(*id);
  REQUIRE(e);
  CHECK(e->message == kMessage);
  std::vector<std::string> problems;
  CHECK(spool.recover(problems) == std::vector<std::string>{*id});
}

TEST_CASE("log: text format quotes and escapes so one event is one line") {
  mugai::test::TempDir tmp;
  auto path = tmp.path() + "/log";
  REQUIRE(mugai::log::init(mugai::log::Format::Text, mugai::log::Target::File, path, "mail"));
  mugai::log::event("accept", {{"id", "ABC"},
                               {"from", "a b\"c\\d"},
                               {"helo", "x\r\nfake 2026 event"},
                               {"empty", ""},
                               {"ctl", std::string_view("\x01\x7f", 2)}});
  REQUIRE(mugai::log::init(mugai::log::Format::Text, mugai::log::Target::Stderr, "", "mail"));
  auto text = slurp(path);
  REQUIRE(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK(text.size() > 25);
  CHECK(text[4] == '-');
  CHECK(text.substr(19, 1) == ".");
  CHECK(text.substr(23, 9) == "Z accept ");
  CHECK(text.substr(32) ==
        "id=ABC from=\"a b\\\"c\\\\d\" helo=\"x\\r\\nfake 2026 event\" empty=\"\" "
        "ctl=\"\\x01\\x7f\"\n");
}

TEST_CASE("log: json format escapes controls and replaces invalid UTF-8") {
  mugai::test::TempDir tmp;
  auto path = tmp.path() + "/log.json";
  REQUIRE(mugai::log::init(mugai::log::Format::Json, mugai::log::Target::File, path, "mail"));
  mugai::log::event("deliver", {{"to", "受信者@example.jp"}, {"why", "a\"\n\x01\xff"}});
  mugai::log::event("second", {});
  REQUIRE(mugai::log::init(mugai::log::Format::Text, mugai::log::Target::Stderr, "", "mail"));
  std::istringstream lines(slurp(path));
  std::string first, second, extra;
  REQUIRE(std::getline(lines, first));
  REQUIRE(std::getline(lines, second));
  CHECK_FALSE(std::getline(lines, extra));
  CHECK(first.rfind("{\"ts\":\"", 0) == 0);
  CHECK(first.find("Z\",\"event\":\"deliver\",\"to\":\"受信者@example.jp\","
                   "\"why\":\"a\\\"\\n\\u0001\xEF\xBF\xBD\"}") != std::string::npos);
  CHECK(second.find("\"event\":\"second\"}") != std::string::npos);
}
