// Standalone test of the dsm_pool kernels, without torch: the CPU kernels against a double loop
// (every dtype, NCHW / channels-last / strided layouts, ceil_mode partial cells), the CPU half
// decoder over all 65536 bit patterns, and with PYIQA_FAST_WITH_CUDA the CUDA launchers against
// the CPU kernels (forward and backward, several chunkings). Target of `make sanitize`
// (compute-sanitizer memcheck / racecheck / initcheck).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/dsm_pool/dsm_pool.h"

#if PYIQA_FAST_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace dp = pyiqa_fast::dsm_pool;

namespace {

int failures = 0;

void expect(bool ok, const char* what, int64_t index, double actual, double expected) {
  if (!ok) {
    if (failures < 20) {
      std::printf("FAIL %s [%lld]: %.17g vs %.17g\n", what, static_cast<long long>(index), actual, expected);
    }
    ++failures;
  }
}

struct Case {
  int64_t batch, height, width, pool;
};

dp::Geometry geometry(const Case& c) {
  dp::Geometry g;
  g.batch = c.batch;
  g.height = c.height;
  g.width = c.width;
  g.pool = c.pool;
  g.out_h = (c.height + c.pool - 1) / c.pool;
  g.out_w = (c.width + c.pool - 1) / c.pool;
  return g;
}

// Layout: 0 = NCHW, 1 = channels-last, 2 = NCHW with every other column (width stride 2).
dp::Strides strides(const Case& c, int layout) {
  if (layout == 1) return {c.height * c.width * 3, 1, c.width * 3, 3};
  const int64_t w = layout == 2 ? 2 * c.width : c.width;
  return {3 * c.height * w, c.height * w, w, layout == 2 ? 2 : 1};
}

int64_t storage(const Case& c, int layout) { return c.batch * 3 * c.height * c.width * (layout == 2 ? 2 : 1); }

int64_t at(const dp::Strides& s, int64_t b, int64_t ch, int64_t h, int64_t w) {
  return b * s.b + ch * s.c + h * s.h + w * s.w;
}

// The definition, in double, on values already decoded.
std::vector<double> brute_force(const Case& c, const dp::Strides& s, const std::vector<double>& r,
                                const std::vector<double>& d) {
  const dp::Geometry g = geometry(c);
  std::vector<double> out(g.batch * g.out_h * g.out_w, 0.0);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t u = 0; u < g.out_h; ++u)
      for (int64_t v = 0; v < g.out_w; ++v) {
        double sum = 0.0;
        int64_t n = 0;
        for (int64_t h = u * c.pool; h < std::min((u + 1) * c.pool, c.height); ++h)
          for (int64_t w = v * c.pool; w < std::min((v + 1) * c.pool, c.width); ++w) {
            ++n;
            for (int ch = 0; ch < 3; ++ch) sum += std::fabs(r[at(s, b, ch, h, w)] - d[at(s, b, ch, h, w)]);
          }
        out[(b * g.out_h + u) * g.out_w + v] = sum / (3.0 * n);
      }
  return out;
}

// Independent half decoder (ldexp), for the exhaustive check of the kernel's bit tricks.
double decode_half(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double v;
  if (exponent == 0) v = std::ldexp(mantissa, -24);
  else if (exponent == 31) v = mantissa ? NAN : INFINITY;
  else v = std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -v : v;
}

template <typename T, typename A>
std::vector<A> run_cpu_fwd(const Case& c, const dp::Strides& s, const std::vector<T>& r, const std::vector<T>& d) {
  dp::CpuFwdParams<T, A> p;
  p.geo = geometry(c);
  p.ref = r.data();
  p.ref_strides = s;
  p.dist = d.data();
  p.dist_strides = s;
  std::vector<A> out(p.geo.batch * p.geo.out_h * p.geo.out_w);
  p.out = out.data();
  std::vector<A> scratch(c.width);
  if (dp::dsm_pool_fwd_cpu<T, A>(p, 0, p.geo.batch * p.geo.out_h, scratch.data()) != pyiqa_fast::Status::kOk) {
    std::printf("FAIL cpu forward status\n");
    ++failures;
  }
  return out;
}

void test_cpu_forward(const Case& c, int layout, std::mt19937& rng) {
  const dp::Strides s = strides(c, layout);
  const int64_t n = storage(c, layout);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  std::vector<float> rf(n), df(n);
  std::vector<double> rd(n), dd(n);
  std::vector<uint8_t> ru(n), du(n);
  std::vector<double> ru_val(n), du_val(n);
  for (int64_t i = 0; i < n; ++i) {
    rd[i] = uni(rng);
    dd[i] = i % 7 == 0 ? rd[i] : uni(rng);  // some exact ties
    rf[i] = static_cast<float>(rd[i]);
    df[i] = static_cast<float>(dd[i]);
    ru[i] = static_cast<uint8_t>(rng() & 0xff);
    du[i] = i % 5 == 0 ? ru[i] : static_cast<uint8_t>(rng() & 0xff);
    ru_val[i] = ru[i] / 255.0;
    du_val[i] = du[i] / 255.0;
  }
  std::vector<double> rf_val(rf.begin(), rf.end()), df_val(df.begin(), df.end());
  const auto exact_d = brute_force(c, s, rd, dd);
  const auto exact_f = brute_force(c, s, rf_val, df_val);
  const auto exact_u = brute_force(c, s, ru_val, du_val);
  const auto got_d = run_cpu_fwd<double, double>(c, s, rd, dd);
  const auto got_f = run_cpu_fwd<float, float>(c, s, rf, df);
  const auto got_u = run_cpu_fwd<uint8_t, float>(c, s, ru, du);
  for (size_t i = 0; i < exact_d.size(); ++i) {
    expect(std::fabs(got_d[i] - exact_d[i]) <= 1e-15, "cpu fp64", i, got_d[i], exact_d[i]);
    expect(std::fabs(got_f[i] - exact_f[i]) <= 1e-6 * (1 + exact_f[i]), "cpu fp32", i, got_f[i], exact_f[i]);
    expect(std::fabs(got_u[i] - exact_u[i]) <= 1e-6 * (1 + exact_u[i]), "cpu uint8", i, got_u[i], exact_u[i]);
  }
}

void test_half_decoder() {
  // One 1×1 image per bit pattern, pool 1: out = |ref_c0| / 3 exactly as float computes it.
  const Case c{65536, 1, 1, 1};
  const dp::Strides s = strides(c, 0);
  std::vector<dp::Half> r(3 * 65536, dp::Half{0}), d(3 * 65536, dp::Half{0});
  for (int64_t i = 0; i < 65536; ++i) r[3 * i] = dp::Half{static_cast<uint16_t>(i)};
  const auto got = run_cpu_fwd<dp::Half, float>(c, s, r, d);
  for (int64_t i = 0; i < 65536; ++i) {
    const float expected = std::fabs(static_cast<float>(decode_half(static_cast<uint16_t>(i)))) / 3.0f;
    const bool same = std::isnan(expected) ? std::isnan(got[i]) : got[i] == expected;
    expect(same, "half decode", i, got[i], expected);
  }
}

void test_cpu_backward(std::mt19937& rng) {
  const Case c{2, 7, 10, 4};  // ceil_mode geometry: partial cells both ways
  const dp::Geometry g = geometry(c);
  const dp::Strides s = strides(c, 1);
  const int64_t n = storage(c, 1);
  std::vector<double> r(n), d(n);
  std::uniform_real_distribution<double> uni(-1.0, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    r[i] = uni(rng);
    d[i] = i % 3 == 0 ? r[i] : uni(rng);
  }
  std::vector<double> scale(g.batch * g.out_h * g.out_w);
  for (auto& v : scale) v = uni(rng);
  std::vector<double> gr(n), gd(n);
  dp::CpuBwdParams<double> p;
  p.geo = g;
  p.ref = r.data();
  p.ref_strides = s;
  p.dist = d.data();
  p.dist_strides = s;
  p.scale = scale.data();
  p.grad_ref = gr.data();
  p.grad_dist = gd.data();
  dp::dsm_pool_bwd_cpu<double>(p, 0, g.batch * g.height);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int ch = 0; ch < 3; ++ch)
      for (int64_t h = 0; h < c.height; ++h)
        for (int64_t w = 0; w < c.width; ++w) {
          const double diff = r[at(s, b, ch, h, w)] - d[at(s, b, ch, h, w)];
          const double sv = scale[(b * g.out_h + h / c.pool) * g.out_w + w / c.pool];
          const double expected = diff > 0 ? sv : diff < 0 ? -sv : 0.0;
          const int64_t o = ((b * 3 + ch) * c.height + h) * c.width + w;
          expect(gr[o] == expected && gd[o] == -expected, "cpu backward", o, gr[o], expected);
        }
}

#if PYIQA_FAST_WITH_CUDA
template <typename T>
T* to_device(const std::vector<T>& host) {
  T* ptr = nullptr;
  cudaMalloc(&ptr, host.size() * sizeof(T));
  cudaMemcpy(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  return ptr;
}

template <typename T>
std::vector<T> to_host(const T* ptr, size_t n) {
  std::vector<T> host(n);
  cudaMemcpy(host.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost);
  return host;
}

void test_cuda(const Case& c, int layout, std::mt19937& rng) {
  const dp::Geometry g = geometry(c);
  const dp::Strides s = strides(c, layout);
  const int64_t n = storage(c, layout);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<float> r(n), d(n);
  for (int64_t i = 0; i < n; ++i) {
    r[i] = uni(rng);
    d[i] = i % 7 == 0 ? r[i] : uni(rng);
  }
  const auto expected = run_cpu_fwd<float, float>(c, s, r, d);
  float* r_dev = to_device(r);
  float* d_dev = to_device(d);
  float* out_dev = nullptr;
  cudaMalloc(&out_dev, expected.size() * sizeof(float));
  dp::CudaFwdParams p;
  p.geo = g;
  p.in_type = dp::InType::kFloat32;
  p.ref = r_dev;
  p.ref_strides = s;
  p.dist = d_dev;
  p.dist_strides = s;
  p.out = out_dev;
  if (dp::launch_dsm_pool_fwd(p, nullptr) != pyiqa_fast::Status::kOk) {
    std::printf("FAIL cuda forward launch: %s\n", dp::dsm_pool_cuda_error());
    ++failures;
  }
  const auto got = to_host(out_dev, expected.size());
  // Same order of additions as the CPU kernel: bitwise equal.
  for (size_t i = 0; i < expected.size(); ++i) expect(got[i] == expected[i], "cuda forward", i, got[i], expected[i]);

  // Backward against the CPU kernel.
  std::vector<float> scale(expected.size());
  for (auto& v : scale) v = uni(rng) - 0.5f;
  const int64_t grads = c.batch * 3 * c.height * c.width;
  std::vector<float> gr(grads), gd(grads);
  dp::CpuBwdParams<float> cp;
  cp.geo = g;
  cp.ref = r.data();
  cp.ref_strides = s;
  cp.dist = d.data();
  cp.dist_strides = s;
  cp.scale = scale.data();
  cp.grad_ref = gr.data();
  cp.grad_dist = gd.data();
  dp::dsm_pool_bwd_cpu<float>(cp, 0, g.batch * g.height);
  float* scale_dev = to_device(scale);
  float *gr_dev = nullptr, *gd_dev = nullptr;
  cudaMalloc(&gr_dev, grads * sizeof(float));
  cudaMalloc(&gd_dev, grads * sizeof(float));
  dp::CudaBwdParams bp;
  bp.geo = g;
  bp.in_type = dp::InType::kFloat32;
  bp.ref = r_dev;
  bp.ref_strides = s;
  bp.dist = d_dev;
  bp.dist_strides = s;
  bp.scale = scale_dev;
  bp.grad_ref = gr_dev;
  bp.grad_dist = gd_dev;
  if (dp::launch_dsm_pool_bwd(bp, nullptr) != pyiqa_fast::Status::kOk) {
    std::printf("FAIL cuda backward launch: %s\n", dp::dsm_pool_cuda_error());
    ++failures;
  }
  const auto got_r = to_host(gr_dev, grads);
  const auto got_d = to_host(gd_dev, grads);
  for (int64_t i = 0; i < grads; ++i) {
    expect(got_r[i] == gr[i] && got_d[i] == gd[i], "cuda backward", i, got_r[i], gr[i]);
  }
  for (void* ptr : {static_cast<void*>(r_dev), static_cast<void*>(d_dev), static_cast<void*>(out_dev),
                    static_cast<void*>(scale_dev), static_cast<void*>(gr_dev), static_cast<void*>(gd_dev)}) {
    cudaFree(ptr);
  }
  if (cudaDeviceSynchronize() != cudaSuccess) {
    std::printf("FAIL cuda: %s\n", cudaGetErrorString(cudaGetLastError()));
    ++failures;
  }
}
#endif

}  // namespace

int main() {
  std::mt19937 rng(0);
  const Case cases[] = {{2, 16, 16, 8}, {3, 37, 29, 8}, {1, 5, 7, 4}, {2, 9, 11, 1}, {1, 24, 40, 5}};
  for (const Case& c : cases)
    for (int layout = 0; layout < 3; ++layout) test_cpu_forward(c, layout, rng);
  test_half_decoder();
  test_cpu_backward(rng);
#if PYIQA_FAST_WITH_CUDA
  const Case cuda_cases[] = {{2, 224, 224, 8}, {3, 37, 530, 8}, {1, 64, 4100, 3}, {2, 48, 48, 16}, {1, 5, 7, 4}};
  for (const Case& c : cuda_cases)
    for (int layout = 0; layout < 3; ++layout) test_cuda(c, layout, rng);
#endif
  if (failures) {
    std::printf("%d failure(s)\n", failures);
    return 1;
  }
  std::printf("dsm_pool kernel tests passed\n");
  return 0;
}
