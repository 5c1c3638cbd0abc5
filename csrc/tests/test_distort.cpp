// Standalone test of the distort kernels, without torch: Philox4x32-10 against the Random123
// known answers, the per-sample dispatcher (composite and crop block assembly, empty slots,
// chains), white_noise (determinism, sample moments, image-coordinate keying) and, with
// PYIQA_FAST_WITH_LIBJPEG, a jpeg round trip. Build: every csrc/kernels/distort/*_cpu.cpp
// (+ -DPYIQA_FAST_WITH_LIBJPEG=1 -ljpeg where libjpeg is installed).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "common/philox.h"
#include "kernels/distort/distort.h"

namespace ds = pyiqa_fast::distort;
namespace px = pyiqa_fast::philox;
using pyiqa_fast::Status;

namespace {

int failures = 0;

void expect(bool ok, const char* what, double actual = 0.0, double expected = 0.0) {
  if (!ok) {
    if (failures < 30) std::printf("FAIL %s: %.17g vs %.17g\n", what, actual, expected);
    ++failures;
  }
}

void test_philox() {
  struct Answer {
    px::Uint4 counter;
    uint32_t k0, k1;
    px::Uint4 expected;
  };
  const Answer answers[] = {
      {{0, 0, 0, 0}, 0, 0, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0xffffffffu, 0xffffffffu,
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, 0xa4093822u, 0x299f31d0u,
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const Answer& a : answers) {
    const px::Uint4 r = px::philox4x32_10(a.counter, a.k0, a.k1);
    expect(r.x == a.expected.x && r.y == a.expected.y && r.z == a.expected.z && r.w == a.expected.w,
           "philox4x32_10 known answer", r.x, a.expected.x);
  }
  // draw(): key = (low, high) words of the seed, counter = (x, y, draw, domain).
  const px::Uint4 d = px::draw(0x299f31d0a4093822ull, 0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u);
  expect(d.x == 0xd16cfe09u && d.w == 0x24126ea1u, "philox draw() key/counter layout", d.x, 0xd16cfe09u);
  expect(px::uniform<double>(0xffffffffu) < 1.0 && px::uniform<double>(0u) == 0.0, "uniform range");
  double n0, n1;
  px::box_muller(0xffffffffu, 0u, n0, n1);  // a = 1 → radius 0
  expect(n0 == 0.0 && n1 == 0.0, "box_muller radius 0", n0, 0.0);
}

// A sample table with K blocks of S slots each, every slot's seed/aux fixed.
struct Table {
  std::vector<int32_t> types;
  std::vector<double> values;
  std::vector<int64_t> seeds;
  std::vector<double> aux;
  ds::SampleTable t{};
  Table(int64_t rows, int64_t cols, int64_t slots, bool crop) {
    const int64_t k = rows * cols;
    types.assign(k * slots, -1);
    values.assign(k * slots, 0.0);
    seeds.assign(k * slots, 0);
    aux.assign(k * slots * ds::kAuxSize, 0.5);
    for (int64_t i = 0; i < k * slots; ++i) seeds[i] = 1234567 + 7919 * i;
    t = ds::SampleTable{nullptr, nullptr, nullptr, nullptr, k, slots, rows, cols, ds::Preset::kReiqa, crop, false,
                        nullptr};
  }
  void set(int64_t block, int64_t slot, int32_t type, double value) {
    types[block * t.n_slots + slot] = type;
    values[block * t.n_slots + slot] = value;
  }
  const ds::SampleTable& table() {
    t.types = types.data();
    t.values = values.data();
    t.seeds = seeds.data();
    t.aux = aux.data();
    return t;
  }
};

std::vector<double> ramp_image(int64_t h, int64_t w) {
  std::vector<double> img(3 * h * w);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        img[(c * h + y) * w + x] = 0.1 + 0.6 * (double(x) / w) * (0.5 + 0.5 * double(y) / h) + 0.1 * c;
  return img;
}

// Block k of a rows×cols grid of an h×w image (distort_cpu.cpp's bounds).
ds::Rect block_rect(int64_t k, int64_t rows, int64_t cols, int64_t h, int64_t w) {
  const int64_t i = k / cols, j = k % cols;
  return {i * h / rows, (i + 1) * h / rows, j * w / cols, (j + 1) * w / cols};
}

void test_dispatcher() {
  const int64_t h = 9, w = 11;
  const std::vector<double> in = ramp_image(h, w);
  const double shift[4] = {0.05, -0.2, 0.0, 0.5};  // block 2 empty; block 3 clips at 1
  for (const bool crop : {false, true}) {
    Table tab(2, 2, 3, crop);
    for (int k = 0; k < 4; ++k) {
      if (k == 2) continue;  // no distortion: the block is copied through
      tab.set(k, 1, ds::kMeanShift, shift[k]);  // slot 0 and 2 empty
    }
    tab.set(1, 2, ds::kMeanShift, 0.1);  // block 1: a chain of two, -0.2 then +0.1
    std::vector<double> out(3 * h * w, -7.0);
    const Status s = ds::distort_sample_cpu<double>(tab.table(), in.data(), out.data(), h, w);
    expect(s == Status::kOk, "dispatcher status");
    for (int64_t k = 0; k < 4; ++k) {
      const ds::Rect r = block_rect(k, 2, 2, h, w);
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = r.y0; y < r.y1; ++y)
          for (int64_t x = r.x0; x < r.x1; ++x) {
            const int64_t i = (c * h + y) * w + x;
            double e = in[i];
            if (k == 1) {
              e = std::fmin(std::fmax(e - 0.2, 0.0), 1.0);  // clipped between the two slots
              e = std::fmin(std::fmax(e + 0.1, 0.0), 1.0);
            } else if (k != 2) {
              e = std::fmin(std::fmax(e + shift[k], 0.0), 1.0);
            }
            expect(out[i] == e, crop ? "crop assembly" : "composite assembly", out[i], e);
          }
    }
  }
  // Float too, and a 1×1 image on a 2×2 grid (three empty blocks).
  {
    Table tab(2, 2, 1, false);
    for (int k = 0; k < 4; ++k) tab.set(k, 0, ds::kMeanShift, 0.25);
    const float one[3] = {0.5f, 0.9f, 0.0f};
    float out[3] = {-1, -1, -1};
    expect(ds::distort_sample_cpu<float>(tab.table(), one, out, 1, 1) == Status::kOk, "1x1 status");
    expect(out[0] == 0.75f && out[1] == 1.0f && out[2] == 0.25f, "1x1 on a 2x2 grid", out[1], 1.0);
  }
  // An unknown type is refused.
  {
    Table tab(1, 1, 1, false);
    tab.set(0, 0, ds::kNumTypes + 3, 1.0);
    std::vector<double> out(3 * h * w);
    expect(ds::distort_sample_cpu<double>(tab.table(), in.data(), out.data(), h, w) == Status::kUnsupportedDType,
           "unknown type refused");
  }
}

void test_white_noise() {
  const int64_t h = 128, w = 96;
  const double variance = 0.003;
  std::vector<double> in(3 * h * w, 0.5);
  std::vector<double> a(in.size()), b(in.size());
  Table tab(1, 1, 1, false);
  tab.set(0, 0, ds::kWhiteNoise, variance);
  expect(ds::distort_sample_cpu<double>(tab.table(), in.data(), a.data(), h, w) == Status::kOk, "noise status");
  ds::distort_sample_cpu<double>(tab.table(), in.data(), b.data(), h, w);
  bool same = true;
  double sum = 0, sum2 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    same = same && a[i] == b[i];
    const double n = a[i] - 0.5;
    sum += n;
    sum2 += n * n;
  }
  expect(same, "white_noise deterministic");
  const double n = static_cast<double>(a.size()), mean = sum / n, var = sum2 / n - mean * mean;
  // 4σ bounds: σ(mean) = √(v/n); σ(var) ≈ v·√(2/n). |noise| ≤ 0.5 almost surely at v = 0.003.
  expect(std::fabs(mean) < 4 * std::sqrt(variance / n), "white_noise mean", mean, 0.0);
  expect(std::fabs(var - variance) < 4 * variance * std::sqrt(2.0 / n), "white_noise variance", var, variance);
  // The channels are distinct normals, and the pixel's own: R at (0,0) = 0.5 + √v·n0 of counter (0,0,0,0).
  const px::Uint4 r = px::draw(static_cast<uint64_t>(tab.seeds[0]), 0, 0, 0);
  double n0, n1;
  px::box_muller(r.x, r.y, n0, n1);
  expect(std::fabs(a[0] - std::fmin(std::fmax(0.5 + std::sqrt(variance) * n0, 0.0), 1.0)) < 1e-15,
         "white_noise keyed by (x, y, 0, 0)", a[0], 0.5 + std::sqrt(variance) * n0);
  expect(a[0] != a[h * w], "white_noise channels differ");
  // Keyed by image coordinates: crop mode on a 1×2 grid gives the composite mode's noise.
  Table comp(1, 2, 1, false), crop(1, 2, 1, true);
  for (Table* t : {&comp, &crop}) {
    for (int k = 0; k < 2; ++k) t->set(k, 0, ds::kWhiteNoise, variance);
  }
  std::vector<double> c1(in.size()), c2(in.size());
  ds::distort_sample_cpu<double>(comp.table(), in.data(), c1.data(), h, w);
  ds::distort_sample_cpu<double>(crop.table(), in.data(), c2.data(), h, w);
  bool equal = true;
  for (size_t i = 0; i < c1.size(); ++i) equal = equal && c1[i] == c2[i];
  expect(equal, "white_noise: crop and composite share the image-coordinate field");
}

void test_codec() {
  expect(ds::cpu_operator<float>(ds::kJpeg2000) == nullptr, "jpeg2000 has no cpu operator");
#if PYIQA_FAST_WITH_LIBJPEG
  expect(ds::cpu_operator<float>(ds::kJpeg) != nullptr, "jpeg has a cpu operator");
  const int64_t h = 37, w = 53;
  const std::vector<double> in = ramp_image(h, w);
  for (const double q : {70.0, 24.0, 4.0}) {
    Table tab(1, 1, 1, false);
    tab.set(0, 0, ds::kJpeg, q);
    std::vector<double> out(in.size()), again(in.size());
    expect(ds::distort_sample_cpu<double>(tab.table(), in.data(), out.data(), h, w) == Status::kOk, "jpeg status");
    ds::distort_sample_cpu<double>(tab.table(), in.data(), again.data(), h, w);
    double err = 0, changed = 0;
    bool bytes = true, same = true;
    for (size_t i = 0; i < out.size(); ++i) {
      err += std::fabs(out[i] - in[i]);
      changed += out[i] != in[i];
      const double v = out[i] * 255;
      bytes = bytes && std::fabs(v - std::round(v)) < 1e-9 && v >= 0 && v <= 255;
      same = same && out[i] == again[i];
    }
    err /= static_cast<double>(out.size());
    if (std::getenv("VERBOSE")) std::printf("q=%g mean|err|=%.3f LSB\n", q, err * 255);
    expect(bytes, "jpeg output is k/255");
    expect(same, "jpeg deterministic");
    // Mean |error| bounds on this ramp (measured 1.0, 2.3, 14.5 LSB at q = 70, 24, 4).
    expect(err < (q > 50 ? 1.5 : (q > 10 ? 4.0 : 25.0)) / 255, "jpeg error on a smooth ramp", err * 255, 0.0);
    expect(changed > 0, "jpeg changes the image");
  }
  // Flat grey is reproduced exactly (DC only; 128 is a JPEG fixed point at any quality), 1×1 works.
  for (const int64_t size : {1, 8, 17}) {
    std::vector<float> grey(3 * size * size, 128.0f / 255), out(grey.size(), -1.0f);
    Table tab(1, 1, 1, false);
    tab.set(0, 0, ds::kJpeg, 7.0);
    expect(ds::distort_sample_cpu<float>(tab.table(), grey.data(), out.data(), size, size) == Status::kOk,
           "jpeg flat status");
    bool exact = true;
    for (size_t i = 0; i < out.size(); ++i) exact = exact && out[i] == grey[i];
    expect(exact, "jpeg keeps flat grey", out[0] * 255, 128);
  }
  // Coding only the MCU window around out_region gives, inside it, the whole image's result.
  {
    const int64_t H = 70, W = 93;
    std::vector<double> img(3 * H * W);
    uint32_t state = 12345;
    for (double& v : img) {  // texture: fine detail exercises every DCT coefficient and chroma
      state = state * 1664525u + 1013904223u;
      v = (state >> 8) * (1.0 / 16777216.0);
    }
    for (int64_t i = 0; i < H * W; ++i) img[i] = 0.5 * img[i] + 0.5 * double(i % W) / W;
    std::vector<double> full(img.size()), part(img.size());
    const ds::OpFn<double> op = ds::cpu_operator<double>(ds::kJpeg);
    const double aux[ds::kAuxSize] = {};
    const ds::Rect whole{0, H, 0, W};
    const ds::Rect regions[] = {{0, 35, 0, 46}, {35, 70, 46, 93}, {17, 18, 31, 33}, {9, 61, 23, 24},
                                {0, 70, 46, 93}, {16, 32, 16, 32}, {15, 33, 15, 33}, {69, 70, 92, 93}};
    for (const double q : {70.0, 7.0}) {
      ds::OpArgs<double> a{img.data(), full.data(), H, W, whole, whole, 0, 0, q, ds::Preset::kReiqa, false, 0,
                           aux, nullptr};
      expect(op(a) == Status::kOk, "jpeg whole status");
      for (const ds::Rect& r : regions) {
        a.dst = part.data();
        a.region = r;
        a.out_region = r;
        expect(op(a) == Status::kOk, "jpeg region status");
        bool same = true;
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t y = r.y0; y < r.y1; ++y)
            for (int64_t x = r.x0; x < r.x1; ++x) same = same && part[(c * H + y) * W + x] == full[(c * H + y) * W + x];
        expect(same, "jpeg on an MCU window equals the whole image's coding", double(r.y0), double(r.x0));
      }
      a.dst = full.data();
      a.out_region = whole;
    }
  }
  // Quality outside 1..100 is refused.
  {
    Table tab(1, 1, 1, false);
    tab.set(0, 0, ds::kJpeg, 0.0);
    std::vector<double> out(in.size());
    expect(ds::distort_sample_cpu<double>(tab.table(), in.data(), out.data(), h, w) == Status::kInvalidArgument,
           "jpeg quality 0 refused");
  }
#else
  expect(ds::cpu_operator<float>(ds::kJpeg) == nullptr, "no libjpeg: no jpeg cpu operator");
#endif
}

}  // namespace

int main() {
  test_philox();
  test_dispatcher();
  test_white_noise();
  test_codec();
  if (failures != 0) {
    std::printf("%d failure(s)\n", failures);
    return 1;
  }
  std::printf("distort: all tests passed\n");
  return 0;
}
