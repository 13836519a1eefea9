#include "render/prepare.hpp"

#include <fontconfig/fontconfig.h>

namespace mugai::render {

Status prepare() {
  if (FcInit() != FcTrue) return Error{"fontconfig: cannot load its configuration"};
  return Ok{};
}

}  // namespace mugai::render
