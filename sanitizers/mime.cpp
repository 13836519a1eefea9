// mimetic behind a small interface: parses, then walks the entity tree iteratively, counting every
// entity against max_parts and max_depth before using any of it. mimetic splits multiparts where
// params.cpp reads the boundary, not where its own field parser does, and keeps an embedded message
// as the bytes it is. Whatever mimetic throws comes back as an error value, and nothing it allocated
// leaks.
#include "sanitizers/mime.hpp"

#include <mimetic/mimetic.h>

#include <compare>
#include <cstddef>
#include <exception>
#include <iterator>
#include <utility>

#include "sanitizers/params.hpp"

namespace mugai::sanitize {
namespace {

// mimetic's parser is a class template instantiated for the iterator it reads with. This iterator
// is mugai's own type, so the instantiation with the members specialised below belongs to this file
// alone: no other code parsing with mimetic picks them up, and no other instantiation replaces them.
class MimeByteIterator {
 public:
  using iterator_category = std::random_access_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  MimeByteIterator() = default;
  explicit MimeByteIterator(const char* p) : p_(p) {}
  reference operator*() const { return *p_; }
  reference operator[](difference_type n) const { return p_[n]; }
  MimeByteIterator& operator++() { return *this += 1; }
  MimeByteIterator operator++(int) { return std::exchange(*this, *this + 1); }
  MimeByteIterator& operator--() { return *this -= 1; }
  MimeByteIterator operator--(int) { return std::exchange(*this, *this - 1); }
  MimeByteIterator& operator+=(difference_type n) {
    p_ += n;
    return *this;
  }
  MimeByteIterator& operator-=(difference_type n) { return *this += -n; }
  friend MimeByteIterator operator+(MimeByteIterator it, difference_type n) { return it += n; }
  friend MimeByteIterator operator+(difference_type n, MimeByteIterator it) { return it += n; }
  friend MimeByteIterator operator-(MimeByteIterator it, difference_type n) { return it -= n; }
  friend difference_type operator-(MimeByteIterator a, MimeByteIterator b) { return a.p_ - b.p_; }
  friend auto operator<=>(MimeByteIterator, MimeByteIterator) = default;
  const char* base() const { return p_; }

 private:
  const char* p_ = nullptr;
};

// A field's value as mimetic keeps it (unfolded, cut at a NUL); "" when absent.
std::string field_value(const mimetic::Header& header, const std::string& name) {
  return header.hasField(name) ? header.field(name).value() : std::string();
}

// Lowercase "type/subtype" as params.cpp reads it, "" when absent or unreadable: the one reading
// that both mimetic's splitting and the part model use.
std::string media_type(const StructuredField& content_type) {
  return content_type.value.find('/') == std::string::npos ? std::string() : content_type.value;
}

StructuredField content_type(const mimetic::Header& header) {
  return parse_field(field_value(header, "Content-Type"));
}

}  // namespace
}  // namespace mugai::sanitize

namespace mimetic {

using MugaiParser = IteratorParser<mugai::sanitize::MimeByteIterator, std::input_iterator_tag>;

// mimetic's own reading of a boundary keeps comments, text after the closing quote and quoted-pair
// backslashes (`boundary="b1" (x)` is `"b1" (x)` to it): parts are delimited where the ambiguity
// check, the prescan and params.cpp see the boundary instead. No boundary means "--", as in mimetic.
template <>
std::string MugaiParser::getBoundary() {
  const auto ct = mugai::sanitize::content_type(m_entityStack.top()->header());
  const auto boundary = ct.params.values.find("boundary");
  return "--" + (boundary == ct.params.values.end() ? std::string() : boundary->second);
}

// Only multipart/* is split. An embedded message (message/rfc822) stays one body, its bytes as
// sent: the pipeline parses it on its own, and no serialisation by mimetic (which would write the
// delimiters with mimetic's reading of the boundary) stands in for it.
template <>
MugaiParser::EntityType MugaiParser::getType() {
  const auto type = mugai::sanitize::media_type(mugai::sanitize::content_type(m_entityStack.top()->header()));
  return type.starts_with("multipart/") ? etMultipart : etRfc822;
}

// The same appends as mimetic's, from the bytes: std::string appends from an iterator of class type
// one byte at a time, about 4 ms per MB of body.
template <>
void IteratorParser<mugai::sanitize::MimeByteIterator, std::random_access_iterator_tag>::onBlock(
    mugai::sanitize::MimeByteIterator bit, int size, ParsingElem pe) {
  if (pe != pePreamble && pe != peEpilogue && pe != peBody) return;
  Body& body = m_entityStack.top()->body();
  std::string& to = pe == pePreamble ? body.preamble() : pe == peEpilogue ? body.epilogue() : body;
  to.append(bit.base(), static_cast<std::size_t>(size));
}

}  // namespace mimetic

namespace mugai::sanitize {
namespace {

struct Pending {
  const mimetic::MimeEntity* entity;
  std::size_t depth;
  std::string path;
  std::optional<std::size_t> parent;  // index in the output; unset for the root
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
    const char* begin = untrusted_message.data();
    root->load(MimeByteIterator(begin), MimeByteIterator(begin + untrusted_message.size()));
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
    const StructuredField ct = content_type(header);
    MimePart part;
    part.path = cur.path;
    part.depth = cur.depth;
    part.type = media_type(ct);
    if (part.type.empty()) part.type = cur.digest_child ? "message/rfc822" : "text/plain";
    part.container = part.type.starts_with("multipart/");
    if (const auto it = ct.params.values.find("charset"); it != ct.params.values.end()) part.charset = it->second;
    // The filename is decoded and escaped once here, for every later use.
    part.filename = display_filename(parse_params(field_value(header, "Content-Disposition")));
    if (part.filename.empty()) part.filename = display_filename(ct.params);
    part.transfer_encoding = transfer_encoding(field_value(header, "Content-Transfer-Encoding"));
    // A multipart in which no delimiter was found has everything in its preamble.
    part.body = part.container && body.parts().empty() ? std::string_view(body.preamble()) : std::string_view(body);
    const std::size_t index = tree.parts.size();
    if (cur.parent) tree.parts[*cur.parent].children.push_back(index);
    const bool digest = part.type == "multipart/digest";
    tree.parts.push_back(std::move(part));
    // Children go on the stack in reverse so parts come out in document order.
    const auto& children = body.parts();
    std::size_t n = children.size();
    for (auto it = children.rbegin(); it != children.rend(); ++it, --n) {
      todo.push_back(Pending{*it, cur.depth + 1, cur.path + "." + std::to_string(n), index, digest});
    }
  }
  tree.owner = std::move(root);
  result.tree = std::move(tree);
  return result;
}

}  // namespace mugai::sanitize
