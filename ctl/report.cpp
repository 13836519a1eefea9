// `mugaictl report`: the self-inspection report (監査・自己点検) a municipality shows its auditor. Read-only
// (the index opened read-only, the audit log read, the chain verified), so it is safe while the gateway
// runs. The figures are computed once, as the JSON form; text and HTML are drawn from that same value,
// so the three cannot disagree. The HTML is one file without script or external fetch, mail strings escaped.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/durable_file.hpp"
#include "common/json.hpp"
#include "common/key_file.hpp"
#include "ctl/cli.hpp"
#include "ctl/quarantine.hpp"
#include "ctl/text_width.hpp"
#include "quarantine/store.hpp"
#include "sanitizers/charset.hpp"

namespace mugai::ctl {
namespace {

constexpr std::string_view kSynopsis =
    "usage: mugaictl report [--config FILE] [--set section.key=value]... [--since 30d] [--format text|json|html] "
    "[--out FILE]";

int usage(std::string_view problem) {
  std::fprintf(stderr, "mugaictl: report: %.*s\n%.*s\n", static_cast<int>(problem.size()), problem.data(),
               static_cast<int>(kSynopsis.size()), kSynopsis.data());
  return kUsage;
}

std::string strftime_local(std::int64_t unix, const char* format) {
  const std::time_t t = static_cast<std::time_t>(unix);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[48];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}
std::string local_day(std::int64_t unix) { return strftime_local(unix, "%Y-%m-%d"); }

// Reasons are sentences with details ("limit exceeded: sanitize.max_parts (…)"): what comes before the
// first ':', ';' or '(' names the kind, which is what an auditor counts.
std::string reason_category(std::string_view reason) {
  std::string_view head = reason.substr(0, std::min(reason.find_first_of(":;("), reason.size()));
  while (!head.empty() && head.back() == ' ') head.remove_suffix(1);
  if (head.size() > 80) head = head.substr(0, 80);
  return head.empty() ? "(none)" : std::string(head);
}

std::int64_t digits(std::string_view text) {
  std::int64_t n = 0;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

json::Value counted(const std::map<std::string, std::int64_t>& counts) {
  std::vector<std::pair<std::string, std::int64_t>> rows(counts.begin(), counts.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  json::Value out = json::Value::array();
  for (const auto& [key, count] : rows) out.push_back({{"key", key}, {"count", count}});
  return out;
}

struct AuditVerdict {
  bool ok = false;
  std::size_t records = 0;
  std::size_t first_bad_line = 0;
  std::string problem;
};

// As `mugaictl audit verify`: every MAC, the chain and the keyed anchor. What keeps it from verifying
// (no key, no anchor) is a failed verification, not an unreadable report.
AuditVerdict verify(const config::Config& cfg, const quarantine::StoreOptions& options) {
  AuditVerdict v;
  auto key = keyfile::load(options.audit_key_file, "audit key file", false);
  if (!key) return {false, 0, 0, key.error().message};
  auto anchor = quarantine::read_audit_anchor(cfg.quarantine.dir);
  if (!anchor) return {false, 0, 0, anchor.error().message};
  auto check = quarantine::verify_audit(options.audit_log, *key, *anchor);
  if (!check) return {false, 0, 0, check.error().message};
  v.records = check->records;
  v.first_bad_line = check->first_bad_line;
  v.problem = check->problem;
  v.ok = check->first_bad_line == 0;
  return v;
}

json::Value build(const config::Config& cfg, const quarantine::StoreOptions& options, std::int64_t since,
                  std::int64_t now, const quarantine::TrafficFacts& facts,
                  const std::vector<quarantine::AuditRecord>& records, const AuditVerdict& audit) {
  struct Day {
    std::int64_t received = 0, delivered = 0, held_whole = 0, bounced = 0;
  };
  std::map<std::string, Day> days;
  std::map<std::string, std::int64_t> verdicts, removed_by_reason, removed_by_type, rendered_by_type, decisions;
  std::map<std::string, std::int64_t> ppap{{"paired", 0}, {"pair-failed", 0}, {"unlocked", 0},
                                           {"window-expired", 0}, {"refused", 0}, {"awaiting", 0}};
  std::int64_t rendered_documents = 0, rendered_pages = 0, held_whole = 0;
  std::set<std::string> ids;
  for (const auto& m : facts.messages) {
    ids.insert(m.queue_id);
    Day& d = days[local_day(m.arrival_unix)];
    ++d.received;
    ++verdicts[m.verdict];
    if (m.verdict == "quarantined" || m.verdict == "rejected") {
      ++d.held_whole;
      ++held_whole;
    }
    if (!m.ppap.empty()) ++ppap[m.ppap];
    for (const auto& p : m.parts) {
      ++decisions[p.decision];
      const std::string type = p.detected_type.empty() ? "(unknown)" : p.detected_type;
      if (p.decision == "removed") {
        ++removed_by_reason[reason_category(p.reason)];
        ++removed_by_type[type];
      } else if (p.decision == "replaced" && (p.sanitizer == "pdf_render" || p.sanitizer == "office_render")) {
        ++rendered_documents;
        rendered_pages += p.pages;
        ++rendered_by_type[type];
      }
    }
  }
  // Deliveries of the messages counted above (not of notices, bounces or released copies): each message
  // once, on the day its first recipient was delivered or bounced.
  std::set<std::string> delivered, bounced;
  for (const auto& r : facts.deliveries) {
    if (!ids.count(r.queue_id) || r.route == "bounce") continue;
    if (r.sent > 0 && delivered.insert(r.queue_id).second) ++days[local_day(r.unix_time)].delivered;
    if (r.bounced > 0 && bounced.insert(r.queue_id).second) ++days[local_day(r.unix_time)].bounced;
  }

  json::Value starts = json::Value::array(), releases = json::Value::array(), deletions = json::Value::array();
  json::Value purges = json::Value::array(), requests = json::Value::array();
  std::set<std::string> versions, digests;
  std::map<std::string, const quarantine::AuditRecord*> approvals;  // by entry id, the latest
  std::int64_t expired = 0;
  // Files through sanitize-file or the watched folder: the audit trail is their only record.
  std::map<std::string, std::int64_t> file_decisions, file_types, file_places;
  for (const auto& r : records) {
    const std::string event(r.get("event"));
    const auto when = [&] { return json::Value{{"time", std::string(r.get("time"))}, {"id", std::string(r.get("id"))}}; };
    if (event == "gateway-start") {
      versions.emplace(r.get("version"));
      digests.emplace(r.get("config_digest"));
      starts.push_back({{"time", std::string(r.get("time"))}, {"version", std::string(r.get("version"))},
                        {"config_digest", std::string(r.get("config_digest"))}, {"config", std::string(r.get("config"))}});
    } else if (event == "release-requested") {
      json::Value row = when();
      row["requested_by"] = std::string(r.get("operator"));
      row["reason"] = std::string(r.get("reason"));
      requests.push_back(std::move(row));
    } else if (event == "approved") {
      approvals[std::string(r.get("id"))] = &r;
    } else if (event == "released") {
      json::Value row = when();
      const auto approval = approvals.find(std::string(r.get("id")));
      const bool approved = approval != approvals.end();
      row["released_by"] = std::string(r.get("operator"));
      row["requested_by"] = approved ? std::string(approval->second->get("requested_by")) : "";
      row["approved_by"] = approved ? std::string(approval->second->get("operator")) : "";
      row["approved_time"] = approved ? std::string(approval->second->get("time")) : "";
      row["rcpt_to"] = std::string(r.get("rcpt_to"));
      row["reason"] = std::string(r.get("reason"));
      if (approved) approvals.erase(approval);
      releases.push_back(std::move(row));
    } else if (event == "unlocked") {
      ++ppap["unlocked"];
    } else if (event == "deleted") {
      json::Value row = when();
      row["operator"] = std::string(r.get("operator"));
      row["reason"] = std::string(r.get("reason"));
      deletions.push_back(std::move(row));
    } else if (event == "expired") {
      ++expired;
    } else if (event == "file-sanitized" || event == "file-removed") {
      ++file_decisions[event == "file-sanitized" ? "sanitized" : "removed"];
      ++file_types[r.get("detected_type").empty() ? "(unknown)" : std::string(r.get("detected_type"))];
      ++file_places[std::string(r.get("where"))];
    } else if (event == "purged") {
      purges.push_back({{"time", std::string(r.get("time"))}, {"operator", std::string(r.get("operator"))},
                        {"count", digits(r.get("count"))}});
    }
  }

  std::map<std::string, std::int64_t> failure_kinds;
  json::Value failures = json::Value::array();
  for (const auto& f : facts.failures) {
    ++failure_kinds[f.kind];
    failures.push_back({{"time", local_time(f.unix_time)}, {"queue_id", f.queue_id}, {"kind", f.kind}, {"detail", f.detail}});
  }

  json::Value by_day = json::Value::array();
  for (const auto& [day, d] : days) {
    by_day.push_back({{"day", day}, {"received", d.received}, {"delivered", d.delivered},
                      {"held_whole", d.held_whole}, {"bounced", d.bounced}});
  }
  const auto verdict_count = [&](const char* v) { return verdicts.count(v) ? verdicts.at(v) : 0; };
  json::Value ppap_json = json::Value::object();
  for (const char* k : {"paired", "pair-failed", "unlocked", "window-expired", "refused", "awaiting"}) ppap_json[k] = ppap[k];
  json::Value report = {
      {"report", "mugai self-inspection report"},
      {"generated", local_time(now)},
      {"period", {{"since", local_time(since)}, {"until", local_time(now)}, {"since_unix", since}, {"until_unix", now}}},
      {"gateway", {{"starts", std::move(starts)},
                   {"versions", std::vector<std::string>(versions.begin(), versions.end())},
                   {"config_digests", std::vector<std::string>(digests.begin(), digests.end())},
                   {"current_config", cfg.source},
                   {"current_config_digest", cfg.digest}}},
      {"totals", {{"received", static_cast<std::int64_t>(facts.messages.size())},
                  {"delivered", static_cast<std::int64_t>(delivered.size())},
                  {"held_whole", held_whole},
                  {"rejected", verdict_count("rejected")},
                  {"bounced", static_cast<std::int64_t>(bounced.size())},
                  {"awaiting_password", verdict_count("awaiting-password")},
                  {"failed", verdict_count("failed")},
                  {"parts_removed", decisions.count("removed") ? decisions.at("removed") : 0},
                  {"documents_rendered", rendered_documents},
                  {"pages_rendered", rendered_pages}}},
      {"by_day", std::move(by_day)},
      {"removed_by_reason", counted(removed_by_reason)},
      {"removed_by_type", counted(removed_by_type)},
      {"rendered", {{"documents", rendered_documents}, {"pages", rendered_pages}, {"by_type", counted(rendered_by_type)}}},
      {"ppap", std::move(ppap_json)},
      {"files", {{"sanitized", file_decisions["sanitized"]}, {"removed", file_decisions["removed"]},
                 {"by_type", counted(file_types)}, {"by_place", counted(file_places)}}},
      {"release_requests", std::move(requests)},
      {"releases", std::move(releases)},
      {"deletions", std::move(deletions)},
      {"expired", expired},
      {"purges", std::move(purges)},
      {"worker_failures", {{"count", static_cast<std::int64_t>(facts.failures.size())},
                           {"by_kind", counted(failure_kinds)}, {"list", std::move(failures)}}},
      {"audit", {{"log", options.audit_log}, {"verified", audit.ok}, {"records", audit.records},
                 {"first_bad_line", audit.first_bad_line}, {"problem", audit.problem}}},
  };
  // Through dump and parse once: every string from mail or the log becomes valid UTF-8 (U+FFFD for the
  // rest), so the text and HTML forms start from the same clean value the JSON form prints.
  return json::parse(json::dump(report));
}

// ---- text ------------------------------------------------------------------------------------

std::string s(const json::Value& v) {
  return v.is_string() ? v.get<std::string>() : json::dump(v);
}
std::string safe(const json::Value& v) { const std::string t = s(v); return fit_columns(t, display_width(t)); }
std::string num(const json::Value& v, std::size_t width) {
  std::string t = s(v);
  return std::string(width > t.size() ? width - t.size() : 0, ' ') + t;
}

struct Heading {
  const char* key;
  const char* ja;
  const char* en;
};
constexpr Heading kTotals[] = {
    {"received", "受信", "received"},           {"delivered", "配送", "delivered"},
    {"held_whole", "全体隔離", "held whole"},    {"rejected", "拒否", "rejected"},
    {"bounced", "不達通知", "bounced"},          {"awaiting_password", "パスワード待ち", "awaiting password"},
    {"failed", "処理失敗", "failed"},            {"parts_removed", "削除パート", "parts removed"},
    {"documents_rendered", "画像化文書", "documents rendered"}, {"pages_rendered", "画像化ページ", "pages rendered"},
};
constexpr Heading kDay[] = {{"received", "受信", "received"}, {"delivered", "配送", "delivered"},
                            {"held_whole", "隔離", "held whole"}, {"bounced", "不達", "bounced"}};
constexpr Heading kPpap[] = {{"paired", "パスワード照合", "paired"}, {"pair-failed", "照合失敗", "pair failed"},
                             {"unlocked", "管理者解除", "unlocked by an operator"},
                             {"window-expired", "待機期限切れ", "window expired"}, {"refused", "拒否", "refused"},
                             {"awaiting", "待機中", "awaiting"}};

std::string text_counts(const json::Value& rows) {
  if (rows.empty()) return "  (none)\n";
  std::string out;
  for (const auto& r : rows) out += num(r["count"], 6) + "  " + safe(r["key"]) + "\n";
  return out;
}

std::string render_text(const json::Value& r) {
  std::string out = "mugai 自己点検レポート / self-inspection report\n";
  out += "期間 / period: " + s(r["period"]["since"]) + " – " + s(r["period"]["until"]) + "\n";
  const auto& a = r["audit"];
  out += "監査ログ / audit chain: " + safe(a["log"]) + ": " +
         (a["verified"].get<bool>() ? "verified, " + s(a["records"]) + " records, every MAC and the hash chain intact"
                                    : "VERIFICATION FAILED" +
                                          (a["first_bad_line"].get<std::size_t>() ? " at record " + s(a["first_bad_line"]) : std::string()) +
                                          ": " + safe(a["problem"])) +
         "\n\n";
  const auto& g = r["gateway"];
  out += "ゲートウェイ / gateway\n";
  for (const auto& st : g["starts"])
    out += "  started " + safe(st["time"]) + "  version " + safe(st["version"]) + "  config " + safe(st["config_digest"]) + "\n";
  out += "  current configuration " + safe(g["current_config"]) + ": " + safe(g["current_config_digest"]) + "\n\n";
  out += "合計 / totals\n";
  for (const auto& h : kTotals) out += num(r["totals"][h.key], 8) + "  " + h.ja + " / " + h.en + "\n";
  out += "\n日別 / by day\n  day        ";
  for (const auto& h : kDay) out += num(json::Value(h.en), 11);
  out += "\n";
  for (const auto& d : r["by_day"]) {
    out += "  " + s(d["day"]) + " ";
    for (const auto& h : kDay) out += num(d[h.key], 11);
    out += "\n";
  }
  out += "\n削除パート(理由別) / removed parts by reason\n" + text_counts(r["removed_by_reason"]);
  out += "\n削除パート(種類別) / removed parts by detected type\n" + text_counts(r["removed_by_type"]);
  out += "\n画像化文書 / rendered documents: " + s(r["rendered"]["documents"]) + " (" + s(r["rendered"]["pages"]) +
         " pages)\n" + text_counts(r["rendered"]["by_type"]);
  out += "\nファイル無害化 / files: " + s(r["files"]["sanitized"]) + " sanitized, " + s(r["files"]["removed"]) +
         " removed\n  種類別 / by detected type\n" + text_counts(r["files"]["by_type"]) + "  場所別 / by place\n" +
         text_counts(r["files"]["by_place"]);
  out += "\nPPAP\n";
  for (const auto& h : kPpap) out += num(r["ppap"][h.key], 6) + "  " + h.ja + " / " + h.en + "\n";
  out += "\n解放 / releases\n";
  if (r["releases"].empty()) out += "  (none)\n";
  for (const auto& x : r["releases"]) {
    out += "  " + safe(x["time"]) + "  " + safe(x["id"]) + "  released by " + safe(x["released_by"]);
    if (!s(x["approved_by"]).empty())
      out += " (requested by " + safe(x["requested_by"]) + ", approved by " + safe(x["approved_by"]) + " " + safe(x["approved_time"]) + ")";
    out += "\n";
  }
  out += "  requests: " + std::to_string(r["release_requests"].size()) + "\n";
  out += "\n削除・期限切れ / deletions and purges\n";
  for (const auto& x : r["deletions"])
    out += "  " + safe(x["time"]) + "  " + safe(x["id"]) + "  deleted by " + safe(x["operator"]) + ": " + safe(x["reason"]) + "\n";
  for (const auto& x : r["purges"])
    out += "  " + safe(x["time"]) + "  purge by " + safe(x["operator"]) + ": " + s(x["count"]) + " expired\n";
  out += "  deleted: " + std::to_string(r["deletions"].size()) + ", expired: " + s(r["expired"]) +
         ", purge runs: " + std::to_string(r["purges"].size()) + "\n";
  out += "\nワーカー障害 / worker failures: " + s(r["worker_failures"]["count"]) + "\n";
  for (const auto& x : r["worker_failures"]["list"])
    out += "  " + safe(x["time"]) + "  " + safe(x["queue_id"]) + "  " + safe(x["kind"]) + ": " + safe(x["detail"]) + "\n";
  return out;
}

// ---- HTML ------------------------------------------------------------------------------------

// Markup-safe and display-safe: controls and bidi characters shown escaped, then the five HTML specials.
std::string h(const json::Value& v) {
  std::string out;
  for (const char c : sanitize::escape_for_display(s(v))) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

constexpr const char* kSeriesColour[] = {"#2b6cb0", "#2f855a", "#c05621", "#c53030"};

std::string heading(const char* id, const char* ja, const char* en) {
  return std::string("<h2 id=\"") + id + "\">" + ja + " <span class=\"en\">/ " + en + "</span></h2>\n";
}

// Grouped bars, one group per day, one bar per series of kDay; every bar carries its figure.
std::string volume_chart(const json::Value& by_day) {
  std::int64_t top = 1;
  for (const auto& d : by_day)
    for (const auto& k : kDay) top = std::max(top, d[k.key].get<std::int64_t>());
  constexpr int kBar = 18, kPlot = 200, kTop = 30, kLeft = 40;
  const int group = kBar * 4 + 24;
  constexpr int kLegend = 130;  // per series, below the plot: the chart is at least as wide as its legend
  const int width = std::max<int>(kLeft + group * static_cast<int>(by_day.size()), kLeft + kLegend * 4) + 20;
  std::string svg = "<svg id=\"chart-volumes\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    std::to_string(width) + "\" height=\"" + std::to_string(kTop + kPlot + 60) +
                    "\" role=\"img\" aria-labelledby=\"chart-volumes-title\"><title id=\"chart-volumes-title\">"
                    "日別の件数 / messages by day</title>\n";
  svg += "<line x1=\"" + std::to_string(kLeft) + "\" y1=\"" + std::to_string(kTop + kPlot) + "\" x2=\"" +
         std::to_string(width - 10) + "\" y2=\"" + std::to_string(kTop + kPlot) + "\" stroke=\"#444\"/>\n";
  for (std::size_t i = 0; i < by_day.size(); ++i) {
    const auto& d = by_day[i];
    const int x0 = kLeft + static_cast<int>(i) * group + 12;
    for (std::size_t k = 0; k < std::size(kDay); ++k) {
      const std::int64_t v = d[kDay[k].key].get<std::int64_t>();
      const int bar = static_cast<int>(v * kPlot / top);
      const int x = x0 + static_cast<int>(k) * kBar;
      svg += "<rect class=\"bar series-" + std::string(kDay[k].key) + "\" data-day=\"" + h(d["day"]) +
             "\" data-series=\"" + kDay[k].key + "\" data-value=\"" + std::to_string(v) + "\" x=\"" + std::to_string(x) +
             "\" y=\"" + std::to_string(kTop + kPlot - bar) + "\" width=\"" + std::to_string(kBar - 2) + "\" height=\"" +
             std::to_string(bar) + "\" fill=\"" + kSeriesColour[k] + "\"/>";
      svg += "<text class=\"value\" x=\"" + std::to_string(x + kBar / 2 - 1) + "\" y=\"" +
             std::to_string(kTop + kPlot - bar - 4) + "\" text-anchor=\"middle\">" + std::to_string(v) + "</text>\n";
    }
    svg += "<text class=\"day\" x=\"" + std::to_string(x0 + 2 * kBar) + "\" y=\"" + std::to_string(kTop + kPlot + 18) +
           "\" text-anchor=\"middle\">" + h(d["day"]) + "</text>\n";
  }
  for (std::size_t k = 0; k < std::size(kDay); ++k) {
    const int x = kLeft + static_cast<int>(k) * kLegend;
    svg += "<rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(kTop + kPlot + 34) +
           "\" width=\"12\" height=\"12\" fill=\"" + kSeriesColour[k] + "\"/><text x=\"" + std::to_string(x + 16) +
           "\" y=\"" + std::to_string(kTop + kPlot + 45) + "\">" + kDay[k].ja + " " + kDay[k].en + "</text>\n";
  }
  return svg + "</svg>\n";
}

// Horizontal bars of {key, count} rows, labelled with the (escaped) key and the figure.
std::string count_chart(const std::string& id, const char* title, const json::Value& rows, const char* colour) {
  std::int64_t top = 1;
  for (const auto& r : rows) top = std::max(top, r["count"].get<std::int64_t>());
  constexpr int kLabel = 360, kPlot = 400, kRow = 26;
  const int height = 30 + kRow * std::max<int>(1, static_cast<int>(rows.size()));
  std::string svg = "<svg id=\"" + id + "\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    std::to_string(kLabel + kPlot + 60) + "\" height=\"" + std::to_string(height) +
                    "\" role=\"img\"><title>" + title + "</title>\n";
  if (rows.empty()) svg += "<text x=\"10\" y=\"30\">(none)</text>\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::int64_t v = rows[i]["count"].get<std::int64_t>();
    const int y = 10 + static_cast<int>(i) * kRow;
    const int bar = std::max<int>(2, static_cast<int>(v * kPlot / top));
    svg += "<text class=\"label\" x=\"" + std::to_string(kLabel - 8) + "\" y=\"" + std::to_string(y + 15) +
           "\" text-anchor=\"end\">" + h(rows[i]["key"]) + "</text>";
    svg += "<rect class=\"bar\" data-key=\"" + h(rows[i]["key"]) + "\" data-value=\"" + std::to_string(v) + "\" x=\"" +
           std::to_string(kLabel) + "\" y=\"" + std::to_string(y) + "\" width=\"" + std::to_string(bar) +
           "\" height=\"" + std::to_string(kRow - 6) + "\" fill=\"" + colour + "\"/>";
    svg += "<text class=\"value\" x=\"" + std::to_string(kLabel + bar + 6) + "\" y=\"" + std::to_string(y + 15) + "\">" +
           std::to_string(v) + "</text>\n";
  }
  return svg + "</svg>\n";
}

std::string count_table(const std::string& id, const char* key_heading, const json::Value& rows) {
  std::string t = "<table id=\"" + id + "\"><tr><th>" + key_heading + "</th><th>件数 / count</th></tr>\n";
  for (const auto& r : rows)
    t += "<tr><td>" + h(r["key"]) + "</td><td class=\"num\">" + h(r["count"]) + "</td></tr>\n";
  return t + "</table>\n";
}

// One row per heading: its names and the figure `values` holds under its key.
template <std::size_t N>
std::string headed_table(const std::string& id, const Heading (&rows)[N], const json::Value& values) {
  std::string t = "<table id=\"" + id + "\">\n";
  for (const auto& row : rows)
    t += "<tr data-key=\"" + std::string(row.key) + "\"><th>" + row.ja + " / " + row.en + "</th><td class=\"num\">" +
         h(values[row.key]) + "</td></tr>\n";
  return t + "</table>\n";
}

std::string render_html(const json::Value& r) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
      "<title>mugai 自己点検レポート / self-inspection report</title>\n<style>\n"
      "body{font-family:sans-serif;margin:2em;color:#222;background:#fff}h1{font-size:1.5em}"
      "h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}.en{color:#666;font-weight:normal}"
      "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}"
      "td.num{text-align:right}.ok{color:#2f855a;font-weight:bold}.bad{color:#c53030;font-weight:bold}"
      "svg text{font-size:12px;fill:#222}\n</style>\n</head>\n<body>\n";
  out += "<h1>mugai 自己点検レポート <span class=\"en\">/ self-inspection report</span></h1>\n";
  out += "<p id=\"period\">期間 / period: " + h(r["period"]["since"]) + " – " + h(r["period"]["until"]) + "</p>\n";

  const auto& a = r["audit"];
  const bool ok = a["verified"].get<bool>();
  out += heading("audit", "監査ログの検証", "audit chain verification");
  out += "<p id=\"audit-result\" class=\"" + std::string(ok ? "ok" : "bad") + "\" data-verified=\"" + (ok ? "true" : "false") +
         "\">" + h(a["log"]) + ": " +
         (ok ? "検証成功 / verified, " + h(a["records"]) + " records, every MAC and the hash chain intact"
             : "検証失敗 / VERIFICATION FAILED (record " + h(a["first_bad_line"]) + "): " + h(a["problem"])) +
         "</p>\n";

  const auto& g = r["gateway"];
  out += heading("gateway", "ゲートウェイと設定", "gateway version and configuration");
  out += "<table id=\"table-gateway\"><tr><th>起動 / started</th><th>版 / version</th><th>設定ダイジェスト / config digest</th>"
         "<th>設定ファイル / config</th></tr>\n";
  for (const auto& st : g["starts"])
    out += "<tr><td>" + h(st["time"]) + "</td><td>" + h(st["version"]) + "</td><td><code>" + h(st["config_digest"]) +
           "</code></td><td>" + h(st["config"]) + "</td></tr>\n";
  out += "</table>\n<p id=\"current-config\">現在の設定 / current configuration " + h(g["current_config"]) + ": <code>" +
         h(g["current_config_digest"]) + "</code></p>\n";

  out += heading("totals", "合計", "totals");
  out += headed_table("table-totals", kTotals, r["totals"]);

  out += heading("volumes", "日別の件数", "volumes by day");
  out += "<figure>" + volume_chart(r["by_day"]) + "</figure>\n<table id=\"table-volumes\"><tr><th>日 / day</th>";
  for (const auto& k : kDay) out += std::string("<th>") + k.ja + " / " + k.en + "</th>";
  out += "</tr>\n";
  for (const auto& d : r["by_day"]) {
    out += "<tr><td>" + h(d["day"]) + "</td>";
    for (const auto& k : kDay) out += "<td class=\"num\" data-series=\"" + std::string(k.key) + "\">" + h(d[k.key]) + "</td>";
    out += "</tr>\n";
  }
  out += "</table>\n";

  out += heading("removed-by-type", "削除パート(種類別)", "removed parts by detected type");
  out += "<figure>" + count_chart("chart-removed-by-type", "削除パート(種類別) / removed parts by type", r["removed_by_type"], "#c05621") +
         "</figure>\n" + count_table("table-removed-by-type", "種類 / detected type", r["removed_by_type"]);
  out += heading("removed-by-reason", "削除パート(理由別)", "removed parts by reason");
  out += "<figure>" +
         count_chart("chart-removed-by-reason", "削除パート(理由別) / removed parts by reason", r["removed_by_reason"], "#805ad5") +
         "</figure>\n" + count_table("table-removed-by-reason", "理由 / reason", r["removed_by_reason"]);

  out += heading("rendered", "画像化した文書", "rendered documents");
  out += "<p id=\"rendered-summary\" data-documents=\"" + h(r["rendered"]["documents"]) + "\" data-pages=\"" +
         h(r["rendered"]["pages"]) + "\">" + h(r["rendered"]["documents"]) + " documents, " + h(r["rendered"]["pages"]) +
         " pages</p>\n" + count_table("table-rendered", "種類 / detected type", r["rendered"]["by_type"]);

  out += heading("files", "ファイル無害化", "files (sanitize-file and the watched folder)");
  out += "<p id=\"files-summary\" data-sanitized=\"" + h(r["files"]["sanitized"]) + "\" data-removed=\"" +
         h(r["files"]["removed"]) + "\">" + h(r["files"]["sanitized"]) + " sanitized, " + h(r["files"]["removed"]) +
         " removed</p>\n" + count_table("table-files-by-type", "種類 / detected type", r["files"]["by_type"]) +
         count_table("table-files-by-place", "場所 / where", r["files"]["by_place"]);

  out += heading("ppap", "PPAP(パスワード付き圧縮ファイル)", "password-protected archives");
  out += headed_table("table-ppap", kPpap, r["ppap"]);

  out += heading("releases", "隔離解除と承認", "releases and approvals");
  out += "<table id=\"table-releases\"><tr><th>日時 / time</th><th>ID</th><th>解除者 / released by</th>"
         "<th>申請者 / requested by</th><th>承認者 / approved by</th><th>承認日時 / approved</th><th>宛先 / to</th>"
         "<th>理由 / reason</th></tr>\n";
  for (const auto& x : r["releases"])
    out += "<tr><td>" + h(x["time"]) + "</td><td>" + h(x["id"]) + "</td><td>" + h(x["released_by"]) + "</td><td>" +
           h(x["requested_by"]) + "</td><td>" + h(x["approved_by"]) + "</td><td>" + h(x["approved_time"]) + "</td><td>" +
           h(x["rcpt_to"]) + "</td><td>" + h(x["reason"]) + "</td></tr>\n";
  out += "</table>\n<p>解除申請 / release requests: <span id=\"release-requests\">" +
         std::to_string(r["release_requests"].size()) + "</span></p>\n";

  out += heading("deletions", "削除と期限切れ", "deletions and purges");
  out += "<table id=\"table-deletions\"><tr><th>日時 / time</th><th>ID</th><th>操作者 / operator</th><th>理由 / reason</th></tr>\n";
  for (const auto& x : r["deletions"])
    out += "<tr><td>" + h(x["time"]) + "</td><td>" + h(x["id"]) + "</td><td>" + h(x["operator"]) + "</td><td>" +
           h(x["reason"]) + "</td></tr>\n";
  out += "</table>\n<table id=\"table-purges\"><tr><th>日時 / time</th><th>操作者 / operator</th><th>期限切れ / expired</th></tr>\n";
  for (const auto& x : r["purges"])
    out += "<tr><td>" + h(x["time"]) + "</td><td>" + h(x["operator"]) + "</td><td class=\"num\">" + h(x["count"]) + "</td></tr>\n";
  out += "</table>\n<p>期限切れ合計 / expired in all: <span id=\"expired\">" + h(r["expired"]) + "</span></p>\n";

  out += heading("worker-failures", "ワーカー障害", "worker failures");
  out += "<table id=\"table-worker-failures\"><tr><th>日時 / time</th><th>キューID / queue id</th><th>種別 / kind</th>"
         "<th>詳細 / detail</th></tr>\n";
  for (const auto& x : r["worker_failures"]["list"])
    out += "<tr><td>" + h(x["time"]) + "</td><td>" + h(x["queue_id"]) + "</td><td>" + h(x["kind"]) + "</td><td>" +
           h(x["detail"]) + "</td></tr>\n";
  out += "</table>\n<p>合計 / in all: <span id=\"worker-failure-count\">" + h(r["worker_failures"]["count"]) + "</span></p>\n";
  out += "<p class=\"en\">generated " + h(r["generated"]) + " by mugaictl report</p>\n</body>\n</html>\n";
  return out;
}

// The defaults, and --format checked: the shared parser takes any value.
Expected<Options> parse(Args args) {
  auto o = parse_options(args, "--since --format --out", 0);
  if (!o) return o;
  if (o->json) return Error{"--json: use --format json"};
  if (o->since.empty()) o->since = "30d";
  if (o->format.empty()) o->format = "text";
  if (o->format != "text" && o->format != "json" && o->format != "html")
    return Error{"--format expects text, json or html, got '" + safe_text(o->format) + "'"};
  if (o->out == "-") o->out.clear();
  return o;
}

}  // namespace

int cmd_report(Args args) {
  auto o = parse(args);
  if (!o) return usage(o.error().message);
  auto age = parse_age("--since", o->since);
  if (!age) return usage(age.error().message);
  auto cfg = load_config(*o);
  if (!cfg) return fail(cfg.error().message);
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const std::int64_t since = now - *age;
  const auto options = quarantine::store_options(*cfg, false, {});
  auto facts = quarantine::read_traffic(cfg->quarantine.dir, since);
  if (!facts) return fail(facts.error().message);
  auto records = quarantine::read_audit(options.audit_log, since);
  if (!records) return fail("audit log " + options.audit_log + ": " + records.error().message);
  const AuditVerdict audit = verify(*cfg, options);
  const json::Value report = build(*cfg, options, since, now, *facts, *records, audit);
  const std::string text = o->format == "json" ? json::dump(report, 2) + "\n"
                           : o->format == "html" ? render_html(report)
                                                 : render_text(report);
  if (o->out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    const std::string tmp = o->out + ".tmp." + std::to_string(::getpid());
    if (auto st = durable::write_file(tmp, o->out, {text}, true, true); !st) return fail(st.error().message);
  }
  if (!audit.ok) {
    return fail("audit log " + options.audit_log + " does not verify" +
                (audit.first_bad_line ? " at record " + std::to_string(audit.first_bad_line) : std::string()) + ": " +
                audit.problem + " (the report says so)");
  }
  return kOk;
}

}  // namespace mugai::ctl
