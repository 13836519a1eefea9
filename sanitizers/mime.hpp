// The MIME tree as the pipeline sees it: a flat list of parts parsed by mimetic, with the limits on
// depth and part count enforced exactly while walking it. Only call parse_mime on bytes that passed
// prescan(): mimetic itself is not bounded. Keeps mimetic out of every other file.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sanitizers/pipeline.hpp"
#include "sanitizers/prescan.hpp"

namespace mugai::sanitize {

struct MimePart {
  std::string path;               // "1", "1.2", ... (root is "1")
  std::size_t depth = 0;          // root = 0
  std::string type;               // lowercase "type/subtype", defaulted per RFC 2045/2046
  std::string charset;            // as declared
  std::string filename;           // Content-Disposition filename, else Content-Type name; display_filename()
  std::string transfer_encoding;  // transfer_encoding(): lowercase, "" when absent
  std::string_view body;          // leaves (message/rfc822 too: the enclosed message): still transfer-encoded
  std::vector<std::size_t> children;  // indices into MimeTree::parts
  bool container = false;         // multipart/*: the parts are in `children`, `body` is unused
};

struct MimeTree {
  std::vector<MimePart> parts;  // parts[0] is the root
  std::shared_ptr<const void> owner;  // keeps the parsed bytes that `body` views point into
};

struct ParsedMime {
  std::optional<MimeTree> tree;        // set on success
  std::optional<LimitBreach> breach;   // a limit was crossed
  std::string error;                   // unparseable
};

ParsedMime parse_mime(std::string_view untrusted_message, const Limits& limits);

}  // namespace mugai::sanitize
