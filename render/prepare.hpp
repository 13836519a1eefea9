// What a renderer must load before its process is sandboxed: once the worker's seccomp filter is on,
// files may only be opened for reading and nothing may be written, so caches are built here.
#pragma once

#include "common/expected.hpp"

namespace mugai::render {

// Loads fontconfig's configuration and font list (reading its caches, writing none later). Call once,
// before sandboxing; rendering works without it, but then fontconfig may try to write a cache.
Status prepare();

}  // namespace mugai::render
