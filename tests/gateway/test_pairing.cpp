// Tests of PPAP pairing (gateway/pairing): which password mail may be tried on which waiting message
// (sender, recipients, order, window), and that the memory of password mails stays bounded and dated.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "gateway/pairing.hpp"

using namespace mugai::gateway;

namespace {

constexpr std::int64_t kWindow = 900;

PairKey archive_mail() { return {"0000000000A00000", "Alice@Example.net", {"bob@city.example.lg.jp"}, 1700000000}; }

PairKey password_mail(std::string id = "0000000000B00000", std::int64_t arrival = 1700000060) {
  return {std::move(id), "alice@example.net", {"carol@city.example.lg.jp", "BOB@city.example.lg.jp"}, arrival};
}

PasswordOffer offer(PairKey mail) {
  std::string source = "the mail " + mail.id;
  return {std::move(mail), {"SECRET"}, std::move(source)};
}

}  // namespace

TEST_CASE("pairing: the same sender, a recipient in common, afterwards, within the window") {
  CHECK(pairs(archive_mail(), password_mail(), kWindow));

  PairKey other_sender = password_mail();
  other_sender.mail_from = "mallory@example.net";
  CHECK_FALSE(pairs(archive_mail(), other_sender, kWindow));

  PairKey null_sender = password_mail();
  null_sender.mail_from.clear();
  PairKey null_archive = archive_mail();
  null_archive.mail_from.clear();
  CHECK_FALSE(pairs(null_archive, null_sender, kWindow));  // bounces pair with nothing

  PairKey no_common = password_mail();
  no_common.rcpt_to = {"carol@city.example.lg.jp"};
  CHECK_FALSE(pairs(archive_mail(), no_common, kWindow));

  // Order by queue id, even within one second; a mail never pairs with itself.
  const PairKey same_second = password_mail("0000000000B00000", 1700000000);
  CHECK(pairs(archive_mail(), same_second, kWindow));
  CHECK_FALSE(pairs(same_second, archive_mail(), kWindow));
  CHECK_FALSE(pairs(archive_mail(), archive_mail(), kWindow));

  CHECK(pairs(archive_mail(), password_mail("0000000000B00000", 1700000000 + kWindow), kWindow));
  CHECK_FALSE(pairs(archive_mail(), password_mail("0000000000B00000", 1700000001 + kWindow), kWindow));
}

TEST_CASE("pairing memory: the newest untried offer that pairs") {
  PasswordOffers offers(8, kWindow);
  CHECK(offers.newest_for(archive_mail(), {}) == nullptr);
  offers.remember(offer(password_mail("0000000000B00000")), 1700000060);
  offers.remember(offer(password_mail("0000000000C00000")), 1700000070);
  PairKey stranger = password_mail("0000000000D00000");
  stranger.mail_from = "mallory@example.net";
  offers.remember(offer(stranger), 1700000080);

  const PasswordOffer* newest = offers.newest_for(archive_mail(), {});
  REQUIRE(newest != nullptr);
  CHECK(newest->mail.id == "0000000000C00000");
  CHECK(newest->candidates == std::vector<std::string>{"SECRET"});
  const PasswordOffer* older = offers.newest_for(archive_mail(), {"0000000000C00000"});
  REQUIRE(older != nullptr);
  CHECK(older->mail.id == "0000000000B00000");
  CHECK(offers.newest_for(archive_mail(), {"0000000000B00000", "0000000000C00000"}) == nullptr);
}

TEST_CASE("pairing memory: bounded in count, and forgets what no waiting message can use") {
  PasswordOffers offers(3, kWindow);
  for (int i = 0; i < 10; ++i) {
    offers.remember(offer(password_mail("0000000000B0000" + std::to_string(i), 1700000060)), 1700000060);
  }
  CHECK(offers.size() == 3);
  const PasswordOffer* newest = offers.newest_for(archive_mail(), {});
  REQUIRE(newest != nullptr);
  CHECK(newest->mail.id == "0000000000B00009");
  CHECK(offers.newest_for(archive_mail(), {"0000000000B00009", "0000000000B00008", "0000000000B00007"}) == nullptr);

  // Past the window of its own arrival, an offer can serve nobody: the next one to come pushes it out.
  offers.remember(offer(password_mail("0000000000C00000", 1700000060 + kWindow + 1)), 1700000060 + kWindow + 1);
  CHECK(offers.size() == 1);
}
