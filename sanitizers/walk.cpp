// The walk (see walk.hpp): pre-scan → parse (mimetic) → one decision per leaf. A sanitizer's text and
// artefacts are checked again here, whoever made them; anything that fails a check removes its part.
// Embedded messages (message/rfc822) go through the same walk and are inlined as text.
#include "sanitizers/walk.hpp"

#include <algorithm>
#include <array>

#include "common/ascii.hpp"
#include "common/hex.hpp"
#include "common/utf8.hpp"
#include "sanitizers/archive.hpp"
#include "sanitizers/charset.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/detect.hpp"
#include "sanitizers/encoded_blocks.hpp"
#include "sanitizers/headers.hpp"
#include "sanitizers/mime.hpp"
#include "sanitizers/mime_builder.hpp"

namespace mugai::sanitize {
namespace {

// Parts that are never opened, whatever the policy says: fragments (never reassembled), pointers to
// outside content (never fetched), containers we cannot inspect.
std::optional<std::string_view> never_opened(std::string_view type) {
  if (type == "message/partial") return "message/partial removed: fragments are never reassembled";
  if (type == "message/external-body") return "message/external-body removed: external content is never fetched";
  if (type == "application/ms-tnef" || type == "application/vnd.ms-tnef") {
    return "TNEF (winmail.dat) removed: not understood";
  }
  if (type == "application/pkcs7-mime" || type == "application/x-pkcs7-mime") {
    return "S/MIME encrypted part removed: its content cannot be inspected";
  }
  return std::nullopt;
}

// Known "your mailer cannot show HTML" stand-ins for a real text alternative.
constexpr std::array<std::string_view, 9> kStubPhrases{
    "html message",      "html format", "html version",          "html email",    "html e-mail",
    "not support html",  "in your browser", "html形式",          "htmlメール",
};

std::size_t visible_length(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return c != ' ' && c != '\t' && c != '\n' && c != '\r';
  }));
}

// Messages saved from a mailbox start with the mbox envelope line ("From addr date", no colon after
// the name): no header field, so it is skipped rather than making the whole header unreadable.
std::string_view skip_mbox_line(std::string_view message) {
  if (!message.starts_with("From ")) return message;
  const auto lf = message.find('\n');
  return lf == std::string_view::npos ? std::string_view() : message.substr(lf + 1);
}

Stop limit(LimitBreach b) {
  std::string reason = "limit exceeded: " + b.limit + " (" + b.detail + ")";
  return Stop{std::move(reason), std::move(b), false, false};
}

bool known_encoding(const std::string& cte) {
  return cte.empty() || cte == "7bit" || cte == "8bit" || cte == "binary" || cte == "base64" ||
         cte == "quoted-printable";
}

// A sanitizer's text goes into the body only as its contract says: valid UTF-8 without controls but
// TAB and LF. It is detected again too: dropping controls can join a signature the bytes did not show
// ("%P\0DF-" becomes "%PDF-"), and text that has become a binary format is not delivered.
std::optional<std::string> text_problem(std::string_view text) {
  if (!utf8::is_valid(text)) return "the sanitized text is not valid UTF-8";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool c1 = c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F;
    if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F || c1) return "the sanitized text holds control characters";
  }
  const std::string kept_type = detect_part_type("text/plain", text);
  if (effective_type("text/plain", kept_type) != "text/plain") return "the sanitized text reads as " + kept_type + " content";
  return std::nullopt;
}

const ArtefactType* artefact_type(std::string_view content_type) {
  const auto it = std::find_if(kArtefactTypes.begin(), kArtefactTypes.end(),
                               [&](const ArtefactType& t) { return t.content_type == content_type; });
  return it == kArtefactTypes.end() ? nullptr : &*it;
}

std::string allowed_artefact_types() {
  std::string out;
  for (const auto& t : kArtefactTypes) out += (out.empty() ? "" : ", ") + std::string(t.content_type);
  return out;
}

class Walker {
 public:
  Walker(const Policy& policy, Clock::time_point start, const ArchiveKeys& keys, bool as_files)
      : policy_(policy), start_(start), keys_(keys), as_files_(as_files) {}

  Walk run(std::string_view message) {
    if (auto stop = walk(message, "", 0)) {
      if (stop->breach) out_.breaches.push_back(*stop->breach);
      out_.stop = std::move(stop);
    }
    return std::move(out_);
  }

  Walk run_file(std::string_view file, std::string_view name) {
    MimePart part;
    part.path = "1";
    part.type = entry_type(detect_part_type("application/octet-stream", file));
    part.filename = escape_for_display(name);
    part.transfer_encoding = "binary";
    part.body = file;
    if (auto stop = decide_leaf(part, "", 0, nullptr)) {
      if (stop->breach) out_.breaches.push_back(*stop->breach);
      out_.stop = std::move(stop);
    }
    return std::move(out_);
  }

 private:
  // Only for known encodings; the only error is the size limit.
  Expected<std::string> decode(const MimePart& part) const {
    const std::size_t max = policy_.limits.max_decoded_part;
    if (part.transfer_encoding == "base64") return base64_decode(part.body, max);
    if (part.transfer_encoding == "quoted-printable") return qp_decode(part.body, max);
    if (part.body.size() > max) return Error{"decoded size exceeds " + std::to_string(max) + " bytes"};
    return std::string(part.body);
  }

  std::optional<Stop> check_time() const {
    const auto spent = Clock::now() - start_;
    if (spent <= policy_.limits.max_time_per_message) return std::nullopt;
    return limit(LimitBreach{"max_time_per_message",
                             std::to_string(micros(spent) / 1000) + " ms spent, limit " +
                                 std::to_string(policy_.limits.max_time_per_message.count()) + " ms"});
  }

  // One message (the original, or one embedded in it at nesting `depth`), paths prefixed by `prefix`.
  std::optional<Stop> walk(std::string_view message, const std::string& prefix, std::size_t depth) {
    Limits limits = policy_.limits;
    if (depth > limits.max_depth) {
      return limit(LimitBreach{"max_depth", "nesting deeper than " + std::to_string(limits.max_depth)});
    }
    limits.max_depth -= depth;
    message = skip_mbox_line(message);
    const PrescanResult pre = prescan(message, limits);
    if (pre.breach) return limit(*pre.breach);
    ParsedMime parsed = parse_mime(message, limits);
    if (parsed.breach) return limit(*parsed.breach);
    if (!parsed.tree) return Stop{"unparseable: " + parsed.error, std::nullopt, false, true};
    return visit(*parsed.tree, 0, prefix, depth, nullptr);
  }

  // Decides every leaf below `index`. `losing` is the reason when an alternative elsewhere was chosen.
  std::optional<Stop> visit(const MimeTree& tree, std::size_t index, const std::string& prefix, std::size_t depth,
                            const char* losing) {
    const MimePart& part = tree.parts[index];
    if (part.container && !part.children.empty()) {
      PartReport rep;
      rep.path = prefix + part.path;
      rep.declared_type = part.type;
      rep.decision = "container";
      out_.parts.push_back(std::move(rep));
      std::optional<std::size_t> chosen;
      const char* why = nullptr;
      if (part.type == "multipart/alternative") chosen = choose_alternative(tree, part, why);
      for (const std::size_t child : part.children) {
        const char* l = losing != nullptr ? losing : (chosen && child != *chosen) ? why : nullptr;
        if (auto stop = visit(tree, child, prefix, depth, l)) return stop;
      }
      return std::nullopt;
    }
    return decide_leaf(part, prefix, depth, losing);
  }

  // The text/plain alternative when it is a real rendering, else the HTML one.
  std::optional<std::size_t> choose_alternative(const MimeTree& tree, const MimePart& part, const char*& why) const {
    const auto leaf = [&](std::string_view type) -> std::optional<std::size_t> {
      for (const std::size_t c : part.children) {
        const MimePart& p = tree.parts[c];
        if (!p.container && p.type == type && known_encoding(p.transfer_encoding)) return c;
      }
      return std::nullopt;
    };
    const auto plain = leaf("text/plain");
    const auto html = leaf("text/html");
    why = "alternative removed (text/plain alternative kept)";
    if (!plain || !html) return plain;
    const auto plain_bytes = decode(tree.parts[*plain]);
    const auto html_bytes = decode(tree.parts[*html]);
    if (!plain_bytes || !html_bytes) return plain;  // the size limit is reported when the part is decided
    const std::string plain_text = to_utf8(*plain_bytes, tree.parts[*plain].charset).text;
    const std::size_t plain_len = visible_length(plain_text);
    // The HTML's text is never longer than its bytes: convert it only when the ratio could matter.
    const bool may_be_short = plain_len * 20 < html_bytes->size();
    const std::size_t html_len =
        may_be_short
            ? visible_length(html_to_text(to_utf8(*html_bytes, tree.parts[*html].charset).text, policy_.links).text)
            : 0;
    bool stub = plain_len == 0 || plain_len * 20 < html_len;
    if (!stub && plain_len < 400) {
      const std::string l = ascii::lower(plain_text);
      stub = std::any_of(kStubPhrases.begin(), kStubPhrases.end(),
                         [&](std::string_view p) { return l.find(p) != std::string::npos; });
    }
    if (!stub) return plain;
    why = "alternative removed (the text/plain alternative was only a stub; the HTML was converted)";
    return html;
  }

  std::optional<Stop> decide_leaf(const MimePart& part, const std::string& prefix, std::size_t depth,
                                   const char* losing) {
    if (auto stop = check_time()) return stop;
    const auto t0 = Clock::now();
    const bool known = known_encoding(part.transfer_encoding);
    std::string decoded;
    if (known) {
      auto d = decode(part);
      if (!d) return limit(LimitBreach{"max_decoded_part", "part " + prefix + part.path + ": " + d.error().message});
      decoded = std::move(*d);
    }
    // An unknown encoding is removed as it stands; its raw size still counts against the total.
    const std::string_view bytes = known ? std::string_view(decoded) : part.body;
    decoded_total_ += bytes.size();
    if (decoded_total_ > policy_.limits.max_decoded_total) {
      return limit(LimitBreach{"max_decoded_total", "decoded parts exceed " +
                                                        std::to_string(policy_.limits.max_decoded_total) + " bytes"});
    }
    PartReport rep;
    rep.path = prefix + part.path;
    rep.declared_type = part.type;
    rep.detected_type = detect_part_type(part.type, bytes);
    rep.filename = escape_for_display(part.filename);
    rep.size = bytes.size();
    rep.sha256 = hex::sha256(bytes);
    rep.flags = risk_flags(part.type, rep.detected_type, part.filename);
    rep.sanitizer = "pipeline";
    Decision d;
    const auto never = never_opened(part.type) ? never_opened(part.type) : never_opened(rep.detected_type);
    if (!known) {
      d = Decision::remove("unknown transfer encoding (" + part.transfer_encoding + ")");
    } else if (part.container) {
      d = Decision::remove("multipart without parts (malformed)");
    } else if (never) {
      d = Decision::remove(std::string(*never));
    } else if (losing != nullptr) {
      rep.sanitizer = "alternative";
      d = Decision::remove(losing);
    } else if (part.type == "message/rfc822" || part.type == "message/global") {
      return inline_message(std::move(rep), bytes, depth + part.depth + 1, t0);
    } else {
      const std::string type = effective_type(part.type, rep.detected_type);
      const Rule* rule = match_rule(policy_.rules, type);
      const Action action = rule != nullptr ? rule->action : Action::Strip;
      if (auto stop = whole_message_rule(action, type, rep.path)) return stop;
      if (action == Action::Unpack) return unpack(std::move(rep), bytes, t0);
      const PartInfo info{rep.path,       part.type,         part.charset,      part.filename,
                          policy_.render, policy_.converter, rep.detected_type};
      d = apply(action, rule, bytes, info, rep);
      if (d.action == Decision::Action::Remove && d.retry_later) {
        return Stop{"part " + rep.path + ": " + d.reason, std::nullopt, false, false, true};
      }
    }
    settle(std::move(rep), std::move(d), t0, nullptr, part.filename);
    return std::nullopt;
  }

  // Quarantine and reject rules hold the whole message, wherever the part is (an archive entry too).
  static std::optional<Stop> whole_message_rule(Action action, const std::string& type, const std::string& path) {
    const std::string what = "policy: " + std::string(action_name(action)) + " " + type + " (part " + path + ")";
    if (action == Action::Quarantine) return Stop{what, std::nullopt, false, false};
    if (action == Action::Reject) return Stop{"rejected by " + what, std::nullopt, true, false};
    return std::nullopt;
  }

  // A decision checked again and recorded. `text_label` names an archive entry whose kept text goes
  // into the body between lines naming it; such an entry is listed like the parts it replaces.
  // `file_name`: the part's own name, which its kept text is named after in files mode.
  void settle(PartReport rep, Decision d, Clock::time_point t0, const std::string* text_label,
              std::string_view file_name = {}) {
    if (d.action != Decision::Action::Remove && !d.text.empty()) {
      if (auto problem = text_problem(d.text)) d = Decision::remove(std::move(*problem));
    }
    std::vector<ArtefactSummary> artefacts;
    if (d.action == Decision::Action::Replace) {
      auto checked = check_artefacts(d.artefacts);
      if (checked) {
        artefacts = std::move(*checked);
      } else {
        d = Decision::remove(checked.error().message);
      }
    }
    rep.reason = d.reason;
    out_.replacement_chars += d.replacement_chars;
    out_.dropped_controls += d.dropped_controls;
    rep.timing_us = micros(Clock::now() - t0);
    rep.pages = d.action == Decision::Action::Replace ? d.pages : 0;
    const std::string path = rep.path;
    switch (d.action) {
      case Decision::Action::KeepText:
        if (text_label != nullptr) {
          const std::string_view where = as_files_ ? "its text is kept as a text file" : "its text is in the message body";
          rep.reason = d.reason.empty() ? std::string(where) : std::string(where) + "; " + d.reason;
          list_held(std::move(rep), true);
          out_.parts.back().decision = "kept";
          keep(as_files_ ? std::move(d.text) : text_of_attachment(*text_label, d.text), path, file_name);
          break;
        }
        rep.decision = "kept";
        out_.parts.push_back(std::move(rep));
        keep(std::move(d.text), path, file_name);
        break;
      case Decision::Action::Replace:
        rep.reason = replaced_reason(artefacts, d.reason);
        rep.artefacts = std::move(artefacts);
        list_held(std::move(rep), true);
        if (!d.text.empty() && !as_files_) keep(text_of_attachment(text_label != nullptr ? *text_label : d.artefacts.front().filename, d.text), path, file_name);
        for (auto& a : d.artefacts) out_.attachments.push_back(std::move(a));
        break;
      case Decision::Action::Remove:
        list_held(std::move(rep), false);
        break;
    }
  }

  // What the walk has produced so far, to take back what an archive gave when it is removed whole.
  struct Mark {
    std::size_t texts, attachments, text_files, held, parts, artefact_total;
  };
  Mark mark() const {
    return {out_.texts.size(), out_.attachments.size(), out_.text_files.size(), out_.held.size(), out_.parts.size(),
            artefact_total_};
  }
  void back_to(const Mark& m) {
    out_.texts.resize(m.texts);
    out_.attachments.resize(m.attachments);
    out_.text_files.resize(m.text_files);
    out_.held.resize(m.held);
    out_.parts.resize(m.parts);
    artefact_total_ = m.artefact_total;
  }

  // How one archive ended when it did not end well.
  struct ArchiveEnd {
    std::optional<Stop> stop;  // the whole message is held (a rule, the time limit, a password to wait for)
    std::string limit;         // an [archive] limit was crossed: the outermost archive is removed whole
    std::string damaged;       // this archive cannot be read: it is removed whole
  };

  // The reader's limit errors are limits, the rest damage.
  static ArchiveEnd unreadable(const Error& e) {
    const bool limit = e.message.starts_with("limit exceeded");
    return ArchiveEnd{std::nullopt, limit ? e.message : "", limit ? "" : e.message};
  }

  struct ArchiveCounts {
    std::size_t entries = 0, kept = 0, rendered = 0, archives = 0, removed = 0;
  };

  // An attached archive (a part whose rule is unpack): its entries decided one by one, listed after its
  // own row. Crossing a limit, or damage, takes back everything it gave and removes it whole.
  std::optional<Stop> unpack(PartReport rep, std::string_view bytes, Clock::time_point t0) {
    const ArchivePolicy& ap = policy_.archive;
    ArchiveBudget budget{ap.max_entries, ap.max_total_size, ap.max_ratio, bytes.size(), 0};
    const std::string label = rep.filename.empty() ? "(no name)" : rep.filename;
    return unpack_nested(std::move(rep), bytes, label, "", 1, budget, t0).stop;
  }

  // One archive at nesting `level` (1 = attached), its row listed first; `flat` prefixes the names of
  // the files made of its entries. An archive that cannot be read is listed as removed (its parent goes
  // on); a limit is passed up to the attached archive, which is removed whole.
  ArchiveEnd unpack_nested(PartReport rep, std::string_view bytes, const std::string& label, const std::string& flat,
                           std::size_t level, ArchiveBudget& budget, Clock::time_point t0) {
    const Mark before = mark();
    const std::string type = rep.detected_type;
    rep.sanitizer = "archive";
    list_held(rep, true);
    ArchiveCounts counts;
    ArchiveEnd end = entries(rep.path, bytes, type, label, flat, level, budget, counts);
    if (end.stop) return end;
    if (!end.limit.empty() && level > 1) return end;
    if (!end.limit.empty() || !end.damaged.empty()) {
      back_to(before);
      rep.reason = (end.limit.empty() ? end.damaged : end.limit) + "; the archive was removed whole";
      rep.timing_us = micros(Clock::now() - t0);
      list_held(std::move(rep), false);
      return {};
    }
    PartReport& row = out_.parts[before.parts];
    row.decision = "unpacked";
    row.reason = "unpacked (" + archive_label(type) + "): " + std::to_string(counts.entries) + " entr" +
                 (counts.entries == 1 ? "y" : "ies") + ": " + std::to_string(counts.kept) + " kept as text, " +
                 std::to_string(counts.rendered) + " rendered, " +
                 (counts.archives == 0 ? "" : std::to_string(counts.archives) + " archive(s) unpacked, ") +
                 std::to_string(counts.removed) + " removed";
    row.timing_us = micros(Clock::now() - t0);
    out_.held[before.held].part.reason = row.reason;
    return {};
  }

  // The entries of one archive, each listed as `label`/name with the path `path`:N.
  ArchiveEnd entries(const std::string& path, std::string_view bytes, const std::string& type, const std::string& label,
                     const std::string& flat, std::size_t level, ArchiveBudget& budget, ArchiveCounts& counts) {
    auto reader = ArchiveReader::open(bytes, type, keys_.passwords);
    if (!reader) return unreadable(reader.error());
    std::size_t depth = level;
    for (std::size_t index = 1;; ++index) {
      if (auto stop = check_time()) return ArchiveEnd{std::move(stop), "", ""};
      auto next = reader->next();
      if (!next) return unreadable(next.error());
      if (!*next) return {};
      // Each compression layer beyond the first (a .gz inside a .gz) counts as one more level.
      if (index == 1) depth += reader->layers() > 1 ? reader->layers() - 1 : 0;
      if (depth > policy_.archive.max_depth) return ArchiveEnd{std::nullopt, depth_breach(), ""};
      const ArchiveEntry& entry = **next;
      if (budget.entries_left == 0) {
        return ArchiveEnd{std::nullopt,
                          "limit exceeded: archive.max_entries (more than " + std::to_string(policy_.archive.max_entries) + " entries)", ""};
      }
      --budget.entries_left;
      if (entry.kind == ArchiveEntry::Kind::Directory) continue;
      ++counts.entries;
      const auto t0 = Clock::now();
      PartReport rep;
      rep.path = path + ":" + std::to_string(index);
      rep.declared_type = "application/octet-stream";
      // The one file of a .gz (or .bz2, .xz...) is named after it, less its last extension.
      const std::string entry_name = entry.single ? single_name(label) : entry.name;
      rep.filename = label + "/" + (entry_name.empty() ? "(no name)" : escape_for_display(entry_name));
      rep.sanitizer = "archive";
      const std::string name = flat.empty() ? flat_name(entry_name) : flat + "_" + flat_name(entry_name);
      if (entry.kind != ArchiveEntry::Kind::File) {
        Decision d = Decision::remove(entry.kind == ArchiveEntry::Kind::Link
                                          ? "link to " + escape_for_display(entry.link_target) +
                                                " removed: links in archives are never followed"
                                          : "special file (device, FIFO or socket) removed");
        ++counts.removed;
        settle(std::move(rep), std::move(d), t0, nullptr);
        continue;
      }
      auto data = reader->read(entry, policy_.limits.max_decoded_part, budget);
      if (!data) return ArchiveEnd{std::nullopt, data.error().message, ""};
      if (data->status != EntryData::Status::Ok) {
        if (data->status == EntryData::Status::NeedsPassword) {
          if (policy_.archive.encrypted == ArchivePolicy::Encrypted::Pair && !keys_.pair_window_over) {
            return ArchiveEnd{Stop{"part " + rep.path + " (" + rep.filename +
                                       "): a password-protected archive awaits its password mail",
                                   std::nullopt, false, false, false, true},
                              "", ""};
          }
          if (policy_.archive.encrypted == ArchivePolicy::Encrypted::Reject) out_.encrypted_refused = true;
        }
        ++counts.removed;
        settle(std::move(rep), Decision::remove(unread_reason(*data)), t0, nullptr);
        continue;
      }
      rep.size = data->bytes.size();
      rep.sha256 = hex::sha256(data->bytes);
      rep.detected_type = detect_part_type(rep.declared_type, data->bytes);
      rep.flags = risk_flags(rep.declared_type, rep.detected_type, entry.name);
      const std::string as = entry_type(rep.detected_type);
      const std::string etype = effective_type(as, rep.detected_type);
      const Rule* rule = match_rule(policy_.rules, etype);
      const Action action = rule != nullptr ? rule->action : Action::Strip;
      if (auto stop = whole_message_rule(action, etype, rep.path)) return ArchiveEnd{std::move(stop), "", ""};
      if (data->decrypted) out_.archive_unlocked = true;
      const std::string unlocked = data->decrypted ? "decrypted with the password from " + keys_.source : "";
      if (action == Action::Unpack) {
        if (depth >= policy_.archive.max_depth) return ArchiveEnd{std::nullopt, depth_breach(), ""};
        const Mark inner = mark();
        ArchiveEnd end = unpack_nested(rep, data->bytes, rep.filename, name, depth + 1, budget, t0);
        if (end.stop || !end.limit.empty()) return end;
        ++(out_.held[inner.held].replaced ? counts.archives : counts.removed);
        if (!unlocked.empty()) out_.parts[inner.parts].reason = unlocked + "; " + out_.parts[inner.parts].reason;
        continue;
      }
      const PartInfo info{rep.path, as, "", name, policy_.render, policy_.converter, rep.detected_type};
      Decision d = apply(action, rule, data->bytes, info, rep);
      if (d.action == Decision::Action::Remove && d.retry_later) {
        return ArchiveEnd{Stop{"part " + rep.path + ": " + d.reason, std::nullopt, false, false, true}, "", ""};
      }
      if (!unlocked.empty()) d.reason = d.reason.empty() ? unlocked : unlocked + "; " + d.reason;
      const Mark entry_mark = mark();
      const std::string text_label = rep.filename;
      settle(std::move(rep), std::move(d), t0, &text_label, name);
      const HeldPart& listed = out_.held[entry_mark.held];
      const bool kept = out_.parts[entry_mark.parts].decision == "kept";
      ++(kept ? counts.kept : listed.replaced ? counts.rendered : counts.removed);
    }
  }

  // An archive declares no types (its entries are listed as application/octet-stream): an entry is taken
  // as what its content reads as, text of any kind as text/plain (a CSV or a source file stays readable
  // text), HTML as HTML, scripts never as text.
  static std::string entry_type(const std::string& detected) {
    const bool text = detected.starts_with("text/") && detected != "text/rtf" && !is_executable_type(detected);
    return text && detected != "text/html" ? "text/plain" : detected;
  }

  // "zip", "7z", "rar", "gzip", "lzh", "cab"...: an archive type's short name for the report.
  static std::string archive_label(std::string_view type) {
    for (const std::string_view cut : {"application/", "x-", "vnd.ms-"}) {
      if (type.starts_with(cut)) type.remove_prefix(cut.size());
    }
    if (type.ends_with("-compressed")) type.remove_suffix(std::string_view("-compressed").size());
    return std::string(type);
  }

  std::string depth_breach() const {
    return "limit exceeded: archive.max_depth (archives nested deeper than " + std::to_string(policy_.archive.max_depth) + ")";
  }

  // "報告.txt" for the one file of "報告.txt.gz" (the last component of `label`, less its extension).
  static std::string single_name(std::string_view label) {
    const auto slash = label.rfind('/');
    std::string_view base = slash == std::string_view::npos ? label : label.substr(slash + 1);
    const auto dot = base.rfind('.');
    if (dot != std::string_view::npos && dot > 0) base = base.substr(0, dot);
    return std::string(base);
  }

  // Why an entry's data was not taken.
  std::string unread_reason(const EntryData& data) const {
    switch (data.status) {
      case EntryData::Status::TooLarge:
        return "larger than sanitize.max_decoded_part (" + std::to_string(policy_.limits.max_decoded_part) + " bytes)";
      case EntryData::Status::Undecryptable:
        return "encrypted in a way that cannot be decrypted here (7z, RAR or PKWARE strong encryption): it cannot be "
               "checked, so it was removed; the original is kept in quarantine";
      case EntryData::Status::Damaged:
        return "damaged entry: " + data.problem;
      case EntryData::Status::NeedsPassword:
        break;
      case EntryData::Status::Ok:
        return {};
    }
    if (policy_.archive.encrypted == ArchivePolicy::Encrypted::Reject) {
      return "password-protected archives are not accepted (archive.encrypted = reject); the sender has been told";
    }
    const std::string tried = keys_.passwords.empty() ? ""
                              : keys_.source.empty()  ? "the password given did not open it; "
                                                      : "the password from " + keys_.source + " did not open it; ";
    return "password-protected: its content cannot be checked without the password; " + tried +
           "the original is kept in quarantine: to receive it sanitized, ask the mail administrator to unlock it "
           "with its password (mugaictl quarantine unlock)";
  }

  // An entry's name as the name of the file made of it: its path's components joined by '_', with no
  // empty, "." or ".." components (so no path of the archive ever shows as a path).
  static std::string flat_name(std::string_view name) {
    std::string out;
    std::size_t i = 0;
    while (i <= name.size()) {
      const auto sep = name.find_first_of("/\\", i);
      const std::string_view part = name.substr(i, sep == std::string_view::npos ? std::string_view::npos : sep - i);
      if (!part.empty() && part != "." && part != "..") out += (out.empty() ? "" : "_") + std::string(part);
      if (sep == std::string_view::npos) break;
      i = sep + 1;
    }
    return out;
  }

  // convert/render: the first sanitizer that keeps or replaces the part wins; strip (and no rule) removes it.
  Decision apply(Action action, const Rule* rule, std::string_view bytes, const PartInfo& info, PartReport& rep) {
    if (action == Action::Convert || action == Action::Render) {
      std::string reasons;
      for (const auto& name : rule->sanitizers) {
        const Sanitizer* s = find_sanitizer(policy_, name);
        if (s == nullptr) continue;  // config validation names every sanitizer; a policy built in code may not
        rep.sanitizer = name;
        Decision d = s->sanitize(bytes, info);
        if (d.action != Decision::Action::Remove || d.retry_later) return d;
        reasons += reasons.empty() ? d.reason : "; " + d.reason;
      }
      if (!reasons.empty()) return Decision::remove(reasons);
      return Decision::remove(action == Action::Render ? "no renderer could render this part"
                                                       : "no sanitizer could convert this part");
    }
    const Sanitizer* strip = find_sanitizer("strip", policy_.links);
    rep.sanitizer = "strip";
    return strip->sanitize(bytes, info);
  }

  // Every artefact again, whoever made it: an allowed type, within the size and count bounds, content
  // that libmagic reads as that very type; its name made safe. The first failed check is the error,
  // and it costs the whole part.
  Expected<std::vector<ArtefactSummary>> check_artefacts(std::vector<Artefact>& artefacts) {
    if (artefacts.empty()) return Error{"the sanitizer replaced the part with nothing"};
    const Limits& limits = policy_.limits;
    std::size_t total = artefact_total_;
    std::vector<ArtefactSummary> out;
    for (std::size_t i = 0; i < artefacts.size(); ++i) {
      Artefact& a = artefacts[i];
      const std::string which = "artefact " + std::to_string(i + 1) + " (" + escape_for_display(a.content_type) + ") refused: ";
      const ArtefactType* type = artefact_type(a.content_type);
      if (type == nullptr) return Error{which + "type not allowed (allowed: " + allowed_artefact_types() + ")"};
      if (a.bytes.size() > limits.max_artefact_size) {
        return Error{which + std::to_string(a.bytes.size()) + " bytes exceed sanitize.max_artefact_size (" +
                     std::to_string(limits.max_artefact_size) + ")"};
      }
      total += a.bytes.size();
      if (total > limits.max_decoded_total) {
        return Error{which + "the message's artefacts exceed sanitize.max_decoded_total (" +
                     std::to_string(limits.max_decoded_total) + " bytes)"};
      }
      if (out_.attachments.size() + i + 1 > limits.max_parts) {
        return Error{which + "more artefacts than sanitize.max_parts (" + std::to_string(limits.max_parts) + ")"};
      }
      const std::string detected = detect_type(a.bytes);
      if (detected != a.content_type) return Error{which + "its content is detected as " + detected};
      a.filename = safe_filename(a.filename, type->extension);
      out.push_back(ArtefactSummary{a.content_type, a.filename, a.bytes.size(), hex::sha256(a.bytes)});
    }
    artefact_total_ = total;
    return out;
  }

  // A rendered document's text in the body, between lines that name the attachment it belongs to.
  static std::string text_of_attachment(const std::string& safe_name, const std::string& text) {
    std::string out = "■ 添付ファイル「" + safe_name + "」のテキスト化 / Text of the attachment " + safe_name + "\n";
    out += text;
    if (!out.ends_with('\n')) out += '\n';
    return out + "■ 添付ファイル「" + safe_name + "」のテキスト化ここまで / End of the text of " + safe_name + "\n";
  }

  static std::string replaced_reason(const std::vector<ArtefactSummary>& artefacts, const std::string& note) {
    std::string r = "replaced by the attached safe cop" + std::string(artefacts.size() == 1 ? "y " : "ies ");
    for (std::size_t i = 0; i < artefacts.size(); ++i) {
      const ArtefactSummary& a = artefacts[i];
      r += (i ? ", " : "") + a.filename + " (" + a.content_type + ", " + std::to_string(a.size) + " bytes)";
    }
    return note.empty() ? r : r + "; " + note;
  }

  // For the notice and the quarantine record as well as the report.
  void list_held(PartReport rep, bool replaced) {
    rep.decision = replaced ? "replaced" : "removed";
    out_.held.push_back(HeldPart{RemovedPart{rep.filename.empty() ? "(no name)" : rep.filename, rep.declared_type,
                                             rep.detected_type, rep.size, rep.sha256, rep.reason, rep.sanitizer},
                                 rep.flags, replaced});
    out_.parts.push_back(std::move(rep));
  }

  // Kept text never carries a file: encoded blocks are cut out and listed like attachments.
  void keep(std::string text, const std::string& path, std::string_view file_name) {
    TextWithoutBlocks t = remove_encoded_blocks(text);
    for (std::size_t i = 0; i < t.blocks.size(); ++i) {
      const EncodedBlock& b = t.blocks[i];
      PartReport rep;
      rep.path = path + "#" + b.kind + std::to_string(i + 1);
      rep.declared_type = "text/plain";
      rep.detected_type = "text/x-" + b.kind;
      rep.filename = escape_for_display(b.filename);
      rep.sanitizer = "encoded_blocks";
      rep.size = b.bytes.size();
      rep.sha256 = hex::sha256(b.bytes);
      rep.reason = b.kind + " block embedded in text removed";
      rep.flags = risk_flags("text/plain", rep.detected_type, b.filename);
      list_held(std::move(rep), false);
    }
    std::string kept = t.blocks.empty() ? std::move(text) : std::move(t.text);
    // Named .txt whatever it was called: a text named run.js or form.hta must not open as a script.
    if (as_files_) {
      out_.text_files.push_back(Artefact{std::move(kept), "text/plain", safe_filename(file_name, ".txt")});
    } else {
      out_.texts.push_back(std::move(kept));
    }
  }

  // A forwarded message: its header summarized, its parts sanitized by the same walk, inlined.
  std::optional<Stop> inline_message(PartReport rep, std::string_view bytes, std::size_t depth, Clock::time_point t0) {
    rep.decision = "inlined";
    rep.sanitizer = "pipeline";
    rep.reason = "embedded message sanitized and inlined";
    const std::string prefix = rep.path + "/";
    const auto parts_before = out_.parts.size();
    const auto texts_before = out_.texts.size();
    std::string summary = "---------- 転送されたメッセージ / Forwarded message ----------\n";
    for (const auto& f : parse_header_block(skip_mbox_line(bytes))) {
      const std::string name = ascii::lower(f.name);
      const std::string_view shown = name == "from" ? "From" : name == "to" ? "To" : name == "cc" ? "Cc"
                                     : name == "date" ? "Date" : name == "subject" ? "Subject" : "";
      if (shown.empty()) continue;
      std::string value = decode_header_text(f.value);
      if (value.size() > 998) {  // a summary line, not a dump; cut on a character boundary
        std::size_t n = 998;
        while (n > 0 && (static_cast<unsigned char>(value[n]) & 0xC0) == 0x80) --n;
        value.resize(n);
      }
      summary += std::string(shown) + ": " + escape_for_display(value) + "\n";
    }
    rep.timing_us = micros(Clock::now() - t0);
    out_.parts.push_back(std::move(rep));
    out_.texts.push_back(std::move(summary));
    if (auto stop = walk(bytes, prefix, depth)) {
      if (!stop->unparseable) return stop;
      // Nothing of it was decided yet (parsing comes first); its summary goes and the part is listed
      // as removed instead.
      PartReport r = std::move(out_.parts[parts_before]);
      out_.parts.resize(parts_before);
      out_.texts.resize(texts_before);
      r.reason = "embedded message " + stop->reason;
      list_held(std::move(r), false);
      return std::nullopt;
    }
    out_.texts.emplace_back("---------- 転送されたメッセージここまで / End of forwarded message ----------\n");
    return std::nullopt;
  }

  const Policy& policy_;
  const Clock::time_point start_;
  const ArchiveKeys& keys_;
  const bool as_files_;
  Walk out_;
  std::size_t decoded_total_ = 0;
  std::size_t artefact_total_ = 0;
};

}  // namespace

std::int64_t micros(Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

std::size_t count_replaced(const Walk& walk) {
  return static_cast<std::size_t>(
      std::count_if(walk.held.begin(), walk.held.end(), [](const HeldPart& h) { return h.replaced; }));
}

Walk walk_message(std::string_view untrusted_message, const Policy& policy, Clock::time_point start,
                  const ArchiveKeys& keys) {
  return Walker(policy, start, keys, false).run(untrusted_message);
}

Walk walk_file(std::string_view untrusted_file, std::string_view untrusted_name, const Policy& policy,
               Clock::time_point start, const ArchiveKeys& keys) {
  return Walker(policy, start, keys, true).run_file(untrusted_file, untrusted_name);
}

}  // namespace mugai::sanitize
