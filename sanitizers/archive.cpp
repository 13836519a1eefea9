// The archive reader (see archive.hpp). libarchive reads from memory under a UTF-8 locale of this
// thread only, so names it decodes itself (UTF-16 in LHA, 7z and RAR) come out as UTF-8 and names it
// has no charset for come out as their bytes, which to_utf8 then reads as CP932 or EUC-JP when they are
// not UTF-8 (no zip UTF-8 flag: what Japanese Windows writes). Zip is read by its central directory
// (the seekable reader), as unzip does, so entries a streaming reader would never see are counted too.
#include "sanitizers/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <algorithm>
#include <array>

#include "common/utf8.hpp"
#include "sanitizers/charset.hpp"

namespace mugai::sanitize {
namespace {

constexpr std::size_t kChunk = 64 * 1024;

// The thread's locale is C.UTF-8 while libarchive runs; the old one is back afterwards. Without the
// locale (a system without C.utf8) names decoded by libarchive degrade to their ASCII part, nothing else.
class Utf8Locale {
 public:
  Utf8Locale() {
    static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (utf8 != static_cast<locale_t>(nullptr)) previous_ = uselocale(utf8);
  }
  ~Utf8Locale() {
    if (previous_ != static_cast<locale_t>(nullptr)) uselocale(previous_);
  }
  Utf8Locale(const Utf8Locale&) = delete;
  Utf8Locale& operator=(const Utf8Locale&) = delete;

 private:
  locale_t previous_ = static_cast<locale_t>(nullptr);
};

std::string utf8_name(const char* raw) {
  if (raw == nullptr) return {};
  const std::string_view bytes(raw);
  if (utf8::is_valid(bytes)) return std::string(bytes);
  return to_utf8(bytes, "").text;
}

// The format family (ARCHIVE_FORMAT_TAR for every tar dialect).
int family(archive* a) { return archive_format(a) & ARCHIVE_FORMAT_BASE_MASK; }

bool ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string error_text(archive* a) {
  const char* e = archive_error_string(a);
  return e != nullptr ? utf8_name(e) : "unknown libarchive error";
}

// Why libarchive cannot go on: its 25-filter cap (a gzip quine) is the depth limit, encrypted headers
// are encryption, anything else is `damage` + its words.
Error unreadable(archive* a, const std::string& damage) {
  const std::string why = error_text(a);
  if (why.find("too many filters") != std::string::npos) {
    return Error{"limit exceeded: archive.max_depth (compressed in more layers than libarchive reads: " + why + ")"};
  }
  if (why.find("ncrypt") != std::string::npos) {
    return Error{"encrypted archive whose names are encrypted too, which cannot be decrypted here (" + why +
                 "): it cannot be checked, so it was removed; the original is kept in quarantine"};
  }
  return Error{damage + why};
}

// Formats and filters for one detected type. A compressed stream may hold a tar or be a single file.
// LHA and cab names without a declared charset (no code-page header, no UTF-8 flag) are CP932, as
// Japanese Windows writes them, and libarchive converts them itself (it refuses an LHA name it cannot
// convert). Zip names without the UTF-8 flag come as their bytes: Info-ZIP on Unix writes UTF-8 there,
// Japanese Windows CP932, and utf8_name tells them apart.
int enable(archive* a, std::string_view type) {
  int r = ARCHIVE_OK;
  const auto add = [&](int rc) { r = std::min(r, rc); };
  if (type == "application/zip") {
    add(archive_read_support_format_zip_seekable(a));
  } else if (type == "application/x-7z-compressed") {
    add(archive_read_support_format_7zip(a));
  } else if (type == "application/x-rar") {
    add(archive_read_support_format_rar(a));
    add(archive_read_support_format_rar5(a));
  } else if (type == "application/x-tar") {
    add(archive_read_support_format_tar(a));
  } else if (type == "application/x-lzh-compressed") {
    add(archive_read_support_format_lha(a));
    add(archive_read_set_format_option(a, "lha", "hdrcharset", "CP932"));
  } else if (type == "application/vnd.ms-cab-compressed") {
    add(archive_read_support_format_cab(a));
    add(archive_read_set_format_option(a, "cab", "hdrcharset", "CP932"));
  } else {
    if (type == "application/gzip") add(archive_read_support_filter_gzip(a));
    else if (type == "application/x-bzip2") add(archive_read_support_filter_bzip2(a));
    else if (type == "application/x-xz") add(archive_read_support_filter_xz(a));
    else if (type == "application/zstd") add(archive_read_support_filter_zstd(a));
    else if (type == "application/x-compress") add(archive_read_support_filter_compress(a));
    else return ARCHIVE_FATAL;
    add(archive_read_support_format_tar(a));
    add(archive_read_support_format_raw(a));
  }
  // WARN: the filter runs through an external program; none may be started here.
  return r == ARCHIVE_WARN ? ARCHIVE_FATAL : r;
}

std::string ratio_breach(std::size_t out, std::size_t in, unsigned max, const char* what) {
  return "limit exceeded: archive.max_ratio (" + std::string(what) + " expands " + std::to_string(out) + " bytes from " +
         std::to_string(in) + ", more than " + std::to_string(max) + ":1)";
}

}  // namespace

struct ArchiveReader::Impl {
  archive* a = nullptr;
  archive_entry* entry = nullptr;
  // A tar declares no charset: once one name had to be read as CP932 or EUC-JP, the archive's other
  // names are read that way too when they can be (EUC-JP's 表, C9 BD, is also valid UTF-8).
  std::string tar_charset;

  std::string name(const char* raw) {
    if (raw == nullptr) return {};
    const std::string_view bytes(raw);
    if (family(a) == ARCHIVE_FORMAT_TAR) {
      if (!tar_charset.empty() && !ascii(bytes)) {
        Utf8Text t = to_utf8(bytes, tar_charset);
        if (t.replacements == 0) return std::move(t.text);
      }
      if (!utf8::is_valid(bytes)) {
        Utf8Text t = to_utf8(bytes, "");
        tar_charset = t.charset;
        return std::move(t.text);
      }
    }
    return utf8_name(raw);
  }
  ~Impl() {
    if (a != nullptr) archive_read_free(a);
  }
};

ArchiveReader::ArchiveReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ArchiveReader::ArchiveReader(ArchiveReader&&) noexcept = default;
ArchiveReader& ArchiveReader::operator=(ArchiveReader&&) noexcept = default;
ArchiveReader::~ArchiveReader() = default;

Expected<ArchiveReader> ArchiveReader::open(std::string_view untrusted_bytes, std::string_view detected_type,
                                            const std::vector<std::string>& passwords) {
  const Utf8Locale locale;
  auto impl = std::make_unique<Impl>();
  impl->a = archive_read_new();
  if (impl->a == nullptr) return Error{"libarchive: out of memory"};
  if (enable(impl->a, detected_type) != ARCHIVE_OK) return Error{"no reader for " + std::string(detected_type)};
  for (const auto& p : passwords) {
    if (archive_read_add_passphrase(impl->a, p.c_str()) != ARCHIVE_OK) return Error{"libarchive: " + error_text(impl->a)};
  }
  if (archive_read_open_memory(impl->a, untrusted_bytes.data(), untrusted_bytes.size()) != ARCHIVE_OK) {
    return unreadable(impl->a, "cannot be read as " + std::string(detected_type) + ": ");
  }
  return ArchiveReader(std::move(impl));
}

Expected<std::optional<ArchiveEntry>> ArchiveReader::next() {
  const Utf8Locale locale;
  const int r = archive_read_next_header(impl_->a, &impl_->entry);
  if (r == ARCHIVE_EOF) return std::optional<ArchiveEntry>{};
  // WARN is a header libarchive read with a complaint (a name it could not convert): still an entry.
  if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return unreadable(impl_->a, "damaged archive: ");
  archive_entry* e = impl_->entry;
  ArchiveEntry out;
  out.name = impl_->name(archive_entry_pathname(e));
  // Cab names are Windows paths.
  if (family(impl_->a) == ARCHIVE_FORMAT_CAB) std::replace(out.name.begin(), out.name.end(), '\\', '/');
  out.single = family(impl_->a) == ARCHIVE_FORMAT_RAW;
  out.encrypted = archive_entry_is_data_encrypted(e) != 0;
  const auto type = archive_entry_filetype(e);
  if (archive_entry_hardlink(e) != nullptr) {
    out.kind = ArchiveEntry::Kind::Link;
    out.link_target = impl_->name(archive_entry_hardlink(e));
  } else if (type == AE_IFREG) {
    out.kind = ArchiveEntry::Kind::File;
  } else if (type == AE_IFDIR) {
    out.kind = ArchiveEntry::Kind::Directory;
  } else if (type == AE_IFLNK) {
    out.kind = ArchiveEntry::Kind::Link;
    out.link_target = impl_->name(archive_entry_symlink(e));
  }
  return std::optional<ArchiveEntry>(std::move(out));
}

std::size_t ArchiveReader::layers() const {
  const int filters = archive_filter_count(impl_->a);
  return filters > 1 ? static_cast<std::size_t>(filters - 1) : 0;
}

Expected<EntryData> ArchiveReader::read(const ArchiveEntry& entry, std::size_t max_bytes, ArchiveBudget& budget) {
  const Utf8Locale locale;
  archive* a = impl_->a;
  EntryData out;
  // libarchive decrypts traditional PKWARE and WinZip AES zip entries only.
  if (entry.encrypted && family(a) != ARCHIVE_FORMAT_ZIP) {
    out.status = EntryData::Status::Undecryptable;
    return out;
  }
  const la_int64_t consumed_before = archive_filter_bytes(a, -1);
  std::size_t size = 0;
  std::array<char, kChunk> buf{};
  for (;;) {
    const la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (n == ARCHIVE_RETRY || n == ARCHIVE_WARN) continue;
      const std::string why = error_text(a);
      if (entry.encrypted) {
        // "Incorrect passphrase", "Passphrase required": no given password fits. Anything else about
        // an encrypted entry is an encryption libarchive does not implement (PKWARE strong encryption).
        const bool password = why.find("assphrase") != std::string::npos;
        out.status = password ? EntryData::Status::NeedsPassword : EntryData::Status::Undecryptable;
        out.problem = why;
        out.bytes.clear();
        return out;
      }
      out.status = EntryData::Status::Damaged;
      out.problem = why;
      out.bytes.clear();
      return out;
    }
    const auto got = static_cast<std::size_t>(n);
    size += got;
    budget.extracted += got;
    if (got > budget.bytes_left) {
      return Error{"limit exceeded: archive.max_total_size (more than " +
                   std::to_string(budget.extracted - got + budget.bytes_left) + " bytes extracted)"};
    }
    budget.bytes_left -= got;
    const auto consumed = static_cast<std::size_t>(std::max<la_int64_t>(archive_filter_bytes(a, -1) - consumed_before, 1));
    if (size > kRatioFloor && size > consumed * budget.max_ratio) {
      return Error{ratio_breach(size, consumed, budget.max_ratio, "an entry")};
    }
    if (budget.extracted > kRatioFloor && budget.extracted > std::max<std::size_t>(budget.input_size, 1) * budget.max_ratio) {
      return Error{ratio_breach(budget.extracted, budget.input_size, budget.max_ratio, "the archive")};
    }
    if (out.status == EntryData::Status::Ok && size > max_bytes) {
      out.status = EntryData::Status::TooLarge;
      out.bytes.clear();
      out.bytes.shrink_to_fit();
    }
    if (out.status == EntryData::Status::Ok) out.bytes.append(buf.data(), got);
  }
  out.decrypted = entry.encrypted && out.status == EntryData::Status::Ok;
  return out;
}

}  // namespace mugai::sanitize
