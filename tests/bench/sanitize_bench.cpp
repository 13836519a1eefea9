// Sanitize benchmark (not a test): sanitize_message() in process, single thread (so the figures are per
// core), on a mix generated in memory: 2 KB text, a 100 KB HTML newsletter (with and without a text/plain
// alternative), ISO-2022-JP mail and mail with a 5 MB attachment. Prints msgs/s and MB/s of input per
// second of this thread's CPU time, so the per-core figures hold on a busy machine too (wall-clock
// rates are printed beside them). Two reference lines run gumbo alone on the newsletter's HTML, whole and
// reduced to its bare tags: the ceiling any gumbo-based HTML conversion can reach on this machine.
//
//   bench_sanitize [SECONDS_PER_CASE [CASE_SUBSTRING]]   (default 3, all cases)
#include <gumbo.h>
#include <iconv.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "sanitizers/codec.hpp"
#include "sanitizers/pipeline.hpp"
#include "tests/sanitizers/newsletter.hpp"

namespace {

using namespace mugai::sanitize;

std::string crlf(const std::string& lf) {
  std::string out;
  out.reserve(lf.size() + lf.size() / 32);
  for (std::size_t i = 0; i < lf.size(); ++i) {
    // qp_encode already ends its lines in CRLF: only a bare LF gets its CR.
    if (lf[i] == '\n' && (i == 0 || lf[i - 1] != '\r')) out.push_back('\r');
    out.push_back(lf[i]);
  }
  return out;
}

std::string header(const std::string& subject, const std::string& content_type) {
  return "From: Sender <news@sender.example>\nTo: user@city.example.lg.jp\nSubject: " + subject +
         "\nDate: Tue, 14 Nov 2023 22:13:20 +0900\nMessage-ID: <bench@sender.example>\nMIME-Version: 1.0\n"
         "Content-Type: " + content_type + "\n";
}

std::string text_body(std::size_t bytes) {
  std::string t;
  while (t.size() < bytes) t += "The quick brown fox jumps over the lazy dog; lines of ordinary mail text.\n";
  return t;
}

// UTF-8 → ISO-2022-JP through glibc iconv, as a Japanese mailer would send it.
std::string to_iso2022jp(const std::string& utf8) {
  iconv_t cd = iconv_open("ISO-2022-JP", "UTF-8");
  if (cd == reinterpret_cast<iconv_t>(-1)) std::abort();
  std::string in = utf8, out(utf8.size() * 2 + 16, '\0');
  char* ip = in.data();
  char* op = out.data();
  std::size_t il = in.size(), ol = out.size();
  if (iconv(cd, &ip, &il, &op, &ol) == static_cast<std::size_t>(-1) || iconv(cd, nullptr, nullptr, &op, &ol) != 0) {
    std::abort();
  }
  iconv_close(cd);
  out.resize(out.size() - ol);
  return out;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Case {
  std::string name;
  std::string input;
  std::function<bool(const std::string&)> run;  // one iteration; false when it failed to do its job
};

bool gumbo_only(const std::string& html) {
  GumboOptions options = kGumboDefaultOptions;
  options.max_errors = 0;  // as html_text does
  GumboOutput* out = gumbo_parse_with_options(&options, html.data(), html.size());
  const bool parsed = out != nullptr;
  gumbo_destroy_output(&options, out);
  return parsed;
}

// The document's start and end tags with their names only: no text, no attributes.
std::string bare_tags(const std::string& html) {
  std::string tags;
  for (std::size_t i = html.find('<'); i != std::string::npos; i = html.find('<', i + 1)) {
    const std::size_t name_end = html.find_first_of(" >", i);
    tags.append(html, i, name_end - i).push_back('>');
  }
  return tags;
}

std::vector<Case> cases(const std::function<bool(const std::string&)>& sanitize) {
  const std::string html = mugai::sanitize::test::newsletter_html(100 * 1024);
  const std::string html_qp = qp_encode(html);
  std::string attachment(5 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < attachment.size(); ++i) attachment[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::string b64 = base64_encode(attachment);
  std::string b64_lines;
  for (std::size_t i = 0; i < b64.size(); i += 76) b64_lines += b64.substr(i, 76) + "\n";
  std::string jp;
  while (jp.size() < 2048) jp += "市役所からのお知らせです。第一窓口は本日休業します。ご理解をお願いします。\n";

  std::vector<Case> all;
  all.push_back({"text 2KB", crlf(header("Plain", "text/plain; charset=us-ascii") + "\n" + text_body(2048)), sanitize});
  all.push_back({"html 100KB alternative",
                 crlf(header("News", "multipart/alternative; boundary=\"b1\"") + "\n--b1\nContent-Type: text/plain; "
                      "charset=utf-8\n\n" + text_body(8 * 1024) + "--b1\nContent-Type: text/html; charset=utf-8\n"
                      "Content-Transfer-Encoding: quoted-printable\n\n" + html_qp + "\n--b1--\n"),
                 sanitize});
  all.push_back({"html 100KB only", crlf(header("News", "text/html; charset=utf-8") +
                                         "Content-Transfer-Encoding: quoted-printable\n\n" + html_qp + "\n"),
                 sanitize});
  all.push_back({"  ref: gumbo alone", html, gumbo_only});
  all.push_back({"  ref: gumbo, tags only", bare_tags(html), gumbo_only});
  all.push_back({"iso-2022-jp 2KB", crlf(header("=?ISO-2022-JP?B?GyRCJCpDTiRpJDsbKEI=?=",
                                                "text/plain; charset=ISO-2022-JP") +
                                         "Content-Transfer-Encoding: 7bit\n\n" + to_iso2022jp(jp)),
                 sanitize});
  all.push_back({"5MB attachment",
                 crlf(header("Report", "multipart/mixed; boundary=\"b2\"") + "\n--b2\nContent-Type: text/plain\n\n" +
                      text_body(1024) + "--b2\nContent-Type: application/octet-stream; name=\"report.bin\"\n"
                      "Content-Disposition: attachment; filename=\"report.bin\"\nContent-Transfer-Encoding: base64\n\n" +
                      b64_lines + "--b2--\n"),
                 sanitize});
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const std::string only = argc > 2 ? argv[2] : "";  // a substring of case names, to profile one case
  if (seconds <= 0 || argc > 3) {
    std::fprintf(stderr, "usage: bench_sanitize [SECONDS_PER_CASE [CASE_SUBSTRING]]\n");
    return 2;
  }
  MessageContext ctx;
  ctx.queue_id = "QBENCH";
  ctx.gateway_hostname = "mugai.bench";
  ctx.client_ip = "192.0.2.1";
  ctx.helo = "mx.sender.example";
  ctx.mail_from = "news@sender.example";
  ctx.rcpt_to = {"user@city.example.lg.jp"};
  ctx.received_unix = 1700000000;
  ctx.quarantine_id = "QBEN-CH01";
  const Policy policy;
  std::string failure;
  const auto sanitize = [&](const std::string& message) {
    const Outcome out = sanitize_message(message, ctx, policy);
    if (out.verdict != Outcome::Verdict::Sanitized) failure = "not sanitized: " + out.reason;
    return out.verdict == Outcome::Verdict::Sanitized;
  };
  std::printf("%-24s %10s %12s %10s %12s\n", "case", "bytes", "msgs/cpu-s", "MB/cpu-s", "msgs/wall-s");
  for (const Case& c : cases(sanitize)) {
    if (c.name.find(only) == std::string::npos) continue;
    std::size_t n = 0;
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = thread_cpu_seconds();
    double elapsed = 0;
    do {
      if (!c.run(c.input)) {
        std::fprintf(stderr, "%s: %s\n", c.name.c_str(), failure.empty() ? "failed" : failure.c_str());
        return 1;
      }
      ++n;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < seconds);
    const double cpu = thread_cpu_seconds() - cpu_start;
    std::printf("%-24s %10zu %12.1f %10.1f %12.1f\n", c.name.c_str(), c.input.size(), n / cpu,
                static_cast<double>(c.input.size()) * n / cpu / (1024 * 1024), n / elapsed);
  }
  return 0;
}
