// Unit tests for the quarantine store (encrypted content-addressed blobs, SQLite index, status rules,
// two-person rule, retention), the hash-chained audit trail, and East Asian width for the CLI tables.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/hex.hpp"
#include "common/json.hpp"
#include "quarantine/audit.hpp"
#include "quarantine/store.hpp"
#include "sanitizers/codec.hpp"
#include "tests/temp_dir.hpp"

namespace mugai::quarantine {
namespace {

namespace fs = std::filesystem;

const Operator kAlice{1001, "alice"};
const Operator kBob{1002, "bob"};

StoreOptions options_in(const std::string& dir, Operator self = kAlice) {
  StoreOptions o;
  o.dir = dir + "/q";
  o.key_file = dir + "/keys/quarantine.key";
  o.audit_log = dir + "/audit/audit.log";
  o.audit_key_file = dir + "/keys/audit.key";
  o.retention = std::chrono::seconds(100);
  o.create = true;
  o.self = std::move(self);
  return o;
}

std::unique_ptr<QuarantineDb> open_store(const StoreOptions& o) {
  auto s = QuarantineDb::open(o);
  REQUIRE_MESSAGE(s.has_value(), (s ? "" : s.error().message));
  return std::move(*s);
}

sanitize::QuarantineRecord record(std::string from, std::vector<std::string> to, std::int64_t received = 0) {
  sanitize::QuarantineRecord r;
  r.queue_id = "S1";
  r.received_unix = received;
  r.client_ip = "192.0.2.7";
  r.helo = "mx.sender.example";
  r.mail_from = std::move(from);
  r.rcpt_to = std::move(to);
  r.subject = "請求書の送付について";
  r.message_id = "<m1@sender.example>";
  r.reason = "parts removed";
  r.parts.push_back({"請求書.exe", "application/x-msdownload", "application/x-dosexec", 46, "ab12", "executable", "strip"});
  return r;
}

// Stores `original` under a fresh id, as the gateway does (allocate, sanitize, then put); returns the id.
Expected<std::string> put_new(QuarantineDb& store, std::string_view original, const sanitize::QuarantineRecord& r) {
  auto id = QuarantineDb::new_id();
  if (!id) return id.error();
  if (auto st = store.put(original, r, *id); !st) return st.error();
  return id;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path, std::ios::binary);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
}

std::size_t blob_count(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir + "/q/blobs")) n += e.path().filename().string()[0] != '.';
  return n;
}

// The store's audit log checked with its key against the anchor its index keeps.
Expected<AuditCheck> verify_store_audit(const StoreOptions& o) {
  auto anchor = read_audit_anchor(o.dir);
  REQUIRE(anchor.has_value());
  REQUIRE(anchor->head.has_value());
  return verify_audit(o.audit_log, slurp(o.audit_key_file), *anchor);
}

TEST_CASE("put stores an encrypted, content-addressed original that get/original give back") {
  test::TempDir tmp;
  const auto o = options_in(tmp.path());
  auto store = open_store(o);
  const std::string original = "Subject: x\r\n\r\nATTACHMENT-SECRET-BYTES\r\n";
  auto id = put_new(*store, original, record("a@sender.example", {"bob@city.example.lg.jp"}, 1700000000));
  REQUIRE(id.has_value());
  REQUIRE(id->size() == 9);
  CHECK((*id)[4] == '-');
  for (const char c : *id) CHECK(std::string_view("0123456789ABCDEFGHJKMNPQRSTVWXYZ-").find(c) != std::string_view::npos);

  auto e = store->get(*id);
  REQUIRE(e.has_value());
  CHECK(e->status == EntryStatus::Held);
  CHECK(e->record.received_unix == 1700000000);
  CHECK(e->record.mail_from == "a@sender.example");
  CHECK(e->record.rcpt_to == std::vector<std::string>{"bob@city.example.lg.jp"});
  CHECK(e->record.subject == "請求書の送付について");
  CHECK(e->size == original.size());
  CHECK(e->retain_until == e->stored_unix + 100);
  REQUIRE(e->record.parts.size() == 1);
  CHECK(e->record.parts[0].filename == "請求書.exe");
  CHECK(e->record.parts[0].detected_type == "application/x-dosexec");
  auto back = store->original(*e);
  REQUIRE(back.has_value());
  CHECK(*back == original);

  // At rest the bytes are ciphertext; the same original twice shares one blob.
  const std::string blob = slurp(o.dir + "/blobs/" + hex::sha256(original));
  CHECK(blob.size() == 8 + 12 + original.size() + 16);
  CHECK(blob.find("ATTACHMENT-SECRET") == std::string::npos);
  auto id2 = put_new(*store, original, record("a@sender.example", {"bob@city.example.lg.jp"}));
  REQUIRE(id2.has_value());
  CHECK(*id2 != *id);
  CHECK(blob_count(tmp.path()) == 1);

  struct stat st {};
  REQUIRE(::stat(o.key_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(st.st_size == 32);
  // Ids read aloud are forgiving about case, hyphen and O/0, I/L/1.
  std::string spoken = id->substr(0, 4) + id->substr(5);
  for (auto& c : spoken) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  CHECK(store->get(spoken).has_value());
  CHECK_FALSE(store->get("ZZZZ-ZZZZ").has_value());
  CHECK(store->get("Q7K4-M2PU").error().message.find("not a quarantine id") != std::string::npos);
}

TEST_CASE("put under a taken id fails and leaves that entry as it was; only ids from new_id() are taken") {
  test::TempDir tmp;
  const auto o = options_in(tmp.path());
  auto store = open_store(o);
  auto id = QuarantineDb::new_id();
  REQUIRE(id.has_value());
  REQUIRE(store->put("first original", record("a@x.example", {"b@y.example"}), *id).has_value());
  auto again = store->put("second original", record("z@other.example", {"c@y.example"}), *id);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().message.find("already taken") != std::string::npos);
  auto e = store->get(*id);
  REQUIRE(e.has_value());
  CHECK(e->record.mail_from == "a@x.example");
  CHECK(*store->original(*e) == "first original");
  CHECK(blob_count(tmp.path()) == 1);  // nothing was written for the refused put

  for (const std::string bad : {"", "q7k4-m2px", "Q7K4M2PX", "Q7K4-M2PU", "../../x"}) {
    CAPTURE(bad);
    CHECK_FALSE(store->put("x", record("a@x.example", {"b@y.example"}), bad).has_value());
  }
  auto list = store->list({});
  REQUIRE(list.has_value());
  CHECK(list->size() == 1);
}

TEST_CASE("the key file: created once, refused when others can read it, required by the CLI") {
  test::TempDir tmp;
  auto o = options_in(tmp.path());
  std::string first_key;
  {
    auto store = open_store(o);
    first_key = slurp(o.key_file);
    REQUIRE(put_new(*store, "m", record("a@x.example", {"b@y.example"})).has_value());
  }
  {
    auto again = open_store(o);  // reopening keeps the key: the old entry still decrypts
    CHECK(slurp(o.key_file) == first_key);
    auto list = again->list({});
    REQUIRE(list.has_value());
    REQUIRE(list->size() == 1);
    CHECK(again->original(list->front()).has_value());
  }
  ::chmod(o.key_file.c_str(), 0640);
  auto refused = QuarantineDb::open(o);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message.find("0640") != std::string::npos);
  ::chmod(o.key_file.c_str(), 0600);

  fs::remove(o.key_file);
  auto cli = o;
  cli.create = false;
  auto missing = QuarantineDb::open(cli);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message.find(o.key_file) != std::string::npos);
  CHECK(missing.error().message.find("does not exist") != std::string::npos);

  auto nowhere = cli;
  nowhere.dir = tmp.path() + "/no-such-quarantine";
  auto no_index = QuarantineDb::open(nowhere);
  REQUIRE_FALSE(no_index.has_value());
  CHECK(no_index.error().message.find("no quarantine index") != std::string::npos);
}

TEST_CASE("a tampered blob fails its tag, is audited, and is never returned") {
  test::TempDir tmp;
  const auto o = options_in(tmp.path());
  auto store = open_store(o);
  const std::string original = "Subject: t\r\n\r\nbody\r\n";
  auto id = put_new(*store, original, record("a@x.example", {"b@y.example"}));
  REQUIRE(id.has_value());
  const std::string path = o.dir + "/blobs/" + hex::sha256(original);
  SUBCASE("one flipped ciphertext bit") {
    std::string blob = slurp(path);
    blob[8 + 12 + 3] ^= 0x01;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << blob;
  }
  SUBCASE("truncated") { fs::resize_file(path, 20); }
  SUBCASE("another key") {
    std::string key(32, 'k');
    fs::remove(o.key_file);
    std::ofstream(o.key_file, std::ios::binary) << key;
    fs::permissions(o.key_file, fs::perms::owner_read | fs::perms::owner_write);
    store = open_store(o);
  }
  auto e = store->get(*id);
  REQUIRE(e.has_value());
  auto back = store->original(*e);
  REQUIRE_FALSE(back.has_value());
  CHECK(back.error().message.find(*id) != std::string::npos);
  CHECK(back.error().message.find("integrity") != std::string::npos);
  auto audit = read_audit(o.audit_log, 0);
  REQUIRE(audit.has_value());
  CHECK(audit->back().get("event") == "integrity-failed");
  CHECK(audit->back().get("id") == *id);
}

TEST_CASE("list filters and orders newest first") {
  test::TempDir tmp;
  auto store = open_store(options_in(tmp.path()));
  auto a = put_new(*store, "1", record("alice@a.example", {"x@city.lg.jp"}, 1000));
  auto b = put_new(*store, "2", record("bob@b.example", {"y@city.lg.jp", "x@city.lg.jp"}, 3000));
  auto c = put_new(*store, "3", record("ALICE@a.example", {"z@city.lg.jp"}, 2000));
  REQUIRE((a && b && c));
  const auto ids = [&](auto set) {
    ListFilter f;
    set(f);
    std::vector<std::string> out;
    auto l = store->list(f);
    REQUIRE(l.has_value());
    for (const auto& e : *l) out.push_back(e.id);
    return out;
  };
  CHECK(ids([](ListFilter&) {}) == std::vector<std::string>{*b, *c, *a});
  CHECK(ids([](ListFilter& f) { f.from = "alice@a.example"; }) == std::vector<std::string>{*c, *a});
  CHECK(ids([](ListFilter& f) { f.to = "x@city.lg.jp"; }) == std::vector<std::string>{*b, *a});
  CHECK(ids([](ListFilter& f) { f.to = "city.lg.jp"; }).empty());  // whole addresses only
  CHECK(ids([](ListFilter& f) { f.since_unix = 2000; }) == std::vector<std::string>{*b, *c});
  CHECK(ids([](ListFilter& f) { f.limit = 1; }) == std::vector<std::string>{*b});
  CHECK(ids([](ListFilter& f) { f.reason = "EXECUTABLE"; }).size() == 3);
  CHECK(ids([](ListFilter& f) { f.reason = "macro"; }).empty());
  REQUIRE(store->remove(*c, "spam", kAlice).has_value());
  CHECK(ids([](ListFilter& f) { f.status = EntryStatus::Held; }) == std::vector<std::string>{*b, *a});
  CHECK(ids([](ListFilter& f) { f.status = EntryStatus::Deleted; }) == std::vector<std::string>{*c});
}

bool mentions(const Error& e, std::string_view what) { return e.message.find(what) != std::string::npos; }

TEST_CASE("two-person rule: another account approves, and the approval claims the release in the same step") {
  test::TempDir tmp;
  const auto o = options_in(tmp.path());
  auto store = open_store(o);
  const ReleaseRules approver{true, false, true};
  ReleaseRules outsider = approver;
  outsider.operator_is_approver = false;
  auto id = put_new(*store, "m", record("s@x.example", {"r@y.example"}));
  REQUIRE(id.has_value());

  auto direct = store->claim_release(*id, {}, "x", "SPOOL0000000001", kAlice, approver);
  REQUIRE_FALSE(direct.has_value());
  CHECK(mentions(direct.error(), "request-release"));
  auto stranger = store->request_release(*id, {}, "x", kAlice, outsider);
  REQUIRE_FALSE(stranger.has_value());
  CHECK(mentions(stranger.error(), "alice (uid 1001) is not in quarantine.approvers"));
  REQUIRE(store->request_release(*id, {}, "invoice is genuine", kAlice, approver).has_value());
  CHECK_FALSE(store->request_release(*id, {}, "again", kBob, approver).has_value());  // one pending request at a time

  const Operator alias{kAlice.uid, "Alice"};  // the same account under another spelling
  auto self = store->approve(*id, "SPOOL0000000001", alias, approver);
  REQUIRE_FALSE(self.has_value());
  CHECK(mentions(self.error(), "two-person rule"));
  CHECK_FALSE(store->approve(*id, "SPOOL0000000001", kBob, outsider).has_value());
  CHECK(store->get(*id)->status == EntryStatus::Held);

  auto claim = store->approve(*id, "SPOOL0000000001", kBob, approver);
  REQUIRE_MESSAGE(claim.has_value(), claim.error().message);
  CHECK(claim->by.name == "bob");
  CHECK(claim->rcpt_to == std::vector<std::string>{"r@y.example"});
  CHECK(claim->reason == "invoice is genuine");
  CHECK(store->get(*id)->status == EntryStatus::Releasing);
  CHECK(mentions(store->approve(*id, "SPOOL0000000002", kBob, approver).error(), "releasing, not held"));
  CHECK(store->releases(ReleaseState::Claimed)->size() == 1);

  REQUIRE(store->complete_release(*claim, false).has_value());
  auto e = store->get(*id);
  REQUIRE(e.has_value());
  CHECK(e->status == EntryStatus::Released);
  CHECK(e->status_by == "bob");
  CHECK_FALSE(store->complete_release(*claim, false).has_value());  // settled once
  CHECK(store->releases(ReleaseState::Claimed)->empty());
  auto spooled = store->releases(ReleaseState::Spooled);
  REQUIRE(spooled->size() == 1);
  CHECK(spooled->front().spool_id == "SPOOL0000000001");
  auto requests = store->release_requests(*id);
  REQUIRE(requests->size() == 1);
  CHECK(requests->front().requested_uid == 1001);
  CHECK(requests->front().approved_uid == 1002);

  auto audit = read_audit(o.audit_log, 0);
  REQUIRE(audit.has_value());
  std::vector<std::string> events;
  for (const auto& r : *audit) {
    events.push_back(std::string(r.get("event")) + ":" + std::string(r.get("operator")) + ":" + std::string(r.get("uid")));
  }
  CHECK(events == std::vector<std::string>{"stored:alice:1001", "release-requested:alice:1001", "approved:bob:1002",
                                           "releasing:bob:1002", "released:bob:1002"});
  auto check = verify_store_audit(o);
  REQUIRE(check.has_value());
  CHECK(check->first_bad_line == 0);
  CHECK(check->records == 5);
}

TEST_CASE("a release is claimed once, to original recipients unless allowed, and an abandoned one is held again") {
  test::TempDir tmp;
  const auto o = options_in(tmp.path());
  auto store = open_store(o);
  const ReleaseRules plain{false, false, false};
  auto id = put_new(*store, "m", record("s@x.example", {"a@y.example", "b@y.example"}));
  REQUIRE(id.has_value());

  auto other = store->claim_release(*id, {"c@z.example"}, "why", "SPOOL0000000001", kAlice, plain);
  REQUIRE_FALSE(other.has_value());
  CHECK(mentions(other.error(), "release_to_others"));
  auto claim = store->claim_release(*id, {"B@y.example", "b@y.example"}, "why", "SPOOL0000000001", kAlice, plain);
  REQUIRE(claim.has_value());
  CHECK(claim->rcpt_to == std::vector<std::string>{"B@y.example"});
  CHECK(mentions(store->claim_release(*id, {}, "again", "SPOOL0000000002", kBob, plain).error(), "releasing, not held"));
  CHECK(mentions(store->remove(*id, "spam", kBob).error(), "releasing"));

  REQUIRE(store->abandon_release(*claim, "disk full").has_value());
  CHECK(store->get(*id)->status == EntryStatus::Held);
  CHECK(store->releases(ReleaseState::Abandoned)->size() == 1);
  CHECK_FALSE(store->abandon_release(*claim, "twice").has_value());

  auto anyone = store->claim_release(*id, {"c@z.example"}, "forwarded", "SPOOL0000000003", kBob, {false, true, false});
  REQUIRE(anyone.has_value());
  CHECK(anyone->rcpt_to == std::vector<std::string>{"c@z.example"});
  auto everyone = put_new(*store, "n", record("s@x.example", {"a@y.example", "b@y.example"}));
  auto all = store->claim_release(*everyone, {}, "why", "SPOOL0000000004", kBob, plain);
  REQUIRE(all.has_value());
  CHECK(all->rcpt_to == std::vector<std::string>{"a@y.example", "b@y.example"});

  auto audit = read_audit(o.audit_log, 0);
  REQUIRE(audit.has_value());
  std::vector<std::string> events;
  for (const auto& r : *audit) events.push_back(std::string(r.get("event")));
  CHECK(events == std::vector<std::string>{"stored", "releasing", "release-abandoned", "releasing", "stored", "releasing"});
  auto check = verify_store_audit(o);
  REQUIRE(check.has_value());
  CHECK(check->first_bad_line == 0);
}

TEST_CASE("delete and purge: retention respected, shared blobs kept while referenced") {
  test::TempDir tmp;
  const auto o = options_in(tmp.path());
  auto store = open_store(o);
  auto a = put_new(*store, "same", record("s@x.example", {"r@y.example"}));
  auto b = put_new(*store, "same", record("s@x.example", {"r@y.example"}));
  auto c = put_new(*store, "other", record("s@x.example", {"r@y.example"}));
  REQUIRE((a && b && c));
  CHECK(blob_count(tmp.path()) == 2);

  REQUIRE(store->remove(*a, "spam", kAlice).has_value());
  CHECK(blob_count(tmp.path()) == 2);  // b still needs "same"
  CHECK_FALSE(store->remove(*a, "again", kAlice).has_value());
  auto gone = store->get(*a);
  REQUIRE(gone.has_value());
  CHECK(gone->status == EntryStatus::Deleted);
  CHECK(store->original(*gone).error().message.find("deleted") != std::string::npos);

  const auto stored = store->get(*b)->stored_unix;
  auto none = store->purge(stored + 50, std::nullopt, kAlice);  // within the 100 s retention
  REQUIRE(none.has_value());
  CHECK(none->empty());
  auto by_age = store->purge(stored + 50, stored + 1, kAlice);  // --older-than overrides the deadline
  REQUIRE(by_age.has_value());
  CHECK(by_age->size() == 2);
  CHECK(blob_count(tmp.path()) == 0);
  CHECK(store->get(*b)->status == EntryStatus::Expired);
  CHECK(store->get(*c)->status == EntryStatus::Expired);

  auto d = put_new(*store, "late", record("s@x.example", {"r@y.example"}));
  REQUIRE(d.has_value());
  const auto d_stored = store->get(*d)->stored_unix;
  auto expired = store->purge(d_stored + 100, std::nullopt, kAlice);  // deadline reached
  REQUIRE(expired.has_value());
  CHECK(*expired == std::vector<std::string>{*d});
  auto check = verify_store_audit(o);
  REQUIRE(check.has_value());
  CHECK(check->first_bad_line == 0);
}

TEST_CASE("concurrent puts from worker threads all get distinct, resolvable ids") {
  test::TempDir tmp;
  const auto o = options_in(tmp.path(), {0, "gateway"});
  auto store = open_store(o);
  std::vector<std::vector<std::string>> ids(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto id = put_new(*store, "msg " + std::to_string(t) + "/" + std::to_string(i), record("s@x.example", {"r@y.example"}));
        if (id) ids[t].push_back(*id);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& v : ids) all.insert(v.begin(), v.end());
  CHECK(all.size() == 40);
  for (const auto& id : all) CHECK(store->get(id).has_value());
  auto check = verify_store_audit(o);
  REQUIRE(check.has_value());
  CHECK(check->records == 40);
  CHECK(check->first_bad_line == 0);
  auto anchor = read_audit_anchor(o.dir);
  REQUIRE(anchor.has_value());
  REQUIRE(anchor->head.has_value());
  CHECK(anchor->head->seq == 40);  // writers racing to anchor never move it back
  CHECK(anchor->entries == 40);
}

TEST_CASE("audit verify names the first edited, deleted, reordered or forged record, the last one too") {
  test::TempDir tmp;
  const std::string path = tmp.path() + "/a/audit.log";
  const std::string key(32, 'k');
  std::vector<std::string> appended_events;
  const AuditLog log(path, key, [&](std::string_view event, const AuditHead&) { appended_events.emplace_back(event); });
  std::vector<AuditHead> heads;
  for (int i = 0; i < 5; ++i) {
    auto h = log.append("stored", {0, "gateway"}, {{"id", "AAAA-000" + std::to_string(i)}, {"subject", "件名\n\"x\""}},
                        1700000000 + i);
    REQUIRE(h.has_value());
    CHECK(h->seq == static_cast<std::uint64_t>(i + 1));
    CHECK(h->mac == anchor_mac(key, *h));
    heads.push_back(*h);
  }
  CHECK(appended_events == std::vector<std::string>(5, "stored"));
  const AnchorState anchored{heads.back(), 5};
  auto ok = verify_audit(path, key, anchored);
  REQUIRE(ok.has_value());
  CHECK(ok->records == 5);
  CHECK(ok->first_bad_line == 0);
  auto records = read_audit(path, 1700000003);
  REQUIRE(records.has_value());
  REQUIRE(records->size() == 2);
  CHECK(records->front().get("subject") == "件名\n\"x\"");
  CHECK(records->front().get("seq") == "4");
  CHECK(records->front().fields.back().first == "mac");

  const auto lines = lines_of(path);
  const auto first_bad = [&](std::vector<std::string> edited, const AnchorState& anchor, std::string_view with = {}) {
    write_lines(path, edited);
    auto c = verify_audit(path, with.empty() ? std::string_view(key) : with, anchor);
    REQUIRE(c.has_value());
    return c->first_bad_line;
  };
  SUBCASE("edited: the record's own MAC names it, the last one too") {
    for (std::size_t n : {2u, 4u}) {
      auto e = lines;
      e[n].replace(e[n].find("AAAA-000"), 9, "AAAA-0009");
      CHECK(first_bad(e, anchored) == n + 1);
      CHECK(first_bad(e, AnchorState{}) == n + 1);
    }
  }
  SUBCASE("deleted") {
    auto e = lines;
    e.erase(e.begin() + 1);
    CHECK(first_bad(e, anchored) == 2);
  }
  SUBCASE("reordered") {
    auto e = lines;
    std::swap(e[3], e[4]);
    CHECK(first_bad(e, anchored) == 4);
  }
  SUBCASE("first line removed") {
    auto e = lines;
    e.erase(e.begin());
    CHECK(first_bad(e, anchored) == 1);
  }
  SUBCASE("re-chained after removing a record, without the key: the first re-written record is named") {
    auto e = lines;
    e.erase(e.begin() + 1);
    std::string prev = json::parse(e[0])["prev"];
    for (std::size_t n = 0; n < e.size(); ++n) {
      json::Value v = json::parse(e[n]);
      v["seq"] = n + 1;
      v["prev"] = prev;
      v.erase("mac");
      std::string line = json::dump(v);
      line.insert(line.size() - 1, ",\"mac\":\"" + hex::hmac_sha256("guessed key", line) + "\"");
      e[n] = line;
      prev = hex::sha256(line);
    }
    const AuditHead forged{4, prev, anchor_mac("guessed key", AuditHead{4, prev, {}})};
    CHECK(first_bad(e, AnchorState{forged, 5}) == 4);  // the anchor is not keyed by the audit key
    CHECK(first_bad(e, AnchorState{}) == 1);
  }
  SUBCASE("the anchor deleted while the index holds entries, or rewound to an older record") {
    CHECK(first_bad(lines, AnchorState{std::nullopt, 5}) == 6);
    auto cut = lines;
    cut.resize(2);
    CHECK(first_bad(cut, AnchorState{std::nullopt, 0}) == 0);  // an empty index vouches for nothing
    CHECK(first_bad(cut, anchored) == 3);
    CHECK(first_bad(lines, AnchorState{heads[1], 5}) == 3);  // 3 records past the anchor: too old
  }
  SUBCASE("verify needs this log's key") {
    CHECK(first_bad(lines, anchored, std::string(32, 'x')) == 5);  // the anchor's tag fails first
    CHECK(first_bad(lines, AnchorState{}, std::string(32, 'x')) == 1);
  }
  SUBCASE("records after the anchor (a crash before anchoring) are fine, up to kAnchorLag") {
    CHECK(first_bad(lines, AnchorState{heads[3], 5}) == 0);
    CHECK(first_bad(lines, AnchorState{AuditHead{4, heads[4].sha256, anchor_mac(key, {4, heads[4].sha256, {}})}, 5}) ==
          4);  // record 4 is not the line the anchor hashed
    REQUIRE(log.append("shown", kBob, {}, 1700000009).has_value());
    auto c = verify_audit(path, key, AnchorState{heads[3], 5});
    REQUIRE(c.has_value());
    CHECK(c->records == 6);
    CHECK(c->first_bad_line == 0);
  }
  SUBCASE("appending onto a damaged tail is refused") {
    auto e = lines;
    e.back() = "garbage";
    write_lines(path, e);
    CHECK_FALSE(log.append("shown", kBob, {}, 1700000009).has_value());
  }
}

TEST_CASE("an index from before audit anchors is upgraded; a newer schema is refused") {
  test::TempDir tmp;
  const auto o = options_in(tmp.path());
  REQUIRE(put_new(*open_store(o), "x", record("s@x.example", {"r@y.example"})).has_value());
  const std::string index = o.dir + "/index.sqlite";
  const auto sql = [&](const char* statement) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(index.c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    CHECK_MESSAGE(sqlite3_exec(db, statement, nullptr, nullptr, &error) == SQLITE_OK, std::string(error ? error : ""));
    sqlite3_free(error);
    sqlite3_close(db);
  };
  // What schema version 1 looked like.
  sql("DROP TABLE traffic_parts; DROP TABLE traffic; DROP TABLE deliveries; DROP TABLE worker_failures; "
      "DROP TABLE audit_anchor; DROP TABLE releases; ALTER TABLE release_requests DROP COLUMN requested_uid; "
      "ALTER TABLE release_requests DROP COLUMN approved_uid; PRAGMA user_version=1");
  auto old = read_audit_anchor(o.dir);
  REQUIRE_FALSE(old.has_value());
  CHECK(old.error().message.find("start the gateway once to upgrade it") != std::string::npos);
  auto store = open_store(o);  // migrates to the current version
  REQUIRE(put_new(*store, "y", record("s@x.example", {"r@y.example"})).has_value());
  auto check = verify_store_audit(o);
  REQUIRE(check.has_value());
  CHECK(check->records == 2);
  CHECK(check->first_bad_line == 0);
  store.reset();
  sql("PRAGMA user_version=99");
  auto newer = QuarantineDb::open(o);
  REQUIRE_FALSE(newer.has_value());
  CHECK(newer.error().message.find("newer than this mugai knows") != std::string::npos);
}


TEST_CASE("traffic facts: a later run of a queue id replaces its row and parts; --since filters each table") {
  test::TempDir tmp;
  const auto o = options_in(tmp.path());
  auto store = open_store(o);
  TrafficRecord first{"Q1", 1000, 1001, 500, "failed", "no worker", "", "", {{"application/pdf", "removed", "r", "s", 0}}};
  REQUIRE(store->record_traffic(first).has_value());
  TrafficRecord last{"Q1", 1000, 1010, 500, "sanitized", "ok", "Q7K4-M2PX", "paired",
                     {{"text/plain", "kept", "", "text_plain", 0}, {"application/pdf", "replaced", "2 of 3 page(s) rendered", "pdf_render", 2}}};
  REQUIRE(store->record_traffic(last).has_value());
  REQUIRE(store->record_traffic({"Q0", 10, 11, 5, "quarantined", "old", "", "", {}}).has_value());
  REQUIRE(store->record_delivery({"Q1", 1020, "next-hop", 2, 1, 0}).has_value());
  REQUIRE(store->record_delivery({"Q0", 20, "next-hop", 1, 0, 0}).has_value());
  REQUIRE(store->record_worker_failure({"Q2", 1030, "message-failed", "timed out"}).has_value());
  auto facts = read_traffic(o.dir, 500);
  REQUIRE_MESSAGE(facts.has_value(), (facts ? "" : facts.error().message));
  REQUIRE(facts->messages.size() == 1);
  const auto& m = facts->messages[0];
  CHECK(m.verdict == "sanitized");
  CHECK(m.ppap == "paired");
  REQUIRE(m.parts.size() == 2);
  CHECK(m.parts[1].pages == 2);
  CHECK(m.parts[1].sanitizer == "pdf_render");
  REQUIRE(facts->deliveries.size() == 1);
  CHECK(facts->deliveries[0].sent == 2);
  CHECK(facts->deliveries[0].bounced == 1);
  REQUIRE(facts->failures.size() == 1);
  CHECK(facts->failures[0].detail == "timed out");
  CHECK(read_traffic(o.dir, 0)->messages.size() == 2);
  // The retention sweep (retention 100 s here) drops facts older than that; a purge with a cutoff does not.
  REQUIRE(store->purge(1100, 0, Operator{}).has_value());
  CHECK(read_traffic(o.dir, 0)->messages.size() == 2);
  REQUIRE(store->purge(1100, std::nullopt, Operator{}).has_value());
  auto kept = read_traffic(o.dir, 0);
  REQUIRE(kept.has_value());
  REQUIRE(kept->messages.size() == 1);
  CHECK(kept->messages[0].queue_id == "Q1");
  CHECK(kept->messages[0].parts.size() == 2);
  CHECK(kept->deliveries.size() == 1);
  CHECK(kept->failures.size() == 1);
  auto none = read_traffic(tmp.path() + "/elsewhere", 0);
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().message.find("no quarantine index at " + tmp.path() + "/elsewhere/index.sqlite") != std::string::npos);
}

}  // namespace
}  // namespace mugai::quarantine
