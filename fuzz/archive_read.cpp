// Fuzz target: the first byte picks one of kArchiveTypes but cab, the rest is read as that archive
// through ArchiveReader with a small budget (and one password for encrypted zip entries). Cab is left
// out: Debian 12's libarchive 3.6.2 dereferences NULL in its CAB reader on inputs any run finds within
// minutes (fuzz/upstream/, fixed upstream by 32b62cf7); in the gateway that costs only the message. Oracle: every name
// and link target is valid UTF-8; no entry's bytes exceed the per-entry bound; the budget's counts never
// pass its limits; a refusal or a damaged entry says why; reading ends within the entry budget.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/utf8.hpp"
#include "fuzz/libarchive_alloc.hpp"
#include "fuzz/oracle.hpp"
#include "sanitizers/archive.hpp"
#include "sanitizers/policy.hpp"

namespace {

using mugai::fuzz::fail;
using mugai::sanitize::ArchiveEntry;
using mugai::sanitize::EntryData;

constexpr std::size_t kMaxEntries = 64;
constexpr std::size_t kMaxTotal = 4 * 1024 * 1024;
constexpr std::size_t kMaxEntry = 256 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const std::vector<std::string_view> types = [] {
    std::vector<std::string_view> t;
    for (const auto type : mugai::sanitize::kArchiveTypes)
      if (type != "application/vnd.ms-cab-compressed") t.push_back(type);
    return t;
  }();
  const std::string_view type = types[data[0] % types.size()];
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto reader = mugai::sanitize::ArchiveReader::open(bytes, type, {"fuzz"});
  if (!reader) {
    if (reader.error().message.empty()) fail("refusal without a reason");
    return 0;
  }
  mugai::sanitize::ArchiveBudget budget{kMaxEntries, kMaxTotal, 100, bytes.size(), 0};
  for (std::size_t n = 0;; ++n) {
    auto next = reader->next();
    if (!next) {
      if (next.error().message.empty()) fail("damage without a reason");
      return 0;
    }
    if (!*next) return 0;
    if (n == kMaxEntries) return 0;  // the walk's max_entries ends it here
    const ArchiveEntry& e = **next;
    if (!mugai::utf8::is_valid(e.name) || !mugai::utf8::is_valid(e.link_target)) fail("a name that is not UTF-8", e.name);
    if (e.kind != ArchiveEntry::Kind::File) continue;
    auto got = reader->read(e, kMaxEntry, budget);
    if (budget.extracted > kMaxTotal) fail("extracted past max_total_size");
    if (!got) {
      if (got.error().message.find("archive.max_") == std::string::npos) fail("a limit error naming no key", got.error().message);
      return 0;
    }
    if (got->bytes.size() > kMaxEntry) fail("entry bytes past the per-entry bound");
    if (got->status != EntryData::Status::Ok && !got->bytes.empty()) fail("bytes kept of an entry that was not read");
    if (got->status == EntryData::Status::Damaged && got->problem.empty()) fail("damage without a reason");
    if (got->decrypted && !e.encrypted) fail("decrypted an entry that was not encrypted");
  }
}
