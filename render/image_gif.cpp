// GIF through giflib, read from memory record by record (never DGifSlurp, which would decode every
// frame): the logical screen and the first frame's size are bounded before anything is allocated, and
// the first frame is composed on the screen (transparent and uncovered pixels white).
#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "render/image_codecs.hpp"

namespace mugai::render::detail {
namespace {

struct Source {
  std::string_view bytes;
  std::size_t pos = 0;
};

int read_bytes(GifFileType* gif, GifByteType* buf, int len) {
  auto* src = static_cast<Source*>(gif->UserData);
  const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(std::max(len, 0)), src->bytes.size() - src->pos);
  std::memcpy(buf, src->bytes.data() + src->pos, n);
  src->pos += n;
  return static_cast<int>(n);
}

Error gif_error(int code) {
  const char* s = GifErrorString(code);
  // giflib says "Failed to read from given file" both for a short file and for a bad LZW code size.
  const std::string what = code == D_GIF_ERR_READ_FAILED ? "truncated or corrupt data" : s != nullptr ? s : "unreadable data";
  return Error{"GIF: " + what};
}

struct Closer {
  void operator()(GifFileType* g) const {
    int ignored = 0;
    DGifCloseFile(g, &ignored);
  }
};

// Skips an extension's sub-blocks; returns the first one (the one GCE and others keep their fields in).
bool skip_extension(GifFileType* gif, int* code, std::vector<GifByteType>* first) {
  GifByteType* block = nullptr;
  if (DGifGetExtension(gif, code, &block) == GIF_ERROR) return false;
  if (block != nullptr) first->assign(block + 1, block + 1 + block[0]);
  while (block != nullptr) {
    if (DGifGetExtensionNext(gif, &block) == GIF_ERROR) return false;
  }
  return true;
}

}  // namespace

Expected<DecodedImage> decode_gif(std::string_view b, std::uint64_t max_pixels) {
  Source src{b};
  int err = 0;
  const std::unique_ptr<GifFileType, Closer> gif(DGifOpen(&src, read_bytes, &err));
  if (!gif) return gif_error(err);
  const std::uint32_t sw = static_cast<std::uint32_t>(std::max(gif->SWidth, 0));
  const std::uint32_t sh = static_cast<std::uint32_t>(std::max(gif->SHeight, 0));
  if (auto st = check_pixels("GIF", sw, sh, max_pixels); !st) return st.error();

  int transparent = -1;  // from the Graphic Control Extension before the first frame
  for (;;) {
    GifRecordType type = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif.get(), &type) == GIF_ERROR) return gif_error(gif->Error);
    if (type == TERMINATE_RECORD_TYPE) return Error{"GIF: no image in the file"};
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      std::vector<GifByteType> first;
      if (!skip_extension(gif.get(), &code, &first)) return gif_error(gif->Error);
      if (code == GRAPHICS_EXT_FUNC_CODE && first.size() >= 4) transparent = (first[0] & 1) ? first[3] : -1;
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) return Error{"GIF: unknown record"};
    break;
  }
  if (DGifGetImageDesc(gif.get()) == GIF_ERROR) return gif_error(gif->Error);
  const GifImageDesc& desc = gif->Image;
  const auto fw = static_cast<std::uint32_t>(std::max(desc.Width, 0));
  const auto fh = static_cast<std::uint32_t>(std::max(desc.Height, 0));
  // The frame is decoded whole even where it lies off the screen, so it is bounded too.
  if (auto st = check_pixels("GIF frame", fw, fh, max_pixels); !st) return st.error();
  const ColorMapObject* map = desc.ColorMap != nullptr ? desc.ColorMap : gif->SColorMap;
  if (map == nullptr || map->Colors == nullptr) return Error{"GIF: the first frame has no colour table"};

  DecodedImage out;
  out.format = ImageFormat::Gif;
  Raster& r = out.raster;
  r.width = sw;
  r.height = sh;
  r.channels = 3;
  r.pixels.assign(std::size_t{sw} * sh * 3, 255);
  std::vector<GifPixelType> line(fw);
  // Interlaced frames arrive in four passes: rows 0, 8, 16... then 4, 12... then 2, 6... then 1, 3...
  constexpr int kStart[] = {0, 4, 2, 1};
  constexpr int kStep[] = {8, 8, 4, 2};
  const int passes = desc.Interlace ? 4 : 1;
  for (int pass = 0; pass < passes; ++pass) {
    const int step = desc.Interlace ? kStep[pass] : 1;
    for (std::uint32_t row = desc.Interlace ? kStart[pass] : 0; row < fh; row += step) {
      if (DGifGetLine(gif.get(), line.data(), static_cast<int>(fw)) == GIF_ERROR) return gif_error(gif->Error);
      const std::int64_t y = std::int64_t{desc.Top} + row;
      if (y < 0 || y >= sh) continue;
      for (std::uint32_t x = 0; x < fw; ++x) {
        const std::int64_t sx = std::int64_t{desc.Left} + x;
        const int index = line[x];
        if (sx < 0 || sx >= sw || index == transparent || index >= map->ColorCount) continue;
        std::uint8_t* px = &r.pixels[(static_cast<std::size_t>(y) * sw + static_cast<std::size_t>(sx)) * 3];
        px[0] = map->Colors[index].Red;
        px[1] = map->Colors[index].Green;
        px[2] = map->Colors[index].Blue;
      }
    }
  }
  // Another frame after this one (extensions in between skipped): the note says only the first is kept.
  for (;;) {
    GifRecordType type = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif.get(), &type) == GIF_ERROR || type != EXTENSION_RECORD_TYPE) {
      out.more_frames = type == IMAGE_DESC_RECORD_TYPE;
      break;
    }
    int code = 0;
    std::vector<GifByteType> ignored;
    if (!skip_extension(gif.get(), &code, &ignored)) break;
  }
  return out;
}

}  // namespace mugai::render::detail
