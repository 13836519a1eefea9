// WebP through libwebp, from memory: the canvas size from the bitstream features is bounded before any
// decoder allocates it; a still image decodes into our buffer, an animation's first frame comes from
// WebPAnimDecoder (which composes it on the canvas).
#include <webp/decode.h>
#include <webp/demux.h>

#include <memory>
#include <string>
#include <vector>

#include "render/image_codecs.hpp"

namespace mugai::render::detail {

Expected<DecodedImage> decode_webp(std::string_view b, std::uint64_t max_pixels) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(b.data());
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, b.size(), &features);
  if (status != VP8_STATUS_OK) return Error{"WebP: unreadable header (libwebp status " + std::to_string(status) + ")"};
  const auto width = static_cast<std::uint32_t>(features.width);
  const auto height = static_cast<std::uint32_t>(features.height);
  if (auto st = check_pixels("WebP", width, height, max_pixels); !st) return st.error();
  DecodedImage out;
  out.format = ImageFormat::Webp;
  if (!features.has_animation) {
    std::vector<std::uint8_t> rgba(std::size_t{width} * height * 4);
    if (WebPDecodeRGBAInto(data, b.size(), rgba.data(), rgba.size(), static_cast<int>(width * 4)) == nullptr) {
      return Error{"WebP: the image data is corrupt or truncated"};
    }
    out.raster = compose_on_white(width, height, rgba.data(), std::size_t{width} * 4);
    return out;
  }
  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) return Error{"WebP: cannot start the decoder"};
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData whole{data, b.size()};
  const std::unique_ptr<WebPAnimDecoder, void (*)(WebPAnimDecoder*)> dec(WebPAnimDecoderNew(&whole, &options),
                                                                         WebPAnimDecoderDelete);
  if (!dec) return Error{"WebP: the animation is corrupt or truncated"};
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(dec.get(), &info) || info.canvas_width != width || info.canvas_height != height) {
    return Error{"WebP: the animation's canvas disagrees with its header"};
  }
  std::uint8_t* frame = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(dec.get(), &frame, &timestamp) || frame == nullptr) {
    return Error{"WebP: the first frame is corrupt or truncated"};
  }
  out.raster = compose_on_white(width, height, frame, std::size_t{width} * 4);
  out.more_frames = info.frame_count > 1;
  return out;
}

}  // namespace mugai::render::detail
