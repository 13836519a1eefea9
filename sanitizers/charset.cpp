// Conversion to UTF-8 (glibc iconv plus an own CP50221-compatible ISO-2022-JP reader), charset
// detection, output encoding and safe display of untrusted names; see charset.hpp.
#include "sanitizers/charset.hpp"

#include <iconv.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <unordered_map>

#include "common/ascii.hpp"
#include "common/utf8.hpp"

namespace mugai::sanitize {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// iconv_open takes suffixes such as //TRANSLIT and arbitrary names; only plain labels get through.
bool safe_label(std::string_view label) {
  return !label.empty() && label.size() <= 40 &&
         std::all_of(label.begin(), label.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':';
         });
}

// How a decoder resynchronises after an undecodable sequence. Skipping a whole double-byte
// sequence matters: a lone skipped lead byte would let an ASCII trail byte appear as a letter.
enum class Family { Utf8, Iso2022Jp, Cp932, EucJp, Other };

struct Charset {
  Family family;
  std::string iconv_name;  // canonical name, also what Utf8Text::charset reports
  bool single_byte = false;  // Latin-like: valid non-ASCII UTF-8 under this label is really UTF-8
  bool other_cjk = false;    // Chinese/Korean: Japanese detection would only produce mojibake
  bool ascii_compatible = false;  // 7-bit bytes without ESC/SO/SI mean ASCII
};

struct Alias {
  std::string_view label;
  std::string_view canonical;
};

// The labels mail actually carries, mapped to the superset the sending software meant.
constexpr std::array<Alias, 43> kAliases = {{
    {"utf-8", "UTF-8"}, {"utf8", "UTF-8"}, {"us-ascii", "UTF-8"}, {"ascii", "UTF-8"},
    {"iso-2022-jp", "ISO-2022-JP"}, {"csiso2022jp", "ISO-2022-JP"}, {"iso2022jp", "ISO-2022-JP"},
    {"cp50220", "ISO-2022-JP"}, {"cp50221", "ISO-2022-JP"}, {"cp50222", "ISO-2022-JP"},
    {"shift_jis", "CP932"}, {"shift-jis", "CP932"}, {"sjis", "CP932"}, {"x-sjis", "CP932"},
    {"ms_kanji", "CP932"}, {"csshiftjis", "CP932"}, {"windows-31j", "CP932"}, {"cp932", "CP932"},
    {"ms932", "CP932"}, {"x-ms-cp932", "CP932"},
    {"euc-jp", "EUC-JP-MS"}, {"x-euc-jp", "EUC-JP-MS"}, {"eucjp", "EUC-JP-MS"}, {"euc-jp-ms", "EUC-JP-MS"},
    {"cseucpkdfmtjapanese", "EUC-JP-MS"},
    {"gb2312", "GB18030"}, {"gbk", "GB18030"}, {"x-gbk", "GB18030"}, {"cp936", "GB18030"},
    {"euc-cn", "GB18030"}, {"csgb2312", "GB18030"}, {"gb18030", "GB18030"},
    {"big5", "CP950"}, {"big-5", "CP950"}, {"x-x-big5", "CP950"}, {"cn-big5", "CP950"},
    {"euc-kr", "CP949"}, {"ks_c_5601-1987", "CP949"}, {"ks_c_5601-1989", "CP949"}, {"cp949", "CP949"},
    {"iso-8859-1", "WINDOWS-1252"}, {"latin1", "WINDOWS-1252"}, {"windows-1252", "WINDOWS-1252"},
}};

// iconv_name is empty when the label is unusable (unsafe for iconv_open).
Charset resolve(std::string_view untrusted_label) {
  const std::string label = ascii::lower(untrusted_label);
  std::string name;
  for (const auto& a : kAliases) {
    if (a.label == label) name = a.canonical;
  }
  if (name.empty() && safe_label(label)) name = label;
  Charset cs{Family::Other, name};
  if (name == "UTF-8") cs.family = Family::Utf8;
  if (name == "ISO-2022-JP") cs.family = Family::Iso2022Jp;
  if (name == "CP932") cs.family = Family::Cp932;
  if (name == "EUC-JP-MS") cs.family = Family::EucJp;
  cs.single_byte = name == "WINDOWS-1252" || name.starts_with("iso-8859") || name.starts_with("windows-125") ||
                   name.starts_with("cp125") || name.starts_with("latin") || name.starts_with("koi8");
  cs.other_cjk = name == "GB18030" || name == "CP950" || name == "CP949" || name.starts_with("big5") ||
                 name.starts_with("gb") || name.starts_with("euc-kr") || name.starts_with("euc-tw") ||
                 name.starts_with("hz") || name.starts_with("iso-2022-kr") || name.starts_with("iso-2022-cn");
  cs.ascii_compatible = cs.family != Family::Other || cs.single_byte ||
                        (cs.other_cjk && !name.starts_with("hz") && !name.starts_with("iso-2022"));
  return cs;
}

class Iconv {
 public:
  Iconv(const char* to, const char* from) : cd_(iconv_open(to, from)) {}
  ~Iconv() {
    if (ok()) iconv_close(cd_);
  }
  Iconv(const Iconv&) = delete;
  Iconv& operator=(const Iconv&) = delete;
  bool ok() const { return cd_ != reinterpret_cast<iconv_t>(-1); }
  iconv_t get() const { return cd_; }

 private:
  iconv_t cd_;
};

void add_replacement(Utf8Text& out) {
  out.text += kReplacement;
  ++out.replacements;
}

// UTF-8 validation with replacement.
void append_repaired_utf8(std::string_view in, Utf8Text& out) {
  out.text.reserve(out.text.size() + in.size());
  std::size_t valid_from = 0;  // copied in stretches: most input is valid all through
  for (std::size_t i = 0; i < in.size();) {
    const std::size_t n = static_cast<unsigned char>(in[i]) < 0x80 ? 1 : utf8::sequence_length(in, i);
    if (n != 0) {
      i += n;
      continue;
    }
    out.text.append(in.substr(valid_from, i - valid_from));
    add_replacement(out);
    valid_from = ++i;
  }
  out.text.append(in.substr(valid_from));
}

std::size_t bad_sequence_length(std::string_view rest, Family family) {
  if (rest.size() < 2) return 1;
  const auto b0 = static_cast<unsigned char>(rest[0]), b1 = static_cast<unsigned char>(rest[1]);
  if (family == Family::Cp932) {
    const bool lead = (b0 >= 0x81 && b0 <= 0x9F) || (b0 >= 0xE0 && b0 <= 0xFC);
    const bool trail = (b1 >= 0x40 && b1 <= 0x7E) || (b1 >= 0x80 && b1 <= 0xFC);
    return lead && trail ? 2 : 1;
  }
  if (family == Family::EucJp) {
    if (b0 == 0x8F && b1 >= 0xA1 && rest.size() >= 3 && static_cast<unsigned char>(rest[2]) >= 0xA1) return 3;
    if ((b0 == 0x8E || b0 >= 0xA1) && b1 >= 0xA1 && b0 != 0xFF && b1 != 0xFF) return 2;
  }
  return 1;
}

// Converts with iconv, replacing each undecodable sequence with one U+FFFD. False if iconv does not
// know the charset (nothing is appended then).
bool append_iconv(std::string_view in, const std::string& name, Family family, Utf8Text& out) {
  Iconv cd("UTF-8", name.c_str());
  if (!cd.ok()) return false;
  const std::size_t start = out.text.size();
  // UTF-8 needs at most 4 bytes per input byte for every charset glibc knows, plus replacements.
  out.text.resize(start + in.size() * 4 + 16);
  char* in_ptr = const_cast<char*>(in.data());  // iconv's signature; it does not write there
  std::size_t in_left = in.size();
  char* out_ptr = out.text.data() + start;
  std::size_t out_left = out.text.size() - start;
  while (in_left > 0) {
    if (iconv(cd.get(), &in_ptr, &in_left, &out_ptr, &out_left) != static_cast<std::size_t>(-1)) break;
    if (errno == E2BIG || out_left < kReplacement.size()) break;  // cannot happen with the 4x bound
    std::copy(kReplacement.begin(), kReplacement.end(), out_ptr);
    out_ptr += kReplacement.size();
    out_left -= kReplacement.size();
    ++out.replacements;
    if (errno == EINVAL) break;  // truncated sequence at the end
    const std::size_t skip = std::min(in_left, bad_sequence_length(std::string_view(in_ptr, in_left), family));
    in_ptr += skip;
    in_left -= skip;
  }
  // Flush the shift state of stateful charsets whose input ended outside their initial state.
  iconv(cd.get(), nullptr, nullptr, &out_ptr, &out_left);
  out.text.resize(static_cast<std::size_t>(out_ptr - out.text.data()));
  return true;
}

// ISO-2022-JP as Windows reads it (CP50221): JIS X 0208 rows go through CP932 so that NEC row 13 and
// the NEC-selected IBM rows 89-92 decode, ESC ( I and SO/SI give half-width katakana, JIS X 0212
// (ESC $ ( D) goes through EUC-JP-MS. Bytes are batched per target charset and converted in runs.
class Iso2022JpReader {
 public:
  explicit Iso2022JpReader(Utf8Text& out) : out_(out) {}

  void read(std::string_view in) {
    for (std::size_t i = 0; i < in.size();) i += step(in.substr(i));
    flush();
  }

 private:
  enum class Mode { Ascii, Jis0208, Kana, Jis0212 };

  static bool graphic(unsigned char c) { return c >= 0x21 && c <= 0x7E; }

  std::size_t escape(std::string_view s) {
    struct Designation {
      std::string_view seq;
      Mode mode;
    };
    static constexpr std::array<Designation, 9> kDesignations = {{
        {"\x1B(B", Mode::Ascii}, {"\x1B(J", Mode::Ascii}, {"\x1B(H", Mode::Ascii},
        {"\x1B$B", Mode::Jis0208}, {"\x1B$@", Mode::Jis0208}, {"\x1B(I", Mode::Kana},
        {"\x1B$(D", Mode::Jis0212}, {"\x1B$(Q", Mode::Jis0208}, {"\x1B$(O", Mode::Jis0208},
    }};
    for (const auto& d : kDesignations) {
      if (s.starts_with(d.seq)) {
        mode_ = d.mode;
        return d.seq.size();
      }
    }
    if (s.starts_with("\x1B&@")) return 3;  // JIS X 0208-1990 announcer: no change of set
    bad();
    return 1;
  }

  std::size_t step(std::string_view s) {
    const auto c = static_cast<unsigned char>(s[0]);
    if (c == 0x1B) return escape(s);
    if (c == 0x0E || c == 0x0F) {
      shifted_ = c == 0x0E;
      return 1;
    }
    if (c >= 0x80) {
      bad();
      return 1;
    }
    // White space and controls keep their meaning in every mode, as lenient readers do.
    if (!graphic(c) || (mode_ == Mode::Ascii && !shifted_)) {
      put(Family::Cp932, static_cast<char>(c));
      return 1;
    }
    if (shifted_ || mode_ == Mode::Kana) {
      if (c > 0x5F) {
        bad();
      } else {
        put(Family::Cp932, static_cast<char>(c | 0x80));
      }
      return 1;
    }
    if (s.size() < 2 || !graphic(static_cast<unsigned char>(s[1]))) {
      bad();
      return 1;
    }
    const auto c2 = static_cast<unsigned char>(s[1]);
    if (mode_ == Mode::Jis0212) {
      put(Family::EucJp, '\x8F');
      put(Family::EucJp, static_cast<char>(c | 0x80));
      put(Family::EucJp, static_cast<char>(c2 | 0x80));
      return 2;
    }
    // JIS row/cell to Shift_JIS.
    const unsigned s1 = ((c + 1u) >> 1) + (c <= 0x5E ? 0x70u : 0xB0u);
    const unsigned s2 = c2 + ((c & 1u) != 0 ? (c2 < 0x60 ? 0x1Fu : 0x20u) : 0x7Eu);
    put(Family::Cp932, static_cast<char>(s1));
    put(Family::Cp932, static_cast<char>(s2));
    return 2;
  }

  void put(Family family, char byte) {
    if (family != pending_family_) flush();
    pending_family_ = family;
    pending_ += byte;
  }

  void bad() {
    flush();
    add_replacement(out_);
  }

  void flush() {
    if (pending_.empty()) return;
    append_iconv(pending_, pending_family_ == Family::Cp932 ? "CP932" : "EUC-JP-MS", pending_family_, out_);
    pending_.clear();
  }

  Utf8Text& out_;
  Mode mode_ = Mode::Ascii;
  bool shifted_ = false;
  std::string pending_;
  Family pending_family_ = Family::Cp932;
};

Utf8Text decode(std::string_view in, const Charset& cs) {
  Utf8Text out;
  out.charset = cs.iconv_name;
  if (cs.iconv_name.empty()) {
    out.charset_known = false;
  } else if (cs.family == Family::Utf8) {
    append_repaired_utf8(in, out);
  } else if (cs.family == Family::Iso2022Jp) {
    Iso2022JpReader(out).read(in);
  } else if (!append_iconv(in, cs.iconv_name, cs.family, out)) {
    out.charset_known = false;
  }
  return out;
}

bool all_ascii(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool looks_iso2022jp(std::string_view s) {
  return all_ascii(s) && (s.find("\x1B$B") != std::string_view::npos || s.find("\x1B$@") != std::string_view::npos ||
                          s.find("\x1B(I") != std::string_view::npos);
}

// How Japanese a decoding looks: kana and kanji count for it; half-width katakana (what EUC-JP
// bytes become when read as CP932), private-use code points and C1 controls against it.
long japanese_score(std::string_view utf8) {
  long score = 0;
  for (std::size_t i = 0; i < utf8.size();) {
    const std::size_t n = std::max<std::size_t>(1, utf8::sequence_length(utf8, i));
    if (n == 2 && static_cast<unsigned char>(utf8[i]) == 0xC2 && static_cast<unsigned char>(utf8[i + 1]) < 0xA0) {
      score -= 2;  // C1 control: EUC-JP readers pass 0x80..0x8D through as these
    }
    if (n == 3) {
      const auto b0 = static_cast<unsigned char>(utf8[i]), b1 = static_cast<unsigned char>(utf8[i + 1]),
                 b2 = static_cast<unsigned char>(utf8[i + 2]);
      const std::uint32_t cp = ((b0 & 0x0Fu) << 12) | ((b1 & 0x3Fu) << 6) | (b2 & 0x3Fu);
      if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x4E00 && cp <= 0x9FFF)) ++score;
      if ((cp >= 0xFF61 && cp <= 0xFF9F) || (cp >= 0xE000 && cp <= 0xF8FF)) score -= 2;
    }
    i += n;
  }
  return score;
}

// The charset that decodes `in` cleanly, if any: ISO-2022-JP for 7-bit text with JIS escapes
// (nothing else reads those better, so it is returned even when damaged), UTF-8, then the better
// of CP932 and EUC-JP if it looks Japanese at all. Otherwise UTF-8 with replacements.
Utf8Text detect(std::string_view in, bool japanese, bool& clean) {
  clean = true;
  if (looks_iso2022jp(in)) {
    Utf8Text jis = decode(in, resolve("iso-2022-jp"));
    clean = jis.replacements == 0;
    return jis;
  }
  if (utf8::is_valid(in)) return decode(in, resolve("utf-8"));
  if (japanese) {
    Utf8Text sjis = decode(in, resolve("cp932"));
    Utf8Text euc = decode(in, resolve("euc-jp"));
    const long sjis_score = sjis.replacements == 0 ? japanese_score(sjis.text) : 0;
    const long euc_score = euc.replacements == 0 ? japanese_score(euc.text) : 0;
    if (sjis_score > 0 && sjis_score >= euc_score) return sjis;
    if (euc_score > 0) return euc;
  }
  clean = false;
  return decode(in, resolve("utf-8"));
}

std::string shown_label(std::string_view untrusted_label) {
  return escape_for_display(untrusted_label.substr(0, 40));
}

}  // namespace

Utf8Text to_utf8(std::string_view untrusted, std::string_view untrusted_charset) {
  const Charset declared = resolve(untrusted_charset);
  // Plain ASCII reads the same in every ASCII-compatible charset; skip the work.
  if ((untrusted_charset.empty() || declared.ascii_compatible) && all_ascii(untrusted) &&
      untrusted.find_first_of("\x1B\x0E\x0F") == std::string_view::npos) {
    Utf8Text out = decode(untrusted, resolve("utf-8"));
    if (!untrusted_charset.empty()) out.charset = declared.iconv_name;
    return out;
  }
  bool clean = false;
  if (untrusted_charset.empty()) {
    Utf8Text out = detect(untrusted, true, clean);
    if (!clean) out.note = "no charset declared and none decodes cleanly";
    return out;
  }
  Utf8Text out = decode(untrusted, declared);
  if (!out.charset_known) {
    Utf8Text guess = detect(untrusted, true, clean);
    guess.charset_known = false;
    guess.note = "unknown charset \"" + shown_label(untrusted_charset) + "\", decoded as " + guess.charset;
    return guess;
  }
  const bool utf8_in_latin = declared.single_byte && !all_ascii(untrusted) && utf8::is_valid(untrusted);
  // ESC is a control in every ASCII-compatible charset: JIS escapes there mean mislabelled ISO-2022-JP.
  const bool jis_mislabelled =
      declared.ascii_compatible && declared.family != Family::Iso2022Jp && looks_iso2022jp(untrusted);
  if (out.replacements == 0 && !utf8_in_latin && !jis_mislabelled) return out;
  Utf8Text guess = detect(untrusted, !declared.other_cjk, clean);
  if (!clean || guess.charset == out.charset) return out;
  guess.note = "declared charset \"" + shown_label(untrusted_charset) + "\" does not match the content, decoded as " +
               guess.charset;
  return guess;
}


namespace {


// CP932 has the IBM extensions twice; CP50221 can only carry the NEC-selected copy (JIS rows
// 89-92), while iconv encodes to the IBM copy (0xFA40..). Built once from iconv's own table.
const std::unordered_map<std::uint32_t, std::uint16_t>& nec_selected_ibm() {
  static const auto table = [] {
    std::unordered_map<std::uint32_t, std::uint16_t> t;
    for (unsigned s1 = 0xED; s1 <= 0xEE; ++s1) {
      for (unsigned s2 = 0x40; s2 <= 0xFC; ++s2) {
        const char pair[2] = {static_cast<char>(s1), static_cast<char>(s2)};
        Utf8Text one;
        append_iconv(std::string_view(pair, 2), "CP932", Family::Cp932, one);
        const std::size_t n = utf8::sequence_length(one.text, 0);
        if (one.replacements == 0 && n > 0 && n == one.text.size()) {
          t.emplace(utf8::code_point(one.text, 0, n), static_cast<std::uint16_t>((s1 << 8) | s2));
        }
      }
    }
    return t;
  }();
  return table;
}

// Half-width katakana U+FF61..U+FF9F as full-width; legacy ISO-2022-JP readers know only these.
constexpr std::u32string_view kFullWidthKana =
    U"。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜";

class Iso2022JpWriter {
 public:
  EncodedText write(std::string_view utf8) {
    out_.charset = "ISO-2022-JP";
    for (std::size_t i = 0; i < utf8.size();) {
      const std::size_t n = utf8::sequence_length(utf8, i);
      if (n == 0) {  // callers pass valid UTF-8; never loop forever on bad input
        geta();
        ++i;
        continue;
      }
      std::uint32_t cp = utf8::code_point(utf8, i, n);
      i += n;
      if (cp >= 0xFF61 && cp <= 0xFF9F) {
        std::uint32_t mark = 0;
        if (i + 3 <= utf8.size() && utf8::sequence_length(utf8, i) == 3) mark = utf8::code_point(utf8, i, 3);
        const bool voiced = mark == 0xFF9E && ((cp >= 0xFF76 && cp <= 0xFF84) || (cp >= 0xFF8A && cp <= 0xFF8E) ||
                                               cp == 0xFF73);
        const bool semi = mark == 0xFF9F && cp >= 0xFF8A && cp <= 0xFF8E;
        cp = kFullWidthKana[cp - 0xFF61];
        if (voiced) cp = cp == U'ウ' ? U'ヴ' : cp + 1;
        if (semi) cp += 2;
        if (voiced || semi) i += 3;
      }
      put(cp);
    }
    ascii_mode();
    return std::move(out_);
  }

 private:
  void ascii_mode() {
    if (jis_) out_.bytes += "\x1B(B";
    jis_ = false;
  }

  void jis(unsigned j1, unsigned j2) {
    if (!jis_) out_.bytes += "\x1B$B";
    jis_ = true;
    out_.bytes += static_cast<char>(j1);
    out_.bytes += static_cast<char>(j2);
  }

  void geta() {
    jis(0x22, 0x2E);
    ++out_.unrepresentable;
  }

  void put(std::uint32_t cp) {
    if (cp < 0x80) {
      if (cp == 0x1B || cp == 0x0E || cp == 0x0F) {  // would change the reader's state
        geta();
        return;
      }
      ascii_mode();
      out_.bytes += static_cast<char>(cp);
      return;
    }
    unsigned s1 = 0, s2 = 0;
    const auto& nec = nec_selected_ibm();
    if (const auto it = nec.find(cp); it != nec.end()) {
      s1 = it->second >> 8;
      s2 = it->second & 0xFFu;
    } else if (!to_cp932(cp, s1, s2)) {
      geta();
      return;
    }
    // Shift_JIS to JIS row/cell; the user-defined area (0xF0..) has no JIS row.
    const unsigned offset = s1 <= 0x9F ? 0x70 : 0xB0;
    unsigned j1 = (s1 - offset) * 2, j2 = s2 - 0x7E;
    if (s2 < 0x9F) {
      j1 -= 1;
      j2 = s2 - 0x1F - (s2 >= 0x80 ? 1 : 0);
    }
    if (j1 < 0x21 || j1 > 0x7E) {
      geta();
      return;
    }
    jis(j1, j2);
  }

  // Double-byte CP932 encoding of one code point, false when there is none (single-byte results
  // such as U+00A5 → 0x5C would change the character).
  bool to_cp932(std::uint32_t cp, unsigned& s1, unsigned& s2) {
    if (!cd_.ok()) return false;
    std::string utf8_in;
    utf8::append(utf8_in, cp);
    char* in_ptr = utf8_in.data();
    std::size_t in_len = utf8_in.size();
    char out[8];
    char* out_ptr = out;
    std::size_t out_left = sizeof out;
    const std::size_t r = iconv(cd_.get(), &in_ptr, &in_len, &out_ptr, &out_left);
    iconv(cd_.get(), nullptr, nullptr, nullptr, nullptr);
    if (r == static_cast<std::size_t>(-1) || out_ptr - out != 2) return false;
    s1 = static_cast<unsigned char>(out[0]);
    s2 = static_cast<unsigned char>(out[1]);
    return true;
  }

  Iconv cd_{"CP932", "UTF-8"};
  EncodedText out_;
  bool jis_ = false;
};

}  // namespace

bool output_charset_supported(std::string_view charset) {
  const std::string label = ascii::lower(charset);
  return label == "utf-8" || label == "utf8" || label == "iso-2022-jp";
}

EncodedText encode_output(std::string_view utf8, std::string_view charset) {
  if (ascii::lower(charset) == "iso-2022-jp") return Iso2022JpWriter().write(utf8);
  return EncodedText{std::string(utf8), "UTF-8", 0};
}

std::string escape_for_display(std::string_view untrusted) {
  std::string out;
  char buf[16];
  for (std::size_t i = 0; i < untrusted.size();) {
    const std::size_t n = utf8::sequence_length(untrusted, i);
    if (n == 0) {
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned char>(untrusted[i]));
      out += buf;
      ++i;
      continue;
    }
    const std::uint32_t cp = utf8::code_point(untrusted, i, n);
    const bool control = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
    const bool bidi = (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
                      cp == 0x200E || cp == 0x200F || cp == 0x061C;
    // Text renderers break lines at these (UAX #14 class BK): a name could otherwise fake a line.
    const bool line_break = cp == 0x2028 || cp == 0x2029;
    if (control || bidi || line_break) {
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out.append(untrusted.substr(i, n));
    }
    i += n;
  }
  return out;
}

}  // namespace mugai::sanitize
