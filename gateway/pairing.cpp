// PPAP pairing (see pairing.hpp).
#include "gateway/pairing.hpp"

#include <algorithm>

#include "common/ascii.hpp"

namespace mugai::gateway {

bool pairs(const PairKey& waiting, const PairKey& offer, std::int64_t window) {
  if (offer.mail_from.empty() || !ascii::iequals(offer.mail_from, waiting.mail_from)) return false;
  // Ids, not arrival seconds, order the two: both may arrive within one second.
  if (offer.id <= waiting.id || offer.arrival_unix > waiting.arrival_unix + window) return false;
  return std::any_of(waiting.rcpt_to.begin(), waiting.rcpt_to.end(), [&](const std::string& r) {
    return std::any_of(offer.rcpt_to.begin(), offer.rcpt_to.end(),
                       [&](const std::string& o) { return ascii::iequals(r, o); });
  });
}

void PasswordOffers::remember(PasswordOffer offer, std::int64_t now_unix) {
  // A message that could use an offer arrived before it, so its window ends no later than the offer's.
  std::erase_if(offers_, [&](const PasswordOffer& o) { return o.mail.arrival_unix + window_ < now_unix; });
  offers_.push_back(std::move(offer));
  while (offers_.size() > max_count_) offers_.pop_front();
}

const PasswordOffer* PasswordOffers::newest_for(const PairKey& waiting, const std::set<std::string>& tried) const {
  for (auto it = offers_.rbegin(); it != offers_.rend(); ++it) {
    if (!tried.count(it->mail.id) && pairs(waiting, it->mail, window_)) return &*it;
  }
  return nullptr;
}

}  // namespace mugai::gateway
