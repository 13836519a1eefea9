// PPAP pairing (issue 12): which password mail may be tried on which message awaiting one, and the
// bounded memory of password mails already seen. Pure and in memory only: nothing here is written to
// disk or logged, so no password outlives the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <vector>

namespace mugai::gateway {

// What pairing knows of a message: its queue id (ids sort by arrival, new_spool_id), envelope, arrival.
struct PairKey {
  std::string id;
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::int64_t arrival_unix = 0;
};

// The passwords a message's own text offers (Outcome::password_candidates), and how the notice of the
// message they open names their mail.
struct PasswordOffer {
  PairKey mail;
  std::vector<std::string> candidates;
  std::string source;
};

// True when `offer` may be tried on `waiting`: the same envelope sender, not the null one (compared
// case-insensitively, like the recipients), at least one recipient in common, and the password mail
// arrived after the waiting message and before its pair window (`window` seconds) ended.
bool pairs(const PairKey& waiting, const PairKey& offer, std::int64_t window);

// The offers of the last pair window, at most `max_count` of them (the oldest go first): enough for a
// message that starts waiting only after its password mail was processed (a restart, two at once).
class PasswordOffers {
 public:
  PasswordOffers(std::size_t max_count, std::int64_t window) : max_count_(max_count), window_(window) {}

  // Forgets the offers no waiting message can use any more (their window ended before `now_unix`).
  void remember(PasswordOffer offer, std::int64_t now_unix);
  // The newest offer that pairs with `waiting` and whose mail is not in `tried`; nullptr if none.
  const PasswordOffer* newest_for(const PairKey& waiting, const std::set<std::string>& tried) const;
  std::size_t size() const { return offers_.size(); }

 private:
  std::size_t max_count_;
  std::int64_t window_;
  std::deque<PasswordOffer> offers_;  // oldest first
};

}  // namespace mugai::gateway
