// Fuzz target: arbitrary bytes into decode_bmp(), the one decoder mugai writes itself (render/
// bmp_decode.cpp), with a small max_pixels. Oracle: no crash, no read outside the buffer (ASan), a
// decoded raster is RGB, within the limit and exactly width × height × 3 bytes; a refusal says why.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/oracle.hpp"
#include "render/bmp_decode.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint64_t kMaxPixels = 1 << 16;
  const auto r = mugai::render::decode_bmp(std::string_view(reinterpret_cast<const char*>(data), size), kMaxPixels);
  if (!r) {
    if (r.error().message.empty()) mugai::fuzz::fail("refusal without a reason");
    return 0;
  }
  if (r->channels != 3) mugai::fuzz::fail("BMP raster not RGB");
  if (r->width == 0 || r->height == 0 || std::uint64_t{r->width} * r->height > kMaxPixels) {
    mugai::fuzz::fail("BMP raster empty or larger than max_pixels");
  }
  if (r->pixels.size() != std::size_t{r->width} * r->height * 3) mugai::fuzz::fail("BMP raster size mismatch");
  return 0;
}
