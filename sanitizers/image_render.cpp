// The image_render sanitizer: an image part is decoded to pixels (render/image_decode.hpp, bounded by
// render.max_pixels) and replaced by a fresh PNG or JPEG written from those pixels alone, so no EXIF,
// GPS, ICC, comment, text chunk, XMP or trailing byte of the original can be in what is delivered.
#include <string>
#include <unordered_set>

#include "render/encode.hpp"
#include "render/image_decode.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

// At this many distinct colours an image is treated as a photograph (JPEG). Measured on the image corpus
// (/work/shared/corpus/images, re-encoded with Pillow): graphics, scans and palette images have 1-1,288
// colours (fax 2, GIF frames ≤ 256, a 512×512 screenshot-like PNG 1,288) and stay lossless; photographs
// above 100×100 have 8,591-68,017 and are 4-7× smaller as JPEG (hopper 128×128: 9,684 colours, PNG
// 30 KB, JPEG 5.8 KB).
constexpr std::size_t kPhotoColours = 4096;

bool photographic(const render::Raster& r) {
  if (r.channels != 3) return false;  // gray has at most 256 levels: a graphic, unless it came as a JPEG
  std::unordered_set<std::uint32_t> seen;
  seen.reserve(kPhotoColours * 2);
  for (std::size_t i = 0; i + 2 < r.pixels.size(); i += 3) {
    seen.insert((std::uint32_t{r.pixels[i]} << 16) | (std::uint32_t{r.pixels[i + 1]} << 8) | r.pixels[i + 2]);
    if (seen.size() >= kPhotoColours) return true;
  }
  return false;
}

// RGB whose every pixel is gray becomes a one-channel raster: a third of the size, same picture.
void gray_if_gray(render::Raster& r) {
  if (r.channels != 3) return;
  for (std::size_t i = 0; i + 2 < r.pixels.size(); i += 3) {
    if (r.pixels[i] != r.pixels[i + 1] || r.pixels[i] != r.pixels[i + 2]) return;
  }
  for (std::size_t i = 0, o = 0; o < r.pixels.size() / 3; i += 3) r.pixels[o++] = r.pixels[i];
  r.pixels.resize(r.pixels.size() / 3);
  r.channels = 1;
}

// The original's name with the new type's extension in place of its own (写真.jpeg → 写真.jpg, 図.bmp →
// 図.png): the extension must say what the bytes are, because clients open attachments by it. A name
// without an extension keeps all of it; an unnamed part is "image". The pipeline makes it safe.
std::string renamed(std::string_view name, std::string_view extension) {
  const auto slash = name.find_last_of("/\\");
  const auto dot = name.rfind('.');
  if (dot != std::string_view::npos && dot > 0 && (slash == std::string_view::npos || dot > slash + 1)) {
    name = name.substr(0, dot);
  }
  return std::string(name.empty() ? "image" : name) + std::string(extension);
}

class ImageRender final : public Sanitizer {
 public:
  std::string_view name() const override { return "image_render"; }

  Decision sanitize(std::string_view untrusted, const PartInfo& info) const override {
    auto decoded = render::decode_image(untrusted, info.render.max_pixels);
    if (!decoded) return Decision::remove("image could not be decoded: " + decoded.error().message);
    render::Raster& raster = decoded->raster;
    // A JPEG stays a JPEG (it is lossy already, and PNG would be 5-10× larger); anything else by content.
    const bool photo = decoded->format == render::ImageFormat::Jpeg || photographic(raster);
    gray_if_gray(raster);
    auto bytes = photo ? render::encode_jpeg(raster, info.render.jpeg_quality) : render::encode_png(raster);
    if (!bytes) return Decision::remove("image could not be re-encoded: " + bytes.error().message);
    Decision d = Decision::replace({Artefact{std::move(*bytes), photo ? "image/jpeg" : "image/png",
                                             renamed(info.filename, photo ? ".jpg" : ".png")}});
    const std::string format(render::image_format_name(decoded->format));
    d.reason = "re-encoded from " + format + " pixels, metadata dropped";
    d.pages = 1;
    if (decoded->more_frames) {
      d.reason += decoded->format == render::ImageFormat::Tiff ? "; only the first page is kept"
                                                               : "; only the first frame of the animation is kept";
    }
    return d;
  }
};

}  // namespace

std::unique_ptr<Sanitizer> make_image_render() { return std::make_unique<ImageRender>(); }

}  // namespace mugai::sanitize
