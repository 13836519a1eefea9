// Blocking frame I/O on the worker channel, for the worker itself and for `mugaictl sanitize` (the
// gateway's pool does the same asynchronously), the one reading of an outcome's two frames and of a
// worker's conversion request, and one message through a fresh worker for the CLI.
// Reads are bounded by the frame limit; a broken stream or frame is an Error, never an exception.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/expected.hpp"
#include "proto/worker_frame.hpp"
#include "sanitizers/pipeline.hpp"
#include "worker/spawn.hpp"

namespace mugai::worker {

using FramePart = std::pair<std::uint8_t, std::string_view>;

class BlockingChannel {
 public:
  BlockingChannel(int fd, std::size_t max_frame);
  // Writes the frames, headers and payloads gathered (the payloads are not copied).
  Status send(const std::vector<FramePart>& frames);
  // The next frame; nullopt at a clean end of stream (between frames). A failed read's Error has
  // its errno as `kind` (EAGAIN: SO_RCVTIMEO passed).
  Expected<std::optional<proto::Frame>> receive();

 private:
  int fd_;
  proto::FrameDecoder decoder_;
};

// The frames of one request: the context as JSON, then the raw message. `context_json` must stay alive
// while the frames are sent.
std::vector<FramePart> request_frames(const std::string& context_json, std::string_view message);
// The frames of an outcome; `meta_json` = wire::encode_outcome(outcome), alive while they are sent.
std::vector<FramePart> outcome_frames(const std::string& meta_json, const sanitize::Outcome& outcome);
// An outcome from its two frames (kOutcome, then kOutcomeMessage), checked strictly; a quarantine
// record must come under `quarantine_id`, the id the caller allocated (a worker picks no ids).
Expected<sanitize::Outcome> read_outcome(proto::Frame meta, proto::Frame message, std::string_view quarantine_id);

// What converts a document a worker asks for: office::convert_to_pdf with the configured limits, bound
// by the gateway or mugaictl (a worker may start no process). Errors carry DocumentConverter's kinds.
using ConvertFn = std::function<Expected<std::string>(std::string_view document, std::string_view format)>;

struct ConvertRequest {
  std::string format;  // one of sanitize::kOfficeFormats
  std::string document;
};
// A request from its two frames (kConvert, then kConvertDocument), checked strictly.
Expected<ConvertRequest> read_convert_request(proto::Frame meta, proto::Frame document);
// `convert` on the request; none given: the converter is unavailable here.
Expected<std::string> run_conversion(const ConvertFn& convert, const ConvertRequest& request);
// The one answer frame: kConverted with the PDF, or kConvertFailed with why.
proto::Frame conversion_answer(Expected<std::string> pdf);

// One message through a fresh worker, synchronously (`mugaictl sanitize`): start it, send the policy
// and the request, read the outcome, close, reap. The worker's log lines go to our stderr. Waits at
// most `timeout` for each frame (then SIGKILL); the worker's conversion requests are answered by
// `convert` on the way. An Error says how the worker ended ("timeout after 60 s", "sanitizer failed:
// signal 11 (Segmentation fault)", a malformed outcome).
Expected<sanitize::Outcome> sanitize_once(const std::string& path, const Limits& limits, std::chrono::seconds timeout,
                                          const sanitize::Policy& policy, const sanitize::MessageContext& ctx,
                                          std::string_view message, const ConvertFn& convert);

}  // namespace mugai::worker
