// distort, CPU: the codec operators (DISTORTIONS.md §6).
//
// jpeg (§4.14) is a real libjpeg round trip, the same calls Pillow makes for
// `save(format='JPEG', quality=q)` + `open`: IJG quality scaling of the Annex K tables
// (jpeg_set_quality(q, force_baseline = TRUE)), JFIF YCbCr, libjpeg's default 4:2:0 sampling,
// the islow DCT, no Huffman optimisation; decoding with the defaults (fancy upsampling, islow
// IDCT). The float input is quantised with ⌊255x + 0.5⌋ first. Built without libjpeg there is
// no cpu operator for it (the api then picks the reference backend).
//
// jpeg2000 (§4.25) needs OpenJPEG: reference backend only (no cpu operator).
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/distort/distort.h"

#if PYIQA_FAST_WITH_LIBJPEG
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t
#include <cstdlib>

#include <jpeglib.h>
#endif

namespace pyiqa_fast::distort {
namespace {

#if PYIQA_FAST_WITH_LIBJPEG

// libjpeg's error_exit must not return: it longjmps back to the operator (never exit()).
struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
};

void error_exit(j_common_ptr info) { std::longjmp(reinterpret_cast<ErrorManager*>(info->err)->jump, 1); }
void silent(j_common_ptr, int) {}  // no warnings or trace messages on stderr
void silent_output(j_common_ptr) {}

void init_errors(ErrorManager& err) {
  jpeg_std_error(&err.base);
  err.base.error_exit = error_exit;
  err.base.emit_message = silent;
  err.base.output_message = silent_output;
}

// Compresses interleaved RGB `rgb` (h, w, 3) at IJG quality q into a malloc'ed buffer
// (*out, *size); returns false on a libjpeg error. Everything touched after setjmp lives in
// `state` (not in locals), so longjmp leaves nothing indeterminate.
struct CompressState {
  jpeg_compress_struct cinfo;
  ErrorManager err;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;  // NOLINT(runtime/int): libjpeg's type
};

bool compress(CompressState& s, const uint8_t* rgb, int h, int w, int quality) {
  s.cinfo.err = &s.err.base;
  init_errors(s.err);
  if (setjmp(s.err.jump)) {
    jpeg_destroy_compress(&s.cinfo);
    return false;
  }
  jpeg_create_compress(&s.cinfo);
  jpeg_mem_dest(&s.cinfo, &s.buffer, &s.size);
  s.cinfo.image_width = static_cast<JDIMENSION>(w);
  s.cinfo.image_height = static_cast<JDIMENSION>(h);
  s.cinfo.input_components = 3;
  s.cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&s.cinfo);  // YCbCr, Y sampled 2×2 (4:2:0), islow DCT, no optimisation
  jpeg_set_quality(&s.cinfo, quality, TRUE);
  s.cinfo.dct_method = JDCT_ISLOW;
  s.cinfo.optimize_coding = FALSE;
  jpeg_start_compress(&s.cinfo, TRUE);
  while (s.cinfo.next_scanline < s.cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(rgb + static_cast<size_t>(s.cinfo.next_scanline) * 3 * w);
    jpeg_write_scanlines(&s.cinfo, &row, 1);
  }
  jpeg_finish_compress(&s.cinfo);
  jpeg_destroy_compress(&s.cinfo);
  return true;
}

struct DecompressState {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
};

// Decodes `data` into interleaved RGB `rgb` (h, w, 3); false on error or a size mismatch.
bool decompress(DecompressState& s, const unsigned char* data, unsigned long size,  // NOLINT(runtime/int)
                uint8_t* rgb, int h, int w) {
  s.cinfo.err = &s.err.base;
  init_errors(s.err);
  if (setjmp(s.err.jump)) {
    jpeg_destroy_decompress(&s.cinfo);
    return false;
  }
  jpeg_create_decompress(&s.cinfo);
  jpeg_mem_src(&s.cinfo, data, size);
  jpeg_read_header(&s.cinfo, TRUE);
  s.cinfo.out_color_space = JCS_RGB;
  s.cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&s.cinfo);
  if (s.cinfo.output_width != static_cast<JDIMENSION>(w) || s.cinfo.output_height != static_cast<JDIMENSION>(h) ||
      s.cinfo.output_components != 3) {
    jpeg_destroy_decompress(&s.cinfo);
    return false;
  }
  while (s.cinfo.output_scanline < s.cinfo.output_height) {
    JSAMPROW row = rgb + static_cast<size_t>(s.cinfo.output_scanline) * 3 * w;
    jpeg_read_scanlines(&s.cinfo, &row, 1);
  }
  jpeg_finish_decompress(&s.cinfo);
  jpeg_destroy_decompress(&s.cinfo);
  return true;
}

// ⌊255x + 0.5⌋ clamped to [0, 255], computed in T like the reference (NaN → 0).
template <typename T>
inline uint8_t to_byte(T v) {
  const T s = std::floor(v * T(255) + T(0.5));
  if (!(s > T(0))) return 0;
  return s >= T(255) ? uint8_t{255} : static_cast<uint8_t>(s);
}

// The rows/columns [lo, hi) to code so that [y0, y1) decodes exactly as in the whole image of
// size n: rounded out to the 16-pixel MCU grid (anchored at 0) after an 8-pixel margin. Coding is
// MCU-local (8×8 DCT blocks, 2×2 chroma box downsampling inside the MCU); decoding's fancy
// upsampling reads one chroma sample (2 pixels) across an edge, which the margin covers.
inline void mcu_window(int64_t y0, int64_t y1, int64_t n, int64_t& lo, int64_t& hi) {
  lo = y0 <= 8 ? 0 : (y0 - 8) / 16 * 16;
  hi = y1 + 8 >= n ? n : (y1 + 8 + 15) / 16 * 16;
  if (hi > n) hi = n;
}

// §4.14. The 8×8 grid is anchored at src(0, 0) (composite: the image origin; crop: the block
// origin). Codes only the MCU-aligned window around out_region (bit-identical there to coding
// the whole image given, see mcu_window) and writes that window.
template <typename T>
Status jpeg(const OpArgs<T>& a) {
  if (a.h < 1 || a.w < 1) return Status::kInvalidArgument;
  if (a.h > JPEG_MAX_DIMENSION || a.w > JPEG_MAX_DIMENSION) return Status::kInvalidArgument;
  const int quality = static_cast<int>(std::lround(a.value));
  if (quality < 1 || quality > 100) return Status::kInvalidArgument;
  if (a.out_region.height() <= 0 || a.out_region.width() <= 0) return Status::kOk;
  int64_t y0, y1, x0, x1;
  mcu_window(a.out_region.y0, a.out_region.y1, a.h, y0, y1);
  mcu_window(a.out_region.x0, a.out_region.x1, a.w, x0, x1);
  const int64_t wh = y1 - y0, ww = x1 - x0, plane = a.h * a.w;
  thread_local std::vector<uint8_t> rgb;
  rgb.resize(static_cast<size_t>(3 * wh * ww));
  uint8_t* pixels = rgb.data();
  parallel_range(a, wh, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y) {
      const T* r = a.src + (y0 + y) * a.w + x0;
      const T* g = r + plane;
      const T* b = g + plane;
      uint8_t* out = pixels + 3 * y * ww;
      for (int64_t x = 0; x < ww; ++x) {
        out[3 * x] = to_byte(r[x]);
        out[3 * x + 1] = to_byte(g[x]);
        out[3 * x + 2] = to_byte(b[x]);
      }
    }
  });
  CompressState cs;
  if (!compress(cs, pixels, static_cast<int>(wh), static_cast<int>(ww), quality)) {
    std::free(cs.buffer);
    return Status::kInvalidArgument;
  }
  DecompressState ds;
  const bool ok = decompress(ds, cs.buffer, cs.size, pixels, static_cast<int>(wh), static_cast<int>(ww));
  std::free(cs.buffer);
  if (!ok) return Status::kInvalidArgument;
  parallel_range(a, wh, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y) {
      T* r = a.dst + (y0 + y) * a.w + x0;
      T* g = r + plane;
      T* b = g + plane;
      const uint8_t* in = pixels + 3 * y * ww;
      for (int64_t x = 0; x < ww; ++x) {
        r[x] = static_cast<T>(in[3 * x]) / T(255);
        g[x] = static_cast<T>(in[3 * x + 1]) / T(255);
        b[x] = static_cast<T>(in[3 * x + 2]) / T(255);
      }
    }
  });
  return Status::kOk;
}

#endif

}  // namespace

template <typename T>
OpFn<T> codec_operator(int32_t type) {
  switch (type) {
#if PYIQA_FAST_WITH_LIBJPEG
    case kJpeg: return jpeg<T>;
#endif
    // No operator (nullptr) keeps a type out of build_info()["distort_cpu_types"], so the cpu
    // backend refuses it up front and backend="auto" takes the reference: jpeg without libjpeg,
    // jpeg2000 always (OpenJPEG via Pillow, §4.25).
    default: return nullptr;
  }
}

template OpFn<float> codec_operator<float>(int32_t);
template OpFn<double> codec_operator<double>(int32_t);

}  // namespace pyiqa_fast::distort
