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

// §4.14. Codes the whole image given (composite: the 8×8 grid anchored at the image origin;
// crop: at the block origin) and writes all of it.
template <typename T>
Status jpeg(const OpArgs<T>& a) {
  if (a.h < 1 || a.w < 1) return Status::kInvalidArgument;
  if (a.h > JPEG_MAX_DIMENSION || a.w > JPEG_MAX_DIMENSION) return Status::kInvalidArgument;
  const int quality = static_cast<int>(std::lround(a.value));
  if (quality < 1 || quality > 100) return Status::kInvalidArgument;
  const int h = static_cast<int>(a.h), w = static_cast<int>(a.w);
  const int64_t plane = a.h * a.w;
  thread_local std::vector<uint8_t> rgb;
  rgb.resize(static_cast<size_t>(3 * plane));
  uint8_t* pixels = rgb.data();
  parallel_range(a, a.h, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y) {
      const T* r = a.src + y * a.w;
      const T* g = r + plane;
      const T* b = g + plane;
      uint8_t* out = pixels + 3 * y * a.w;
      for (int64_t x = 0; x < a.w; ++x) {
        out[3 * x] = to_byte(r[x]);
        out[3 * x + 1] = to_byte(g[x]);
        out[3 * x + 2] = to_byte(b[x]);
      }
    }
  });
  CompressState cs;
  if (!compress(cs, pixels, h, w, quality)) {
    std::free(cs.buffer);
    return Status::kInvalidArgument;
  }
  DecompressState ds;
  const bool ok = decompress(ds, cs.buffer, cs.size, pixels, h, w);
  std::free(cs.buffer);
  if (!ok) return Status::kInvalidArgument;
  parallel_range(a, a.h, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y) {
      T* r = a.dst + y * a.w;
      T* g = r + plane;
      T* b = g + plane;
      const uint8_t* in = pixels + 3 * y * a.w;
      for (int64_t x = 0; x < a.w; ++x) {
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
