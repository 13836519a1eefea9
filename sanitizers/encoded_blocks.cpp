// Finds encoded blocks line by line; see encoded_blocks.hpp for the forms recognised. A block start is
// matched as loosely as the loosest decoder reads it (any mode, any or no name) because a false
// positive only removes text, while a miss would deliver a file.
#include "sanitizers/encoded_blocks.hpp"

namespace mugai::sanitize {
namespace {

struct Line {
  std::size_t begin;  // offset of the first character
  std::size_t end;    // offset after the line's LF (or the text end)
  std::string_view text;  // without the LF
};

class Lines {
 public:
  explicit Lines(std::string_view s) : s_(s) {}
  bool next(Line& out) {
    if (pos_ >= s_.size()) return false;
    const std::size_t lf = s_.find('\n', pos_);
    const std::size_t stop = lf == std::string_view::npos ? s_.size() : lf;
    out = Line{pos_, lf == std::string_view::npos ? s_.size() : lf + 1, s_.substr(pos_, stop - pos_)};
    pos_ = out.end;
    return true;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// A block start as decoders read it. GNU uudecode tries sscanf "begin-base64 %o %s", then "begin %o %s",
// on a line starting with "begin": a blank in the format matches none, %o takes a sign and any number
// of octal digits, and the name may follow the mode without a blank. Other decoders (uudeview, old
// mail clients) also decode a block without a name. So: "begin" or "begin-base64", optional blanks,
// an optional sign, an octal digit; the name, possibly empty, is what follows the mode.
bool uuencode_start(std::string_view line, std::string& name) {
  if (!line.starts_with("begin")) return false;
  std::string_view rest = line.substr(5);
  if (rest.starts_with("-base64")) rest.remove_prefix(7);
  const auto skip_blanks = [&rest] {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t' || rest.front() == '\r' ||
                             rest.front() == '\f' || rest.front() == '\v')) {
      rest.remove_prefix(1);
    }
  };
  const auto octal = [&rest] { return !rest.empty() && rest.front() >= '0' && rest.front() <= '7'; };
  skip_blanks();
  if (!rest.empty() && (rest.front() == '+' || rest.front() == '-')) rest.remove_prefix(1);
  if (!octal()) return false;
  while (octal()) rest.remove_prefix(1);
  skip_blanks();
  name = std::string(trim_right(rest));
  return true;
}

// yEnc parameters: "name=" runs to the line end by the spec.
bool yenc_start(std::string_view line, std::string& name) {
  if (!line.starts_with("=ybegin ")) return false;
  const auto at = line.find(" name=");
  name = at == std::string_view::npos ? std::string() : std::string(trim_right(line.substr(at + 6)));
  return true;
}

bool binhex_start(std::string_view line) { return line.find("(This file must be converted with BinHex") != std::string_view::npos; }

// Where the block just started ends (offset after its last line); consumes its lines.
std::size_t block_end(Lines& lines, const std::string& kind, std::size_t text_end) {
  Line l;
  bool binhex_data = false;
  while (lines.next(l)) {
    const std::string_view t = trim_right(l.text);
    if (kind == "uuencode" && (t == "end" || t == "====")) return l.end;
    if (kind == "yenc" && t.starts_with("=yend")) return l.end;
    if (kind == "binhex") {
      // The data starts with ':' and ends with the next ':' at a line end.
      if (!binhex_data && t.starts_with(":")) {
        binhex_data = true;
        if (t.size() > 1 && t.back() == ':') return l.end;
      } else if (binhex_data && t.ends_with(":")) {
        return l.end;
      }
    }
  }
  return text_end;
}

}  // namespace

TextWithoutBlocks remove_encoded_blocks(std::string_view text_lf) {
  TextWithoutBlocks out;
  Lines lines(text_lf);
  Line l;
  std::size_t copied = 0;  // text before this offset is already in out.text or removed
  while (lines.next(l)) {
    std::string name;
    std::string kind;
    if (uuencode_start(l.text, name)) {
      kind = "uuencode";
    } else if (yenc_start(l.text, name)) {
      kind = "yenc";
    } else if (binhex_start(l.text)) {
      kind = "binhex";
    } else {
      continue;
    }
    const std::size_t end = block_end(lines, kind, text_lf.size());
    out.text.append(text_lf.substr(copied, l.begin - copied));
    out.text += "[mugai: " + kind + " block removed / " + kind + "ブロックを削除しました]\n";
    out.blocks.push_back(EncodedBlock{kind, std::move(name), text_lf.substr(l.begin, end - l.begin)});
    copied = end;
  }
  if (out.blocks.empty()) {
    out.text = std::string(text_lf);
  } else {
    out.text.append(text_lf.substr(copied));
  }
  return out;
}

}  // namespace mugai::sanitize
