// decode_image(): the format by signature, then its decoder; plus the JPEG (TurboJPEG) and PNG (libpng's
// simplified API) decoders and the helpers every decoder shares. TurboJPEG and the simplified API
// report errors by return value, so no setjmp/longjmp crosses C++ frames here.
#include "render/image_decode.hpp"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "render/bmp_decode.hpp"
#include "render/image_codecs.hpp"

namespace mugai::render {
namespace detail {

Status check_pixels(std::string_view format, std::uint64_t width, std::uint64_t height, std::uint64_t max_pixels) {
  const std::string what(format);
  if (width == 0 || height == 0) {
    return Error{what + ": the header gives an empty size (" + std::to_string(width) + "×" + std::to_string(height) + ")"};
  }
  // Both come from 32-bit header fields, so the product cannot overflow 64 bits.
  if (width * height > max_pixels) {
    return Error{what + ": " + std::to_string(width) + "×" + std::to_string(height) + " = " +
                 std::to_string(width * height) + " pixels exceeds render.max_pixels (" + std::to_string(max_pixels) +
                 ")"};
  }
  return Ok{};
}

Raster compose_on_white(std::uint32_t width, std::uint32_t height, const std::uint8_t* rgba, std::size_t stride,
                        bool premultiplied) {
  Raster r;
  r.width = width;
  r.height = height;
  r.channels = 3;
  r.pixels.resize(std::size_t{width} * height * 3);
  std::uint8_t* out = r.pixels.data();
  for (std::uint32_t y = 0; y < height; ++y) {
    const std::uint8_t* p = rgba + y * stride;
    for (std::uint32_t x = 0; x < width; ++x, p += 4) {
      const unsigned a = p[3];
      const unsigned white = 255 - a;  // the share of the white background
      for (int c = 0; c < 3; ++c) {
        *out++ = static_cast<std::uint8_t>(premultiplied ? std::min(255u, p[c] + white)
                                                         : (p[c] * a + 255 * white + 127) / 255);
      }
    }
  }
  return r;
}

namespace {

using TjHandle = std::unique_ptr<void, int (*)(tjhandle)>;

// A chunk type as text for a reason: letters as they are, anything else as '?'.
std::string escape_chunk(std::string_view type) {
  std::string out;
  for (const char c : type) out.push_back((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ? c : '?');
  return out;
}

// The payload of the first segment `marker` whose payload starts with `prefix`, before the first scan;
// empty when there is none. A bounds-checked walk of the marker segments.
std::string_view jpeg_segment(std::string_view b, unsigned char marker, std::string_view prefix) {
  std::size_t i = 2;
  while (i + 4 <= b.size()) {
    if (static_cast<unsigned char>(b[i]) != 0xFF) return {};
    const auto m = static_cast<unsigned char>(b[i + 1]);
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (m == 0xDA || m == 0xD9) return {};  // start of scan / end of image
    const std::size_t len = (static_cast<unsigned char>(b[i + 2]) << 8) | static_cast<unsigned char>(b[i + 3]);
    if (len < 2) return {};
    const std::string_view payload = b.substr(i + 4, len - 2);
    if (m == marker && payload.starts_with(prefix)) return payload;
    i += 2 + len;
  }
  return {};
}

// Adobe's CMYK/YCCK JPEGs (an APP14 "Adobe" segment) store ink inverted (255 = no ink), which is what
// almost every CMYK JPEG in the wild is.
bool adobe_marker(std::string_view b) { return !jpeg_segment(b, 0xEE, "Adobe").empty(); }

// EXIF Orientation (tag 0x0112 of IFD0 in the APP1 "Exif" segment), 1..8; 1 when absent or malformed.
// It is read so the picture is delivered the way the sender's camera and viewer show it: the tag itself,
// like all of EXIF, is not carried over.
unsigned exif_orientation(std::string_view b) {
  const std::string_view exif = jpeg_segment(b, 0xE1, std::string_view("Exif\0\0", 6));
  if (exif.size() < 6 + 8) return 1;
  const std::string_view tiff = exif.substr(6);
  const bool little = tiff.starts_with("II");
  if (!little && !tiff.starts_with("MM")) return 1;
  const auto u16 = [&](std::size_t at) -> std::uint32_t {
    const auto a = static_cast<unsigned char>(tiff[at]), c = static_cast<unsigned char>(tiff[at + 1]);
    return little ? (a | c << 8) : (a << 8 | c);
  };
  const auto u32 = [&](std::size_t at) -> std::uint64_t {
    return little ? (u16(at) | std::uint64_t{u16(at + 2)} << 16) : (std::uint64_t{u16(at)} << 16 | u16(at + 2));
  };
  const std::uint64_t ifd = u32(4);
  if (ifd + 2 > tiff.size()) return 1;
  const std::uint32_t entries = u16(ifd);
  for (std::uint64_t k = 0; k < entries && ifd + 2 + 12 * (k + 1) <= tiff.size(); ++k) {
    const std::size_t e = ifd + 2 + 12 * k;
    if (u16(e) != 0x0112) continue;
    const std::uint32_t v = u16(e + 8);  // a SHORT, left-justified in the value field
    return u16(e + 2) == 3 && v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

// The raster turned and mirrored as EXIF orientation `o` says (2-4 mirror or turn 180°, 5-8 swap
// width and height); each output pixel is fetched from its source position.
Raster oriented(const Raster& in, unsigned o) {
  const bool swap = o >= 5;
  Raster out{swap ? in.height : in.width, swap ? in.width : in.height, in.channels, {}};
  out.pixels.resize(in.pixels.size());
  const std::size_t w = in.width, h = in.height, ch = in.channels;
  std::uint8_t* dst = out.pixels.data();
  for (std::size_t oy = 0; oy < out.height; ++oy) {
    for (std::size_t ox = 0; ox < out.width; ++ox, dst += ch) {
      std::size_t sx = ox, sy = oy;
      switch (o) {
        case 2: sx = w - 1 - ox; break;
        case 3: sx = w - 1 - ox; sy = h - 1 - oy; break;
        case 4: sy = h - 1 - oy; break;
        case 5: sx = oy; sy = ox; break;
        case 6: sx = oy; sy = h - 1 - ox; break;
        case 7: sx = w - 1 - oy; sy = h - 1 - ox; break;
        case 8: sx = w - 1 - oy; sy = ox; break;
        default: break;
      }
      std::copy_n(&in.pixels[(sy * w + sx) * ch], ch, dst);
    }
  }
  return out;
}

// A walk over the PNG's chunk headers before libpng sees it. libpng 1.6.39's simplified reader
// allocates a text chunk's declared length before reading it (fuzzing found an 805 MB malloc for an
// iTXt header in a 232-byte file), so a chunk claiming more bytes than the file holds is refused here:
// then nothing libpng allocates for a chunk exceeds the part's own size. Also tells whether an APNG
// animation control chunk (acTL) precedes the first IDAT: the simplified reader decodes the default
// image (the first frame, unless the IDAT is outside the animation), and the note says the rest is
// left out.
Expected<bool> png_walk(std::string_view b) {
  bool animated = false;
  bool before_idat = true;
  for (std::size_t at = 8; at + 8 <= b.size();) {
    const std::uint64_t len = (std::uint64_t{static_cast<unsigned char>(b[at])} << 24) |
                              (static_cast<unsigned char>(b[at + 1]) << 16) | (static_cast<unsigned char>(b[at + 2]) << 8) |
                              static_cast<unsigned char>(b[at + 3]);
    const std::string_view type = b.substr(at + 4, 4);
    if (len + 12 > b.size() - at) {
      return Error{"PNG: the " + escape_chunk(type) + " chunk claims " + std::to_string(len) + " bytes, more than the " +
                   std::to_string(b.size() - at) + " left in the file (truncated or corrupt)"};
    }
    if (type == "IDAT") before_idat = false;
    if (type == "acTL" && before_idat) animated = true;
    if (type == "IEND") break;
    at += 12 + len;
  }
  return animated;
}

}  // namespace

Expected<DecodedImage> decode_jpeg(std::string_view b, std::uint64_t max_pixels) {
  const TjHandle tj(tjInitDecompress(), tjDestroy);
  if (!tj) return Error{"JPEG: cannot start the decoder"};
  const auto* data = reinterpret_cast<const unsigned char*>(b.data());
  const auto size = static_cast<unsigned long>(b.size());
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  // A warning (junk between markers) still yields the header; only a fatal error stops here.
  if (tjDecompressHeader3(tj.get(), data, size, &width, &height, &subsamp, &colorspace) != 0 &&
      (tjGetErrorCode(tj.get()) == TJERR_FATAL || width <= 0 || height <= 0)) {
    return Error{std::string("JPEG: ") + tjGetErrorStr2(tj.get())};
  }
  if (auto st = check_pixels("JPEG", static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height), max_pixels);
      !st) {
    return st.error();
  }
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const bool gray = colorspace == TJCS_GRAY;
  const int format = cmyk ? TJPF_CMYK : gray ? TJPF_GRAY : TJPF_RGB;
  const std::size_t channels = cmyk ? 4 : gray ? 1 : 3;
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * channels);
  // LIMITSCANS: a progressive JPEG with thousands of scans is a CPU bomb, refused after 500.
  if (tjDecompress2(tj.get(), data, size, pixels.data(), width, 0, height, format,
                    TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS) != 0) {
    const std::string why = tjGetErrorStr2(tj.get());
    // Warnings (junk between markers, a corrupt restart) leave a whole picture; truncation leaves gray
    // rows where the picture stops, which is refused rather than delivered as if it were the image.
    if (tjGetErrorCode(tj.get()) == TJERR_FATAL || why.find("Premature end") != std::string::npos) {
      return Error{"JPEG: " + why};
    }
  }
  DecodedImage out;
  out.format = ImageFormat::Jpeg;
  Raster& r = out.raster;
  r.width = static_cast<std::uint32_t>(width);
  r.height = static_cast<std::uint32_t>(height);
  const unsigned orientation = exif_orientation(b);
  if (!cmyk) {
    r.channels = static_cast<std::uint32_t>(channels);
    r.pixels = std::move(pixels);
    if (orientation != 1) r = oriented(r, orientation);
    return out;
  }
  // CMYK → RGB the way print previews do it (no ICC: the profile is metadata, dropped with the rest).
  const bool inverted = adobe_marker(b);
  r.channels = 3;
  r.pixels.resize(std::size_t{r.width} * r.height * 3);
  for (std::size_t i = 0, o = 0; i < pixels.size(); i += 4) {
    const unsigned k = inverted ? pixels[i + 3] : 255 - pixels[i + 3];
    for (int c = 0; c < 3; ++c) {
      const unsigned v = inverted ? pixels[i + c] : 255 - pixels[i + c];
      r.pixels[o++] = static_cast<std::uint8_t>((v * k + 127) / 255);
    }
  }
  if (orientation != 1) r = oriented(r, orientation);
  return out;
}

Expected<DecodedImage> decode_png(std::string_view b, std::uint64_t max_pixels) {
  // The simplified API reads only the chunks it needs for pixels (it ignores text, eXIf, iCCP...), so a
  // zTXt bomb is never inflated; libpng's compiled-in user limits (1,000,000 per side, 8 MB per chunk,
  // 1000 chunks) apply, as the simplified API offers no handle to lower them.
  const auto animated = png_walk(b);
  if (!animated) return animated.error();
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  const std::unique_ptr<png_image, void (*)(png_image*)> guard(&image, png_image_free);
  if (!png_image_begin_read_from_memory(&image, b.data(), b.size())) return Error{std::string("PNG: ") + image.message};
  if (auto st = check_pixels("PNG", image.width, image.height, max_pixels); !st) return st.error();
  const bool gray = (image.format & PNG_FORMAT_FLAG_COLOR) == 0;
  image.format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  DecodedImage out;
  out.format = ImageFormat::Png;
  Raster& r = out.raster;
  r.width = image.width;
  r.height = image.height;
  r.channels = gray ? 1 : 3;
  r.pixels.resize(std::size_t{r.width} * r.height * r.channels);
  // Dropping the alpha channel composes onto `background`, which the gray output reads as its green.
  const png_color white{255, 255, 255};
  if (!png_image_finish_read(&image, &white, r.pixels.data(), 0, nullptr)) {
    return Error{std::string("PNG: ") + image.message};
  }
  out.more_frames = *animated;
  return out;
}

}  // namespace detail

std::string_view image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Gif: return "GIF";
    case ImageFormat::Tiff: return "TIFF";
    case ImageFormat::Webp: return "WebP";
    case ImageFormat::Bmp: return "BMP";
  }
  return "image";
}

std::optional<ImageFormat> sniff_image(std::string_view b) {
  if (b.starts_with("\xFF\xD8\xFF")) return ImageFormat::Jpeg;
  if (b.starts_with("\x89PNG\r\n\x1a\n")) return ImageFormat::Png;
  if (b.starts_with("GIF87a") || b.starts_with("GIF89a")) return ImageFormat::Gif;
  if (b.starts_with(std::string_view("II*\0", 4)) || b.starts_with(std::string_view("MM\0*", 4)) ||
      b.starts_with(std::string_view("II+\0", 4)) || b.starts_with(std::string_view("MM\0+", 4))) {
    return ImageFormat::Tiff;
  }
  if (b.size() >= 12 && b.starts_with("RIFF") && b.substr(8, 4) == "WEBP") return ImageFormat::Webp;
  if (b.starts_with("BM")) return ImageFormat::Bmp;
  return std::nullopt;
}

Expected<DecodedImage> decode_image(std::string_view untrusted, std::uint64_t max_pixels) {
  const auto format = sniff_image(untrusted);
  if (!format) return Error{"not an image format that can be rendered (JPEG, PNG, GIF, TIFF, WebP, BMP)"};
  switch (*format) {
    case ImageFormat::Jpeg: return detail::decode_jpeg(untrusted, max_pixels);
    case ImageFormat::Png: return detail::decode_png(untrusted, max_pixels);
    case ImageFormat::Gif: return detail::decode_gif(untrusted, max_pixels);
    case ImageFormat::Tiff: return detail::decode_tiff(untrusted, max_pixels);
    case ImageFormat::Webp: return detail::decode_webp(untrusted, max_pixels);
    case ImageFormat::Bmp: break;
  }
  auto bmp = decode_bmp(untrusted, max_pixels);
  if (!bmp) return bmp.error();
  return DecodedImage{std::move(*bmp), ImageFormat::Bmp, false};
}

}  // namespace mugai::render
