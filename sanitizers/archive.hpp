// Reading an archive's entries out of memory with libarchive, one format family per detected type
// (never libarchive's "all"), with every byte counted as it is decompressed: the caller's budget of
// entries and bytes and the compression ratio are checked while reading, never taken from headers.
// Names come out as UTF-8 (CP932 where LHA or cab declare none; CP932 or EUC-JP guessed where zip or
// tar names are not UTF-8), still untrusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace mugai::sanitize {

// Shared by an archive and every archive nested in it: what unpacking it may still cost.
struct ArchiveBudget {
  std::size_t entries_left = 0;
  std::size_t bytes_left = 0;      // extracted bytes
  unsigned max_ratio = 100;        // extracted : compressed, per entry and overall
  std::size_t input_size = 0;      // of the outermost archive, for the overall ratio
  std::size_t extracted = 0;       // so far, nested archives included
};

// Ratios are judged once this much has come out of an entry (or the archive): small files' own ratios
// say nothing, and libarchive consumes its input in blocks.
inline constexpr std::size_t kRatioFloor = 1024 * 1024;

struct ArchiveEntry {
  enum class Kind { File, Directory, Link, Other };
  Kind kind = Kind::Other;
  std::string name;         // UTF-8 (guessed when not declared), untrusted, may be empty
  std::string link_target;  // Link: UTF-8, untrusted
  bool encrypted = false;   // its data is encrypted
  bool single = false;      // the one file of a compressed stream (a .gz of no tar): it has no name
};

// The data of one entry, or why there is none.
struct EntryData {
  enum class Status {
    Ok,
    TooLarge,       // more than `max_bytes`: the rest was read and counted, not kept
    NeedsPassword,  // encrypted, and no given password opened it (zip only: the formats libarchive decrypts)
    Undecryptable,  // encrypted in a way libarchive cannot decrypt (7z, RAR, PKWARE strong encryption)
    Damaged,        // reading failed
  };
  Status status = Status::Ok;
  std::string bytes;      // Ok only
  std::string problem;    // Damaged: libarchive's words
  bool decrypted = false;  // Ok: a given password opened it
};

class ArchiveReader {
 public:
  // `detected_type` must be one of kArchiveTypes. `passwords` are tried on encrypted zip entries.
  static Expected<ArchiveReader> open(std::string_view untrusted_bytes, std::string_view detected_type,
                                      const std::vector<std::string>& passwords);
  ArchiveReader(ArchiveReader&&) noexcept;
  ArchiveReader& operator=(ArchiveReader&&) noexcept;
  ~ArchiveReader();

  // The next entry's header; nullopt at the end; an error when the archive cannot be read further.
  Expected<std::optional<ArchiveEntry>> next();
  // The current entry's data. Every byte counts against `budget`; an error means a budget limit was
  // crossed (its message names the config key), which ends the whole archive.
  Expected<EntryData> read(const ArchiveEntry& entry, std::size_t max_bytes, ArchiveBudget& budget);
  // Decompression filters libarchive stacked under the format (a .tar.gz: 1), known after next().
  std::size_t layers() const;

 private:
  struct Impl;
  explicit ArchiveReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mugai::sanitize
