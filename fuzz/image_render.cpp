// Fuzz target: arbitrary bytes as an image attachment, through decode_image() and the image_render
// sanitizer (decoders for JPEG/PNG/GIF/TIFF/WebP/BMP, then the PNG/JPEG encoders), with a small
// render.max_pixels so each run stays fast. Oracle: a raster is well formed and within the limit; a
// replacement is one PNG or JPEG holding nothing but pixels (fuzz/oracle.hpp's own walkers), of the
// type and extension it claims; a refusal says why.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/oracle.hpp"
#include "render/image_decode.hpp"
#include "sanitizers/sanitizer.hpp"

namespace {

using mugai::fuzz::fail;
constexpr std::uint64_t kMaxPixels = 1 << 16;

void check_raster(const mugai::render::Raster& r) {
  if (r.channels != 1 && r.channels != 3) fail("raster neither gray nor RGB");
  if (r.width == 0 || r.height == 0) fail("empty raster decoded");
  if (std::uint64_t{r.width} * r.height > kMaxPixels) fail("raster larger than max_pixels");
  if (r.pixels.size() != std::size_t{r.width} * r.height * r.channels) fail("raster size mismatch");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto decoded = mugai::render::decode_image(bytes, kMaxPixels);
  if (decoded) {
    check_raster(decoded->raster);
  } else if (decoded.error().message.empty()) {
    fail("refusal without a reason");
  }

  static const mugai::sanitize::Sanitizer* const render = mugai::sanitize::find_sanitizer("image_render");
  if (render == nullptr) fail("image_render is not registered");
  mugai::sanitize::PartInfo info;
  info.path = "2";
  info.declared_type = "image/png";
  info.filename = "写真.JPEG";
  info.render.max_pixels = kMaxPixels;
  const mugai::sanitize::Decision d = render->sanitize(bytes, info);
  if (d.action == mugai::sanitize::Decision::Action::KeepText) fail("an image kept as text");
  if (d.action == mugai::sanitize::Decision::Action::Remove) {
    if (d.reason.empty()) fail("removal without a reason");
    if (decoded) fail("a decodable image was removed", d.reason);
    return 0;
  }
  if (!decoded) fail("an image that does not decode was replaced", decoded.error().message);
  if (d.artefacts.size() != 1) fail("not exactly one artefact for one image");
  const mugai::sanitize::Artefact& a = d.artefacts.front();
  if (a.content_type == "image/png") {
    mugai::fuzz::check_png_artefact(a.bytes);
    if (a.filename != "写真.png") fail("PNG artefact misnamed", a.filename);
  } else if (a.content_type == "image/jpeg") {
    mugai::fuzz::check_jpeg_artefact(a.bytes);
    if (a.filename != "写真.jpg") fail("JPEG artefact misnamed", a.filename);
  } else {
    fail("artefact neither PNG nor JPEG", a.content_type);
  }
  return 0;
}
