// Blocking channel I/O (see channel.hpp). writev with EINTR and short writes handled; reads in 64 KiB
// chunks into the frame decoder, which refuses an oversized frame from its header.
#include "worker/channel.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include "sanitizers/wire.hpp"

namespace mugai::worker {

BlockingChannel::BlockingChannel(int fd, std::size_t max_frame) : fd_(fd), decoder_(max_frame, sanitize::wire::kMaxTag) {}

Status BlockingChannel::send(const std::vector<FramePart>& frames) {
  std::vector<std::array<char, proto::kFrameHeader>> headers;
  headers.reserve(frames.size());
  std::vector<iovec> iov;
  for (const auto& [type, payload] : frames) {
    headers.push_back(proto::frame_header(type, payload.size()));
    iov.push_back({headers.back().data(), headers.back().size()});
    if (!payload.empty()) iov.push_back({const_cast<char*>(payload.data()), payload.size()});
  }
  std::size_t first = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<std::size_t>(iov.size() - first, IOV_MAX));
    const ssize_t n = ::writev(fd_, iov.data() + first, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{std::string("write to the worker channel: ") + std::strerror(errno)};
    }
    auto left = static_cast<std::size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (left > 0) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return Ok{};
}

Expected<std::optional<proto::Frame>> BlockingChannel::receive() {
  std::array<char, 64 * 1024> buf;
  for (;;) {
    if (auto f = decoder_.next()) return std::optional<proto::Frame>(std::move(*f));
    if (decoder_.error()) return Error{*decoder_.error()};
    const ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      return Error{std::string("read from the worker channel: ") + std::strerror(err), err};
    }
    if (n == 0) {
      if (decoder_.idle()) return std::optional<proto::Frame>();
      return Error{"the worker channel ended inside a frame"};
    }
    decoder_.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
}

std::vector<FramePart> request_frames(const std::string& context_json, std::string_view message) {
  return {{sanitize::wire::kContext, context_json}, {sanitize::wire::kMessage, message}};
}

std::vector<FramePart> outcome_frames(const std::string& meta_json, const sanitize::Outcome& outcome) {
  return {{sanitize::wire::kOutcome, meta_json}, {sanitize::wire::kOutcomeMessage, outcome.message}};
}

Expected<sanitize::Outcome> read_outcome(proto::Frame meta, proto::Frame message, std::string_view quarantine_id) {
  if (meta.type != sanitize::wire::kOutcome || message.type != sanitize::wire::kOutcomeMessage)
    return Error{"expected an outcome, got frames " + std::to_string(meta.type) + "," + std::to_string(message.type)};
  auto outcome = sanitize::wire::decode_outcome(meta.payload, std::move(message.payload));
  if (outcome && outcome->quarantine && outcome->quarantine_id != quarantine_id)
    return Error{"outcome: quarantine id " + outcome->quarantine_id + " is not the one allocated"};
  return outcome;
}

Expected<ConvertRequest> read_convert_request(proto::Frame meta, proto::Frame document) {
  if (meta.type != sanitize::wire::kConvert || document.type != sanitize::wire::kConvertDocument)
    return Error{"expected a conversion request, got frames " + std::to_string(meta.type) + "," +
                 std::to_string(document.type)};
  auto format = sanitize::wire::decode_convert_request(meta.payload);
  if (!format) return format.error();
  return ConvertRequest{std::move(*format), std::move(document.payload)};
}

Expected<std::string> run_conversion(const ConvertFn& convert, const ConvertRequest& request) {
  if (!convert) return Error{"no document converter is configured here", sanitize::DocumentConverter::kUnavailable};
  return convert(request.document, request.format);
}

proto::Frame conversion_answer(Expected<std::string> pdf) {
  if (pdf) return proto::Frame{sanitize::wire::kConverted, std::move(*pdf)};
  return proto::Frame{sanitize::wire::kConvertFailed, sanitize::wire::encode_convert_failure(pdf.error())};
}

Expected<sanitize::Outcome> sanitize_once(const std::string& path, const Limits& limits, std::chrono::seconds timeout,
                                          const sanitize::Policy& policy, const sanitize::MessageContext& ctx,
                                          std::string_view message, const ConvertFn& convert) {
  auto started = spawn(path, limits, true);
  if (!started) return started.error();
  Process& proc = *started;
  // The worker's stderr through a pipe (ours may be a file, which its RLIMIT_FSIZE 0 forbids),
  // copied to ours as it comes so a chatty worker never blocks on a full pipe.
  std::thread relay([fd = proc.log.get()] {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || ::write(STDERR_FILENO, buf, static_cast<std::size_t>(n)) < 0) break;
    }
  });
  const timeval tv{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(proc.channel.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  // A worker that dies before reading everything must be an error here, not a SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);

  BlockingChannel channel(proc.channel.get(), limits.max_frame);
  const std::string policy_json = sanitize::wire::encode_policy(policy);
  const std::string context_json = sanitize::wire::encode_context(ctx);
  std::vector<FramePart> frames = {{sanitize::wire::kPolicy, policy_json}};
  for (const auto& f : request_frames(context_json, message)) frames.push_back(f);
  Expected<sanitize::Outcome> result = Error{"no outcome"};
  bool timed_out = false, malformed = false;
  if (auto sent = channel.send(frames); !sent) {
    result = sent.error();
  } else {
    // Each part is converted at most once: more requests than parts is a worker not sanitizing this message.
    for (std::size_t conversions = 0;; ++conversions) {
      auto meta = channel.receive();
      auto bytes = meta && *meta ? channel.receive() : Expected<std::optional<proto::Frame>>(std::nullopt);
      if (!meta || !bytes) {
        result = (!meta ? meta : bytes).error();
        timed_out = result.error().kind == EAGAIN || result.error().kind == EWOULDBLOCK;
        break;
      }
      if (!*meta || !*bytes) break;
      if ((*meta)->type != sanitize::wire::kConvert) {
        result = read_outcome(std::move(**meta), std::move(**bytes), ctx.quarantine_id);
        break;
      }
      auto request = read_convert_request(std::move(**meta), std::move(**bytes));
      if (!request || conversions >= policy.limits.max_parts) {
        result = Error{"sanitizer failed: malformed request from the worker: " +
                       (request ? "more conversion requests than parts (sanitize.max_parts)" : request.error().message)};
        malformed = true;
        break;
      }
      const proto::Frame answer = conversion_answer(run_conversion(convert, *request));
      if (auto st = channel.send({{answer.type, answer.payload}}); !st) {
        result = st.error();
        break;
      }
    }
  }
  if (timed_out || malformed) ::kill(proc.pid, SIGKILL);
  proc.channel.reset();  // end of stream: a healthy worker exits 0
  int status = 0;
  while (::waitpid(proc.pid, &status, 0) < 0 && errno == EINTR) {
  }
  relay.join();
  if (timed_out) return Error{"timeout after " + std::to_string(timeout.count()) + " s"};
  if (malformed) return result;
  const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!clean_exit) return Error{describe_exit(status, limits)};
  return result;
}

}  // namespace mugai::worker
