// Attachments in disguise inside text: uuencode (`begin 644 name` … `end`, `begin-base64` … `====`,
// any mode, with or without a name, as decoders accept them), BinHex 4.0
// (`(This file must be converted with BinHex` … `:`) and yEnc (`=ybegin` … `=yend`) blocks.
// Each block is cut out of the text whole, replaced by a one-line marker; an unterminated block runs
// to the end of the text (the cautious reading). Linear in the text size.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mugai::sanitize {

struct EncodedBlock {
  std::string kind;      // "uuencode", "binhex", "yenc"
  std::string filename;  // raw, as named in the block (may be empty)
  std::string_view bytes;  // the block as it appeared in the text (view into the input)
};

struct TextWithoutBlocks {
  std::string text;                  // the input with every block replaced by a marker line
  std::vector<EncodedBlock> blocks;  // views into the input: keep it alive while using them
};

// `text_lf`: decoded text with LF line ends.
TextWithoutBlocks remove_encoded_blocks(std::string_view text_lf);

}  // namespace mugai::sanitize
