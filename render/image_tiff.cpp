// TIFF through libtiff, read from memory (TIFFClientOpenExt; no mmap, no file): the first directory
// only, its size bounded before the RGBA buffer is allocated, libtiff's own allocations capped
// (TIFFOpenOptionsSetMaxSingleMemAlloc), and its messages kept per handle for the reason.
// TIFFReadRGBAImage covers bilevel fax (G3/G4), palette, gray, RGB, CMYK, YCbCr and JPEG-in-TIFF.
#include <tiffio.h>

#include <algorithm>
#include <bit>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "render/image_codecs.hpp"

namespace mugai::render::detail {
namespace {

struct Source {
  std::string_view bytes;
  std::uint64_t pos = 0;
  std::string error;  // libtiff's first error message
};

tsize_t read_proc(thandle_t h, tdata_t buf, tsize_t n) {
  auto* s = static_cast<Source*>(h);
  if (n <= 0 || s->pos >= s->bytes.size()) return 0;
  const std::size_t k = std::min<std::uint64_t>(static_cast<std::uint64_t>(n), s->bytes.size() - s->pos);
  std::memcpy(buf, s->bytes.data() + s->pos, k);
  s->pos += k;
  return static_cast<tsize_t>(k);
}

tsize_t write_proc(thandle_t, tdata_t, tsize_t) { return 0; }

toff_t seek_proc(thandle_t h, toff_t off, int whence) {
  auto* s = static_cast<Source*>(h);
  // Offsets come from the file: anything that wraps is refused (libtiff treats -1 as failure). A
  // position past the end is allowed; reads there return nothing.
  if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return static_cast<toff_t>(-1);
  const std::uint64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->pos : s->bytes.size();
  if (off > UINT64_MAX / 2 || base + off < base) return static_cast<toff_t>(-1);
  s->pos = base + off;
  return s->pos;
}

int close_proc(thandle_t) { return 0; }
toff_t size_proc(thandle_t h) { return static_cast<Source*>(h)->bytes.size(); }
int map_proc(thandle_t, tdata_t*, toff_t*) { return 0; }
void unmap_proc(thandle_t, tdata_t, toff_t) {}

int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* s = static_cast<Source*>(user);
  if (s->error.empty()) {
    char buf[256];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    s->error = std::string(module != nullptr ? module : "libtiff") + ": " + buf;
  }
  return 1;  // handled: nothing is printed by the global handler
}

int on_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};
struct OptionsFree {
  void operator()(TIFFOpenOptions* o) const { TIFFOpenOptionsFree(o); }
};

Error tiff_error(const Source& s, std::string_view fallback) {
  return Error{"TIFF: " + (s.error.empty() ? std::string(fallback) : s.error)};
}

}  // namespace

Expected<DecodedImage> decode_tiff(std::string_view b, std::uint64_t max_pixels) {
  Source src{b, 0, {}};
  const std::unique_ptr<TIFFOpenOptions, OptionsFree> opts(TIFFOpenOptionsAlloc());
  if (!opts) return Error{"TIFF: cannot start the decoder"};
  // One strip or tile of the largest allowed image at 16-bit CMYK is max_pixels × 8 bytes; nothing
  // libtiff allocates for itself needs more.
  TIFFOpenOptionsSetMaxSingleMemAlloc(opts.get(), static_cast<tmsize_t>(std::min<std::uint64_t>(
                                                      max_pixels * 8 + (1u << 20), std::uint64_t{1} << 40)));
  TIFFOpenOptionsSetErrorHandlerExtR(opts.get(), on_error, &src);
  TIFFOpenOptionsSetWarningHandlerExtR(opts.get(), on_warning, nullptr);
  // "m": no memory mapping (there is no file), "r": read only.
  const std::unique_ptr<TIFF, TiffCloser> tif(TIFFClientOpenExt("image", "rm", &src, read_proc, write_proc, seek_proc,
                                                                close_proc, size_proc, map_proc, unmap_proc, opts.get()));
  if (!tif) return tiff_error(src, "not a readable TIFF");
  std::uint32_t width = 0, height = 0;
  if (TIFFGetField(tif.get(), TIFFTAG_IMAGEWIDTH, &width) != 1 || TIFFGetField(tif.get(), TIFFTAG_IMAGELENGTH, &height) != 1) {
    return tiff_error(src, "no image size in the first directory");
  }
  if (auto st = check_pixels("TIFF", width, height, max_pixels); !st) return st.error();
  char why[1024] = {};
  if (TIFFRGBAImageOK(tif.get(), why) != 1) return Error{std::string("TIFF: ") + why};
  std::vector<std::uint32_t> abgr(std::size_t{width} * height);
  if (TIFFReadRGBAImageOriented(tif.get(), width, height, abgr.data(), ORIENTATION_TOPLEFT, 1) != 1) {
    return tiff_error(src, "the image data cannot be read");
  }
  // Each uint32 holds R in its low byte up to A in its high byte (TIFFGetR..TIFFGetA): in memory that is
  // R, G, B, A on a little-endian host; a big-endian one swaps in place. No second buffer either way.
  if constexpr (std::endian::native == std::endian::big) {
    for (auto& px : abgr) px = TIFFGetR(px) << 24 | TIFFGetG(px) << 16 | TIFFGetB(px) << 8 | TIFFGetA(px);
  }
  const auto* rgba = reinterpret_cast<const std::uint8_t*>(abgr.data());
  DecodedImage out;
  out.format = ImageFormat::Tiff;
  // libtiff's RGBA interface hands out colour premultiplied by alpha.
  out.raster = compose_on_white(width, height, rgba, std::size_t{width} * 4, true);
  out.more_frames = TIFFLastDirectory(tif.get()) == 0;
  return out;
}

}  // namespace mugai::render::detail
