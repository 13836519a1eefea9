// What crosses the gateway↔worker channel, in proto/worker_frame.hpp's frames: the policy once, then per
// message a request (context as JSON, raw bytes as their own frame) and back an outcome (JSON, then
// the message bytes as their own frame). Decoding is strict and total: a missing or extra field, a
// wrong type, a value out of range or a broken invariant is an Error, never an exception, so the
// gateway can treat a worker that sends one as failed (worker/channel.hpp checks the frames' tags).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "sanitizers/pipeline.hpp"
#include "sanitizers/policy.hpp"

namespace mugai::sanitize::wire {

enum Tag : std::uint8_t {
  kPolicy = 1,          // gateway → worker, once: JSON
  kContext = 2,         // gateway → worker: JSON MessageContext, then kMessage
  kMessage = 3,         // gateway → worker: the raw message bytes
  kOutcome = 4,         // worker → gateway: JSON Outcome without its message, then kOutcomeMessage
  kOutcomeMessage = 5,  // worker → gateway: the rebuilt message bytes (empty unless sanitized)
  // Mid-message, between a request and its outcome: the worker asks the gateway to convert a document
  // (it may not start LibreOffice itself) and waits for the answer.
  kConvert = 6,          // worker → gateway: JSON {"format"}, then kConvertDocument
  kConvertDocument = 7,  // worker → gateway: the document bytes
  kConverted = 8,        // gateway → worker: the PDF bytes
  kConvertFailed = 9,    // gateway → worker: JSON {"reason", "unavailable"}
};
inline constexpr std::uint8_t kMaxTag = kConvertFailed;

// The largest frame either side accepts: the raw message (smtp.max_message_size), or a rebuilt one
// whose artefacts (at most max_decoded_total, base64 in MIME) and text came out larger, plus room for
// the report and the quarantine record.
std::size_t max_frame(std::size_t max_message_size, const Policy& policy);

// Everything of the policy but added_sanitizers (in-process stand-ins that cannot cross).
std::string encode_policy(const Policy& policy);
Expected<Policy> decode_policy(std::string_view json);

std::string encode_context(const MessageContext& ctx);
Expected<MessageContext> decode_context(std::string_view json);

// The outcome without `message` (which travels as its own frame).
std::string encode_outcome(const Outcome& outcome);
// `message` is the kOutcomeMessage payload; it must be empty unless the verdict is Sanitized.
Expected<Outcome> decode_outcome(std::string_view json, std::string message);

// A conversion request: the format, one of kOfficeFormats.
std::string encode_convert_request(std::string_view format);
Expected<std::string> decode_convert_request(std::string_view json);

// Why a conversion failed: `kind` is DocumentConverter::kRefused or kUnavailable.
struct ConvertFailure {
  std::string reason;
  int kind = DocumentConverter::kRefused;
};
std::string encode_convert_failure(const Error& why);
Expected<ConvertFailure> decode_convert_failure(std::string_view json);

}  // namespace mugai::sanitize::wire
