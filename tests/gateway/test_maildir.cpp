// Tests of the maildir: delivery backend: one complete file in new/ per delivery, and recipients
// that could escape the maildir root are refused before anything is created, by the same predicate
// the server asks at RCPT time.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "gateway/maildir.hpp"
#include "tests/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace std::string_literals;

namespace {

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

}  // namespace

TEST_CASE("maildir: delivery creates exactly one complete file in new/") {
  mugai::test::TempDir tmp;
  auto root = tmp.path() + "/mail";
  const std::string msg = "Subject: hi\r\n\r\nbody\r\n";
  REQUIRE(mugai::gateway::deliver_maildir(root, "bob@city.example.lg.jp", msg, true));

  auto box = fs::path(root) / "bob@city.example.lg.jp";
  CHECK(fs::is_empty(box / "tmp"));
  CHECK(fs::is_empty(box / "cur"));
  auto files = files_in(box / "new");
  REQUIRE(files.size() == 1);
  std::ifstream in(files[0], std::ios::binary);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == msg);
  auto name = files[0].filename().string();
  CHECK(name.find(".M") != std::string::npos);
  CHECK(name.find('/') == std::string::npos);
  CHECK(name.find(':') == std::string::npos);
  CHECK((fs::status(box).permissions() & fs::perms::others_all) == fs::perms::none);

  REQUIRE(mugai::gateway::deliver_maildir(root, "bob@city.example.lg.jp", msg, false));
  CHECK(files_in(box / "new").size() == 2);
}

TEST_CASE("maildir: recipients that are not one safe path component are refused") {
  mugai::test::TempDir tmp;
  auto root = tmp.path() + "/mail";
  for (const std::string& bad :
       {"../x"s, "a/b"s, ".hidden"s, ".."s, "."s, ""s, "a\nb"s, "a\0b"s, std::string(256, 'a')}) {
    CAPTURE(bad);
    CHECK_FALSE(mugai::gateway::maildir_accepts(bad));
    CHECK_FALSE(mugai::gateway::deliver_maildir(root, bad, "m", false));
  }
  CHECK(mugai::gateway::maildir_accepts("bob@city.example.lg.jp"));
  CHECK(mugai::gateway::maildir_accepts(std::string(255, 'a')));
  CHECK_FALSE(fs::exists(root));
  CHECK_FALSE(fs::exists(tmp.path() + "/x"));
}
