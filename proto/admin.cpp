// The admin protocol (see admin.hpp). One table says which fields each action takes and needs; the
// parser checks every member against it, so nothing the gateway acts on was left unchecked.
#include "proto/admin.hpp"

#include <algorithm>
#include <limits>

#include "common/json.hpp"

namespace mugai::proto::admin {
namespace {

enum FieldBit : unsigned { kId = 1, kTo = 2, kReason = 4, kOlderThan = 8, kPassword = 16, kIds = 32, kLimit = 64 };

struct FieldRow {
  std::string_view name;
  FieldBit bit;
};
constexpr FieldRow kFields[] = {
    {"id", kId},         {"to", kTo},   {"reason", kReason}, {"older_than", kOlderThan},
    {"password", kPassword}, {"ids", kIds}, {"limit", kLimit}};

struct ActionRow {
  Action action;
  std::string_view name;
  unsigned takes;
  unsigned needs;  // present and not empty
};
constexpr ActionRow kActions[] = {
    {Action::Release, "release", kId | kTo | kReason, kId | kReason},
    {Action::RequestRelease, "request-release", kId | kTo | kReason, kId | kReason},
    {Action::Approve, "approve", kId, kId},
    {Action::Delete, "delete", kId | kReason, kId},
    {Action::Purge, "purge", kOlderThan, 0},
    {Action::Unlock, "unlock", kId | kReason | kPassword, kId | kReason | kPassword},
    {Action::QueueList, "queue-list", kLimit, 0},
    {Action::QueueShow, "queue-show", kId, kId},
    {Action::QueueHold, "queue-hold", kIds | kReason, kIds | kReason},
    {Action::QueueUnhold, "queue-unhold", kIds | kReason, kIds},
    {Action::QueueDelete, "queue-delete", kIds | kReason, kIds | kReason},
    {Action::QueueFlush, "queue-flush", kIds, 0},
};

// The members of a QueueMessage on the wire, each with its bound: a response is checked as strictly as
// a request, so a confused or hostile peer cannot make mugaictl hold or print more than these.
struct TextMember {
  std::string_view name;
  std::string QueueMessage::*member;
  std::size_t max;
};
constexpr TextMember kQueueTexts[] = {
    {"id", &QueueMessage::id, kMaxId},
    {"stage", &QueueMessage::stage, 16},
    {"route", &QueueMessage::route, 16},
    {"state", &QueueMessage::state, 32},
    {"mail_from", &QueueMessage::mail_from, kMaxAddress},
    {"last_error", &QueueMessage::last_error, kMaxText},
    {"hold_reason", &QueueMessage::hold_reason, kMaxText},
    {"client_ip", &QueueMessage::client_ip, kMaxAddress},
    {"helo", &QueueMessage::helo, kMaxAddress},
    {"subject", &QueueMessage::subject, kMaxText},
    {"from", &QueueMessage::from, kMaxText},
    {"date", &QueueMessage::date, kMaxText},
};
struct IntMember {
  std::string_view name;
  std::int64_t QueueMessage::*member;
};
constexpr IntMember kQueueInts[] = {
    {"arrival_unix", &QueueMessage::arrival_unix}, {"size", &QueueMessage::size},
    {"rcpt_total", &QueueMessage::rcpt_total},     {"rcpt_done", &QueueMessage::rcpt_done},
    {"attempts", &QueueMessage::attempts},         {"next_attempt_unix", &QueueMessage::next_attempt_unix},
};
struct ListMember {
  std::string_view name;
  std::vector<std::string> QueueMessage::*member;
  std::size_t max_items, max_each;
};
constexpr ListMember kQueueLists[] = {
    {"rcpt_to", &QueueMessage::rcpt_to, kMaxQueueRecipients, kMaxAddress},
    {"rcpt_done_list", &QueueMessage::rcpt_done_list, kMaxQueueRecipients, kMaxAddress},
    {"history", &QueueMessage::history, kMaxQueueHistory, kMaxText},
};

const ActionRow& row_of(Action a) {
  return *std::find_if(std::begin(kActions), std::end(kActions), [&](const ActionRow& r) { return r.action == a; });
}

// Untrusted names echoed in errors: printable ASCII, short.
std::string shown(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 32)) out += (c > 0x20 && c < 0x7f) ? c : '?';
  return s.size() > 32 ? out + "..." : out;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

Expected<std::string> text(const json::Value& v, std::string_view name, std::size_t max, bool controls_allowed) {
  if (!v.is_string()) return Error{"\"" + std::string(name) + "\" must be a string"};
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > max) return Error{"\"" + std::string(name) + "\" is longer than " + std::to_string(max) + " bytes"};
  if (!controls_allowed && has_control(s)) return Error{"\"" + std::string(name) + "\" holds a control character"};
  return s;
}

Expected<std::vector<std::string>> text_list(const json::Value& v, std::string_view name, std::size_t max_items,
                                             std::size_t max_each) {
  if (!v.is_array()) return Error{"\"" + std::string(name) + "\" must be an array of strings"};
  if (v.size() > max_items) return Error{"\"" + std::string(name) + "\" has more than " + std::to_string(max_items) + " items"};
  std::vector<std::string> out;
  for (const auto& item : v) {
    auto s = text(item, name, max_each, false);
    if (!s) return s.error();
    if (s->empty()) return Error{"\"" + std::string(name) + "\" holds an empty string"};
    out.push_back(std::move(*s));
  }
  return out;
}

Expected<std::int64_t> integer(const json::Value& v, std::string_view name, std::int64_t max) {
  const bool in_range = v.is_number_unsigned() ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(max)
                                               : v.is_number_integer() && v.get<std::int64_t>() >= 0 &&
                                                     v.get<std::int64_t>() <= max;
  if (!in_range) return Error{"\"" + std::string(name) + "\" must be an integer 0.." + std::to_string(max)};
  return v.get<std::int64_t>();
}

// The object of a line, its version checked.
Expected<json::Value> object_of(std::string_view line, std::string_view what) {
  json::Value v = json::parse(line);
  if (v.is_discarded() || !v.is_object()) return Error{"a " + std::string(what) + " is one JSON object on one line"};
  const auto version = v.find("v");
  if (version == v.end() || !version->is_number_integer() || version->get<std::int64_t>() != kVersion) {
    return Error{"the " + std::string(what) + " is not of protocol version " + std::to_string(kVersion) +
                 " (mugaictl and mugai-gateway of different releases?)"};
  }
  return v;
}

json::Value queue_json(const QueueMessage& m) {
  json::Value v = json::Value::object();
  for (const auto& t : kQueueTexts)
    if (!(m.*t.member).empty()) v[std::string(t.name)] = m.*t.member;
  for (const auto& n : kQueueInts) v[std::string(n.name)] = m.*n.member;
  for (const auto& l : kQueueLists)
    if (!(m.*l.member).empty()) v[std::string(l.name)] = m.*l.member;
  return v;
}

Expected<QueueMessage> parse_queue_message(const json::Value& v) {
  if (!v.is_object()) return Error{"a \"queue\" item must be an object"};
  QueueMessage m;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const auto& key = it.key();
    Status st = Error{"unexpected \"" + shown(key) + "\" in a queue message"};
    for (const auto& t : kQueueTexts) {
      if (t.name != key) continue;
      // Shown through the CLI's terminal escaping: controls the message carried may stay as they are.
      auto s = text(*it, t.name, t.max, true);
      st = s ? Status(Ok{}) : Status(s.error());
      if (s) m.*t.member = std::move(*s);
    }
    for (const auto& n : kQueueInts) {
      if (n.name != key) continue;
      auto i = integer(*it, n.name, std::numeric_limits<std::int64_t>::max());
      st = i ? Status(Ok{}) : Status(i.error());
      if (i) m.*n.member = *i;
    }
    for (const auto& l : kQueueLists) {
      if (l.name != key) continue;
      auto list = text_list(*it, l.name, l.max_items, l.max_each);
      st = list ? Status(Ok{}) : Status(list.error());
      if (list) m.*l.member = std::move(*list);
    }
    if (!st) return st.error();
  }
  if (m.id.empty()) return Error{"a queue message without \"id\""};
  return m;
}

}  // namespace

std::string_view action_name(Action a) { return row_of(a).name; }

LineReader::State LineReader::feed(std::string_view bytes) {
  if (state_ != State::NeedMore) return state_;
  const auto lf = bytes.find('\n');
  const auto take = bytes.substr(0, lf);
  // The LF still has to fit: a line of `max_` bytes without it can only grow past the bound.
  if (line_.size() + take.size() >= max_) {
    line_.clear();
    line_.shrink_to_fit();
    return state_ = State::TooLong;
  }
  line_.append(take);
  if (lf != std::string_view::npos) state_ = State::Line;
  return state_;
}

std::string encode(const Request& r) {
  const ActionRow& row = row_of(r.action);
  json::Value v{{"v", kVersion}, {"action", row.name}};
  if ((row.takes & kId) && !r.id.empty()) v["id"] = r.id;
  if ((row.takes & kTo) && !r.to.empty()) v["to"] = r.to;
  if ((row.takes & kReason) && !r.reason.empty()) v["reason"] = r.reason;
  if ((row.takes & kOlderThan) && r.older_than) v["older_than"] = *r.older_than;
  if ((row.takes & kPassword) && !r.password.empty()) v["password"] = r.password;
  if ((row.takes & kIds) && !r.ids.empty()) v["ids"] = r.ids;
  if ((row.takes & kLimit) && r.limit) v["limit"] = *r.limit;
  return json::dump(v) + "\n";
}

std::string encode(const Response& r) {
  json::Value v{{"v", kVersion}, {"ok", r.ok}, {"message", r.message}};
  if (!r.ids.empty()) v["ids"] = r.ids;
  if (!r.queue.empty()) {
    json::Value rows = json::Value::array();
    for (const auto& m : r.queue) rows.push_back(queue_json(m));
    v["queue"] = std::move(rows);
  }
  if (r.queue_total != 0) v["queue_total"] = r.queue_total;
  return json::dump(v) + "\n";
}

Expected<Request> parse_request(std::string_view untrusted_line) {
  auto v = object_of(untrusted_line, "request");
  if (!v) return v.error();
  const auto action = v->find("action");
  if (action == v->end() || !action->is_string()) return Error{"the request names no \"action\""};
  const auto& name = action->get_ref<const std::string&>();
  const auto row = std::find_if(std::begin(kActions), std::end(kActions), [&](const ActionRow& r) { return r.name == name; });
  if (row == std::end(kActions)) return Error{"unknown action \"" + shown(name) + "\""};

  Request r;
  r.action = row->action;
  unsigned given = 0;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (it.key() == "v" || it.key() == "action") continue;
    const auto field = std::find_if(std::begin(kFields), std::end(kFields), [&](const FieldRow& f) { return f.name == it.key(); });
    if (field == std::end(kFields) || !(row->takes & field->bit)) {
      return Error{"\"" + shown(it.key()) + "\" is not a field of " + std::string(row->name)};
    }
    Status st = Ok{};
    switch (field->bit) {
      case kId:
        if (auto s = text(*it, "id", kMaxId, false)) r.id = std::move(*s);
        else st = s.error();
        break;
      case kTo:
        if (auto l = text_list(*it, "to", kMaxRecipients, kMaxAddress)) r.to = std::move(*l);
        else st = l.error();
        break;
      case kReason:
        if (auto s = text(*it, "reason", kMaxText, false)) r.reason = std::move(*s);
        else st = s.error();
        break;
      case kOlderThan:
        if (auto n = integer(*it, "older_than", kMaxAge)) r.older_than = *n;
        else st = n.error();
        break;
      case kPassword:
        // Its errors name only the field: the value is a secret.
        if (auto s = text(*it, "password", kMaxPassword, false)) r.password = std::move(*s);
        else st = s.error();
        break;
      case kIds:
        if (auto l = text_list(*it, "ids", kMaxQueueIds, kMaxId)) r.ids = std::move(*l);
        else st = l.error();
        break;
      case kLimit:
        if (auto n = integer(*it, "limit", kMaxQueueRows); n && *n > 0) r.limit = *n;
        else st = Error{"\"limit\" must be an integer 1.." + std::to_string(kMaxQueueRows)};
        break;
    }
    if (!st) return st.error();
    const bool empty = (field->bit == kId && r.id.empty()) || (field->bit == kReason && r.reason.empty()) ||
                       (field->bit == kPassword && r.password.empty()) || (field->bit == kIds && r.ids.empty());
    if (!empty) given |= field->bit;
  }
  for (const auto& f : kFields) {
    if ((row->needs & f.bit) && !(given & f.bit)) {
      return Error{std::string(row->name) + " needs \"" + std::string(f.name) + "\""};
    }
  }
  return r;
}

Expected<Response> parse_response(std::string_view untrusted_line) {
  auto v = object_of(untrusted_line, "response");
  if (!v) return v.error();
  Response r;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (it.key() == "v") continue;
    if (it.key() == "ok") {
      if (!it->is_boolean()) return Error{"\"ok\" must be true or false"};
      r.ok = it->get<bool>();
    } else if (it.key() == "message") {
      // Shown through the CLI's terminal escaping, so any text the gateway quotes may stay as it is.
      auto s = text(*it, "message", kMaxRequest, true);
      if (!s) return s.error();
      r.message = std::move(*s);
    } else if (it.key() == "ids") {
      auto l = text_list(*it, "ids", kMaxResponse / 4, kMaxId);
      if (!l) return l.error();
      r.ids = std::move(*l);
    } else if (it.key() == "queue") {
      if (!it->is_array() || it->size() > static_cast<std::size_t>(kMaxQueueRows)) {
        return Error{"\"queue\" must be an array of at most " + std::to_string(kMaxQueueRows) + " messages"};
      }
      for (const auto& item : *it) {
        auto m = parse_queue_message(item);
        if (!m) return m.error();
        r.queue.push_back(std::move(*m));
      }
    } else if (it.key() == "queue_total") {
      auto n = integer(*it, "queue_total", std::numeric_limits<std::int64_t>::max());
      if (!n) return n.error();
      r.queue_total = *n;
    } else {
      return Error{"unexpected \"" + shown(it.key()) + "\" in the response"};
    }
  }
  if (v->find("ok") == v->end()) return Error{"the response says neither ok nor not ok"};
  return r;
}

}  // namespace mugai::proto::admin
