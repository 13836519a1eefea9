// The document converter the gateway and mugaictl hand their workers: convert_to_pdf with the
// [render] office_* settings, its errors in DocumentConverter's kinds (a document's fault removes the
// part; a host's failure retries the message). The one place config meets the converter.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "config/config.hpp"
#include "office/convert.hpp"

namespace mugai::office {

OfficeLimits limits_of(const config::Office& cfg);
std::function<Expected<std::string>(std::string_view document, std::string_view format)> converter(const config::Office& cfg);

}  // namespace mugai::office
