// libmagic behind detect_type(): one handle per thread (magic_t is not thread-safe), opened lazily,
// compressed content not looked into (no decompression of hostile bytes), and only a bounded prefix
// examined (a compound file whole, within its own bound: libmagic reads its directory). Where libmagic
// shrugs at a DOS/ELF signature, the signature alone decides: cautious.
#include "sanitizers/detect.hpp"

#include <magic.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace mugai::sanitize {
namespace {

constexpr std::string_view kUnknown = "application/octet-stream";
constexpr std::string_view kCompoundMagic("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);

class MagicHandle {
 public:
  MagicHandle() : m_(magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR)) {
    if (m_ != nullptr && magic_load(m_, nullptr) != 0) {
      magic_close(m_);
      m_ = nullptr;
    }
  }
  ~MagicHandle() {
    if (m_ != nullptr) magic_close(m_);
  }
  MagicHandle(const MagicHandle&) = delete;
  MagicHandle& operator=(const MagicHandle&) = delete;

  std::string type_of(std::string_view bytes) const {
    if (m_ == nullptr) return std::string(kUnknown);
    const bool compound = bytes.starts_with(kCompoundMagic);
    const char* r = magic_buffer(m_, bytes.data(), std::min(bytes.size(), compound ? kDetectCompound : kDetectPrefix));
    if (r == nullptr) return std::string(kUnknown);
    std::string t(r);
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // MIME types only: anything else libmagic may print is not a type we can match rules against.
    const bool mime = t.find('/') != std::string::npos && t.find_first_of(" ;,") == std::string::npos;
    return mime ? t : std::string(kUnknown);
  }

 private:
  magic_t m_;
};

constexpr std::array<std::string_view, 20> kExecutableTypes{
    "application/x-dosexec",       "application/vnd.microsoft.portable-executable",
    "application/x-executable",    "application/x-sharedlib",
    "application/x-pie-executable", "application/x-mach-binary",
    "application/x-msi",           "application/x-ms-installer",
    "application/java-archive",    "application/x-java-applet",
    "application/x-elf",           "application/x-ms-shortcut",
    "application/hta",             "application/x-msdownload",
    "text/x-shellscript",          "text/x-msdos-batch",
    "application/x-bat",           "text/x-vbscript",
    "application/x-ms-wim",        "application/x-object",
};

// Extensions Windows or a desktop runs on a double click.
constexpr std::array<std::string_view, 24> kExecutableExtensions{
    "exe", "scr", "com", "bat", "cmd", "pif", "cpl", "msi", "msp", "js",  "jse", "vbs",
    "vbe", "wsf", "wsh", "hta", "lnk", "jar", "ps1", "reg", "iso", "img", "dll", "sh",
};

// Text as far as reading goes. BinHex is 7-bit text by design: a text body holding a BinHex block is
// still read as text, and the block is cut out of it (encoded_blocks.hpp). RTF is 7-bit too, but a
// document format that embeds objects: it is never read as the text it claims to be.
bool text_like(std::string_view t) {
  return (t.starts_with("text/") && t != "text/rtf") || t == "message/rfc822" || t == "message/news" ||
         t == kUnknown || t == "application/x-empty" || t == "application/mac-binhex40";
}

// Signatures of formats that can be written in printable bytes (or that libmagic must see whatever the
// declared type): PDF readers find "%PDF-" anywhere in the first 1024 bytes, the others must lead.
constexpr std::size_t kPdfWindow = 1024;
constexpr std::array<std::string_view, 5> kLeadingSignatures{
    "MZ", std::string_view("PK\x03\x04", 4), "\xD0\xCF\x11\xE0", "\x7f" "ELF", "{\\rtf"};

bool has_binary_signature(std::string_view bytes) {
  if (bytes.substr(0, kPdfWindow).find("%PDF-") != std::string_view::npos) return true;
  return std::any_of(kLeadingSignatures.begin(), kLeadingSignatures.end(),
                     [&](std::string_view sig) { return bytes.starts_with(sig); });
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The last extension of `name` (lowercase) and the stem before it, trailing dots/blanks ignored.
std::pair<std::string, std::string> split_extension(std::string_view name) {
  while (!name.empty() && (name.back() == '.' || name.back() == ' ')) name.remove_suffix(1);
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return {std::string(name), ""};
  std::string_view stem = name.substr(0, dot);
  while (!stem.empty() && stem.back() == ' ') stem.remove_suffix(1);  // "a.pdf      .exe"
  return {std::string(stem), lower_ascii(name.substr(dot + 1))};
}

bool plausible_extension(std::string_view ext) {
  return !ext.empty() && ext.size() <= 5 &&
         std::all_of(ext.begin(), ext.end(), [](unsigned char c) { return std::isalnum(c) != 0; });
}

}  // namespace

std::string detect_type(std::string_view untrusted_bytes) {
  thread_local const MagicHandle handle;
  std::string t = handle.type_of(untrusted_bytes);
  if (t == kUnknown && untrusted_bytes.starts_with("MZ")) return "application/x-dosexec";
  if (t == kUnknown && untrusted_bytes.starts_with("\x7f" "ELF")) return "application/x-executable";
  return t;
}

std::string detect_part_type(std::string_view declared_type, std::string_view untrusted_bytes) {
  const std::string_view prefix = untrusted_bytes.substr(0, kDetectPrefix);
  const bool plain = !prefix.empty() && declared_type.starts_with("text/") && !has_binary_signature(prefix) &&
                     std::none_of(prefix.begin(), prefix.end(), [](char ch) {
                       const auto c = static_cast<unsigned char>(ch);
                       return (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b) || c == 0x7f;
                     });
  return plain ? std::string(declared_type) : detect_type(untrusted_bytes);
}

bool is_executable_type(std::string_view detected_type) {
  return std::find(kExecutableTypes.begin(), kExecutableTypes.end(), detected_type) != kExecutableTypes.end();
}

std::vector<std::string> risk_flags(std::string_view declared_type, std::string_view detected_type,
                                    std::string_view filename) {
  std::vector<std::string> flags;
  const auto [stem, ext] = split_extension(filename);
  const bool runs = std::find(kExecutableExtensions.begin(), kExecutableExtensions.end(), ext) !=
                    kExecutableExtensions.end();
  if (runs && plausible_extension(split_extension(stem).second)) flags.emplace_back("double_extension");
  if (is_executable_type(detected_type) && !is_executable_type(declared_type)) {
    flags.emplace_back("executable_disguised");
  }
  const bool both_text = declared_type.starts_with("text/") && text_like(detected_type);
  if (declared_type != detected_type && declared_type != kUnknown && detected_type != "application/x-empty" &&
      !both_text) {
    flags.emplace_back("type_mismatch");
  }
  return flags;
}

std::string effective_type(std::string_view declared_type, std::string_view detected_type) {
  const bool keep_declared = text_like(detected_type) && !is_executable_type(detected_type);
  return std::string(keep_declared ? declared_type : detected_type);
}

}  // namespace mugai::sanitize
