// libjpeg-turbo's TurboJPEG and libpng's simplified API report errors by return value, so no
// setjmp/longjmp crosses C++ frames here.
#include "render/encode.hpp"

#include <png.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <memory>

namespace mugai::render {
namespace {

Status check_shape(const Raster& r) {
  if (r.width == 0 || r.height == 0) return Error{"empty raster"};
  if (r.channels != 1 && r.channels != 3) return Error{"raster must be gray or RGB"};
  if (r.pixels.size() != std::size_t{r.width} * r.height * r.channels) return Error{"raster size mismatch"};
  return Ok{};
}

}  // namespace

Expected<std::string> encode_jpeg(const Raster& raster, unsigned quality) {
  if (auto st = check_shape(raster); !st) return st.error();
  const std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitCompress(), tjDestroy);
  if (!tj) return Error{"jpeg: cannot start the encoder"};
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const bool gray = raster.channels == 1;
  const int rc = tjCompress2(tj.get(), raster.pixels.data(), static_cast<int>(raster.width), 0,
                             static_cast<int>(raster.height), gray ? TJPF_GRAY : TJPF_RGB, &out, &size,
                             gray ? TJSAMP_GRAY : TJSAMP_420, static_cast<int>(quality), TJFLAG_ACCURATEDCT);
  const std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(out, tjFree);
  if (rc != 0) return Error{std::string("jpeg: ") + tjGetErrorStr2(tj.get())};
  return std::string(reinterpret_cast<const char*>(out), size);
}

Expected<std::string> encode_png(const Raster& raster) {
  if (auto st = check_shape(raster); !st) return st.error();
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = raster.width;
  image.height = raster.height;
  image.format = raster.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  const auto stride = static_cast<png_int_32>(raster.width * raster.channels);
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, raster.pixels.data(), stride, nullptr)) {
    return Error{std::string("png: ") + image.message};
  }
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, raster.pixels.data(), stride, nullptr)) {
    return Error{std::string("png: ") + image.message};
  }
  out.resize(size);
  return out;
}

Expected<std::string> deflate(std::string_view bytes, int level) {
  uLongf size = compressBound(static_cast<uLong>(bytes.size()));
  std::string out(size, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(bytes.data()),
                           static_cast<uLong>(bytes.size()), level);
  if (rc != Z_OK) return Error{"deflate: zlib error " + std::to_string(rc)};
  out.resize(size);
  return out;
}

}  // namespace mugai::render
