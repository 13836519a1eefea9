// mimetic behind a small interface: parses, then walks the entity tree iteratively, counting every
// entity (also those inside message/rfc822) against max_parts and max_depth before using any of it.
// Whatever mimetic throws comes back as an error value, and nothing it allocated leaks.
#include "sanitizers/mime.hpp"

#include <mimetic/mimetic.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <sstream>
#include <utility>

#include "common/ascii.hpp"
#include "sanitizers/params.hpp"

namespace mugai::sanitize {
namespace {

// The raw field value with folding undone ("" when absent).
std::string unfolded_field(const mimetic::Header& header, const std::string& name) {
  if (!header.hasField(name)) return {};
  std::string value = header.field(name).value();
  std::erase_if(value, [](char c) { return c == '\r' || c == '\n'; });
  return value;
}

struct Pending {
  const mimetic::MimeEntity* entity;
  std::size_t depth;
  std::string path;
  std::optional<std::size_t> parent;  // index in the output; unset inside message/rfc822
  bool digest_child;                  // default type message/rfc822 (RFC 2046 §5.1.5)
};

}  // namespace

ParsedMime parse_mime(std::string_view untrusted_message, const Limits& limits) {
  ParsedMime result;
  if (untrusted_message.empty()) {
    result.error = "empty message";
    return result;
  }
  // Constructed first, loaded second: when load() throws, the root is a whole object whose destructor
  // frees the children mimetic already attached (a throw from the loading constructor leaks them).
  auto root = std::make_shared<mimetic::MimeEntity>();
  try {
    root->load(untrusted_message.begin(), untrusted_message.end());
  } catch (const std::exception& e) {
    result.error = std::string("MIME parser failed: ") + e.what();
    return result;
  }
  if (root->header().empty()) {
    result.error = "no header fields";
    return result;
  }
  MimeTree tree;
  std::vector<Pending> todo{{root.get(), 0, "1", std::nullopt, false}};
  std::size_t seen = 0;
  while (!todo.empty()) {
    Pending cur = std::move(todo.back());
    todo.pop_back();
    if (++seen > limits.max_parts) {
      result.breach = LimitBreach{"max_parts", "more than " + std::to_string(limits.max_parts) + " parts"};
      return result;
    }
    if (cur.depth > limits.max_depth) {
      result.breach = LimitBreach{"max_depth", "nesting deeper than " + std::to_string(limits.max_depth)};
      return result;
    }
    const auto& header = cur.entity->header();
    const auto& body = cur.entity->body();
    const bool in_model = cur.depth == 0 || cur.parent.has_value();
    std::string type;
    if (header.hasField("Content-Type")) {
      const auto& ct = header.contentType();
      type = ascii::lower(std::string(ct.type()) + "/" + std::string(ct.subtype()));
    }
    if (type.empty() || type == "/" || type.front() == '/' || type.back() == '/') {
      type = cur.digest_child ? "message/rfc822" : "text/plain";
    }
    const bool multipart = type.rfind("multipart/", 0) == 0;
    std::optional<std::size_t> index;
    if (in_model) {
      MimePart part;
      part.path = cur.path;
      part.depth = cur.depth;
      part.type = type;
      part.container = multipart;
      // Parameters are read by params.cpp, not mimetic: RFC 2231 and the encoded words real mailers
      // put in names. The filename is decoded and escaped once here, for every later use.
      const Params ct = parse_params(unfolded_field(header, "Content-Type"));
      if (const auto it = ct.values.find("charset"); it != ct.values.end()) part.charset = it->second;
      part.filename = display_filename(parse_params(unfolded_field(header, "Content-Disposition")));
      if (part.filename.empty()) part.filename = display_filename(ct);
      if (header.hasField("Content-Transfer-Encoding")) {
        part.transfer_encoding = ascii::lower(std::string(header.contentTransferEncoding().mechanism()));
      }
      if (type == "message/rfc822" && !body.parts().empty()) {
        // mimetic parsed the enclosed message into a child; its serialisation stands in for the bytes.
        std::ostringstream os;
        os << *body.parts().front();
        part.body = tree.storage.emplace_back(os.str());
      } else if (multipart && body.parts().empty()) {
        part.body = body.preamble();  // no delimiter was found: everything landed here
      } else {
        part.body = body;
      }
      index = tree.parts.size();
      if (cur.parent) tree.parts[*cur.parent].children.push_back(*index);
      tree.parts.push_back(std::move(part));
    }
    // Children go on the stack in reverse so parts come out in document order.
    const auto& children = body.parts();
    std::size_t n = children.size();
    for (auto it = children.rbegin(); it != children.rend(); ++it, --n) {
      const bool model_child = in_model && multipart;
      todo.push_back(Pending{*it, cur.depth + 1, cur.path + "." + std::to_string(n),
                             model_child ? index : std::nullopt, type == "multipart/digest"});
    }
  }
  tree.owner = std::move(root);
  result.tree = std::move(tree);
  return result;
}

}  // namespace mugai::sanitize
