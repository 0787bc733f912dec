// The LIF scan on CPU, one pass over memory per direction (built by avsnn/core/kernels/cpp.py).
// Same equations and arithmetic order as the reference loop (avsnn/core/kernels/reference.py);
// built without -march, so no FMA contraction: float32/float64 spikes equal the loop's bit for bit.
// Also the 2x2 max pool of the audio network (avsnn/core/kernels/pool.py), at the end of this file.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>

// Codes (avsnn/core/kernels/codes.py): reset 0 subtract, 1 zero, 2 none; surrogate 0 atan, 1 fast_sigmoid.
// The surrogate derivative is c / (1 + (k x)^2) (atan) or c / (1 + k |x|)^2 (fast sigmoid), x = V - thr,
// with k and c from Surrogate.constants (avsnn/core/surrogate.py).
// Neurons are processed in chunks of CHUNK; a chunk's whole T-step scan runs while it is in cache.
static constexpr int64_t CHUNK = 2048;

template <typename scalar_t, int RESET>
static void fwd_kernel(const scalar_t* __restrict__ I, scalar_t* __restrict__ S, scalar_t* __restrict__ V,
                       int64_t T, int64_t N, int64_t istride, scalar_t beta, scalar_t thr) {
  const int64_t nchunk = (N + CHUNK - 1) / CHUNK;
  at::parallel_for(0, nchunk, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t b = c * CHUNK, n = std::min(N, b + CHUNK) - b;
      {
        const scalar_t* __restrict__ x = I + b; scalar_t* __restrict__ vo = V + b; scalar_t* __restrict__ so = S + b;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const scalar_t v = x[i];
          vo[i] = v;
          so[i] = v >= thr ? scalar_t(1) : scalar_t(0);
        }
      }
      for (int64_t t = 1; t < T; ++t) {
        const scalar_t* __restrict__ x = I + t * istride + b;
        const scalar_t* __restrict__ vp = V + (t - 1) * N + b;
        const scalar_t* __restrict__ sp = S + (t - 1) * N + b;
        scalar_t* __restrict__ vo = V + t * N + b;
        scalar_t* __restrict__ so = S + t * N + b;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          scalar_t v;
          if (RESET == 0) {
            v = beta * vp[i] + x[i];
            v = v - thr * sp[i];
          } else if (RESET == 1) {
            v = (beta * (scalar_t(1) - sp[i])) * vp[i] + x[i];
          } else {
            v = beta * vp[i] + x[i];
          }
          vo[i] = v;
          so[i] = v >= thr ? scalar_t(1) : scalar_t(0);
        }
      }
    }
  });
}

void lif_forward(torch::Tensor inp, torch::Tensor S, torch::Tensor V, double beta, double thr, int64_t reset) {
  // inp: [T, N] rows contiguous; its row stride may be anything (0 for a current broadcast over T).
  TORCH_CHECK(inp.dim() == 2 && inp.stride(1) == 1 && S.is_contiguous() && V.is_contiguous() &&
              S.sizes() == inp.sizes() && V.sizes() == inp.sizes(), "lif_forward expects contiguous [T, N] tensors");
  const int64_t T = inp.size(0), N = inp.size(1);
  AT_DISPATCH_FLOATING_TYPES(inp.scalar_type(), "lif_forward", [&] {
    const scalar_t* I = inp.data_ptr<scalar_t>(); scalar_t* s = S.data_ptr<scalar_t>(); scalar_t* v = V.data_ptr<scalar_t>();
    if (reset == 0) fwd_kernel<scalar_t, 0>(I, s, v, T, N, inp.stride(0), (scalar_t)beta, (scalar_t)thr);
    else if (reset == 1) fwd_kernel<scalar_t, 1>(I, s, v, T, N, inp.stride(0), (scalar_t)beta, (scalar_t)thr);
    else fwd_kernel<scalar_t, 2>(I, s, v, T, N, inp.stride(0), (scalar_t)beta, (scalar_t)thr);
  });
}

// One time step of the reverse scan over one chunk row. NEXT: a later step exists (carry its
// delta); PREV: an earlier step exists and beta's gradient is wanted (reads V[t-1]); GRAD_T: the
// threshold's gradient is wanted. Returns via sb, st.
template <typename scalar_t, int RESET, int SURR, bool HAS_GS, bool HAS_GV, bool NEXT, bool PREV, bool GRAD_T>
static inline void bwd_row(const scalar_t* __restrict__ v, const scalar_t* __restrict__ vprev,
                           const scalar_t* __restrict__ gs, const scalar_t* __restrict__ gv,
                           const scalar_t* __restrict__ gnext, scalar_t* __restrict__ gi, int64_t n,
                           scalar_t beta, scalar_t thr, scalar_t k, scalar_t cnum, scalar_t& sb_out, scalar_t& st_out) {
  scalar_t sb = 0, st = 0;
#pragma omp simd reduction(+ : sb, st)
  for (int64_t i = 0; i < n; ++i) {
    scalar_t d = scalar_t(0);
    if (HAS_GV) d = gv[i];
    if (HAS_GS) {
      const scalar_t x = v[i] - thr;
      scalar_t den;
      if (SURR == 0) { const scalar_t z = k * x; den = scalar_t(1) + z * z; }
      else { const scalar_t z = scalar_t(1) + k * std::abs(x); den = z * z; }
      const scalar_t ds = gs[i] * cnum / den;
      d += ds;
      if (GRAD_T) st -= ds;
    }
    if (NEXT) {
      const scalar_t f = RESET == 1 ? (v[i] >= thr ? scalar_t(0) : beta) : beta;
      d += f * gnext[i];
    }
    gi[i] = d;
    if (PREV) {
      const scalar_t sp = vprev[i] >= thr ? scalar_t(1) : scalar_t(0);
      sb += d * (RESET == 1 ? vprev[i] * (scalar_t(1) - sp) : vprev[i]);
      if (RESET == 0 && GRAD_T) st -= d * sp;
    }
  }
  sb_out = sb; st_out = st;
}

// Writes dL/dI into GI; partial[2c], partial[2c+1] get chunk c's dL/dbeta and dL/dthr.
template <typename scalar_t, int RESET, int SURR, bool HAS_GS, bool HAS_GV, bool GRAD_B, bool GRAD_T>
static void bwd_kernel(const scalar_t* __restrict__ V, const scalar_t* __restrict__ GS,
                       const scalar_t* __restrict__ GV, scalar_t* __restrict__ GI, int64_t T, int64_t N,
                       scalar_t beta, scalar_t thr, scalar_t k, scalar_t cnum, double* partial) {
  const int64_t nchunk = (N + CHUNK - 1) / CHUNK;
  at::parallel_for(0, nchunk, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t b = c * CHUNK, n = std::min(N, b + CHUNK) - b;
      double gb = 0.0, gt = 0.0;
      for (int64_t t = T - 1; t >= 0; --t) {
        const scalar_t* v = V + t * N + b;
        scalar_t* gi = GI + t * N + b;
        const scalar_t* gs = HAS_GS ? GS + t * N + b : nullptr;
        const scalar_t* gv = HAS_GV ? GV + t * N + b : nullptr;
        const scalar_t* gnext = t + 1 < T ? GI + (t + 1) * N + b : nullptr;
        const scalar_t* vprev = t >= 1 ? V + (t - 1) * N + b : nullptr;
        scalar_t sb = 0, st = 0;
        // V[t-1] is read only for the parameter gradients (beta always, threshold under subtract).
        const bool prev = vprev != nullptr && (GRAD_B || (GRAD_T && RESET == 0));
        if (gnext && prev)
          bwd_row<scalar_t, RESET, SURR, HAS_GS, HAS_GV, true, true, GRAD_T>(v, vprev, gs, gv, gnext, gi, n, beta, thr, k, cnum, sb, st);
        else if (gnext)
          bwd_row<scalar_t, RESET, SURR, HAS_GS, HAS_GV, true, false, GRAD_T>(v, vprev, gs, gv, gnext, gi, n, beta, thr, k, cnum, sb, st);
        else if (prev)
          bwd_row<scalar_t, RESET, SURR, HAS_GS, HAS_GV, false, true, GRAD_T>(v, vprev, gs, gv, gnext, gi, n, beta, thr, k, cnum, sb, st);
        else
          bwd_row<scalar_t, RESET, SURR, HAS_GS, HAS_GV, false, false, GRAD_T>(v, vprev, gs, gv, gnext, gi, n, beta, thr, k, cnum, sb, st);
        gb += (double)sb; gt += (double)st;
      }
      partial[2 * c] = gb; partial[2 * c + 1] = gt;
    }
  });
}

template <typename scalar_t, int RESET, int SURR, bool GRAD_B, bool GRAD_T>
static void bwd_dispatch_p(const scalar_t* V, const scalar_t* GS, const scalar_t* GV, scalar_t* GI, int64_t T,
                           int64_t N, scalar_t beta, scalar_t thr, scalar_t k, scalar_t cnum, double* partial) {
  if (GS && GV) bwd_kernel<scalar_t, RESET, SURR, true, true, GRAD_B, GRAD_T>(V, GS, GV, GI, T, N, beta, thr, k, cnum, partial);
  else if (GS) bwd_kernel<scalar_t, RESET, SURR, true, false, GRAD_B, GRAD_T>(V, GS, GV, GI, T, N, beta, thr, k, cnum, partial);
  else bwd_kernel<scalar_t, RESET, SURR, false, true, GRAD_B, GRAD_T>(V, GS, GV, GI, T, N, beta, thr, k, cnum, partial);
}

template <typename scalar_t, int RESET, int SURR>
static void bwd_dispatch_g(const scalar_t* V, const scalar_t* GS, const scalar_t* GV, scalar_t* GI, int64_t T,
                           int64_t N, scalar_t beta, scalar_t thr, scalar_t k, scalar_t cnum, double* partial,
                           bool grad_b, bool grad_t) {
  // Frozen beta and threshold (the usual case) skip the reductions and the reads of V[t-1].
  if (grad_b && grad_t) bwd_dispatch_p<scalar_t, RESET, SURR, true, true>(V, GS, GV, GI, T, N, beta, thr, k, cnum, partial);
  else if (grad_b) bwd_dispatch_p<scalar_t, RESET, SURR, true, false>(V, GS, GV, GI, T, N, beta, thr, k, cnum, partial);
  else if (grad_t) bwd_dispatch_p<scalar_t, RESET, SURR, false, true>(V, GS, GV, GI, T, N, beta, thr, k, cnum, partial);
  else bwd_dispatch_p<scalar_t, RESET, SURR, false, false>(V, GS, GV, GI, T, N, beta, thr, k, cnum, partial);
}

template <typename scalar_t>
static void bwd_dispatch(int64_t reset, int64_t surr, const scalar_t* V, const scalar_t* GS, const scalar_t* GV,
                         scalar_t* G, int64_t T, int64_t N, scalar_t b, scalar_t th, scalar_t k, scalar_t c, double* P,
                         bool gb, bool gt) {
  if (surr == 0) {
    if (reset == 0) bwd_dispatch_g<scalar_t, 0, 0>(V, GS, GV, G, T, N, b, th, k, c, P, gb, gt);
    else if (reset == 1) bwd_dispatch_g<scalar_t, 1, 0>(V, GS, GV, G, T, N, b, th, k, c, P, gb, gt);
    else bwd_dispatch_g<scalar_t, 2, 0>(V, GS, GV, G, T, N, b, th, k, c, P, gb, gt);
  } else {
    if (reset == 0) bwd_dispatch_g<scalar_t, 0, 1>(V, GS, GV, G, T, N, b, th, k, c, P, gb, gt);
    else if (reset == 1) bwd_dispatch_g<scalar_t, 1, 1>(V, GS, GV, G, T, N, b, th, k, c, P, gb, gt);
    else bwd_dispatch_g<scalar_t, 2, 1>(V, GS, GV, G, T, N, b, th, k, c, P, gb, gt);
  }
}

torch::Tensor lif_backward(torch::Tensor mem, torch::Tensor GI, c10::optional<torch::Tensor> g_spk,
                           c10::optional<torch::Tensor> g_mem, double beta, double thr,
                           int64_t reset, int64_t surr, double k, double c, bool grad_beta, bool grad_thr) {
  TORCH_CHECK(mem.dim() == 2 && mem.is_contiguous() && GI.is_contiguous() && GI.sizes() == mem.sizes(),
              "lif_backward expects contiguous [T, N] tensors");
  TORCH_CHECK(g_spk.has_value() || g_mem.has_value(), "lif_backward needs a gradient");
  const int64_t T = mem.size(0), N = mem.size(1);
  const int64_t nchunk = (N + CHUNK - 1) / CHUNK;
  auto partial = torch::zeros({std::max<int64_t>(nchunk, 1), 2}, mem.options().dtype(torch::kFloat64));
  torch::Tensor gs, gv;
  if (g_spk.has_value()) gs = g_spk->contiguous();
  if (g_mem.has_value()) gv = g_mem->contiguous();
  AT_DISPATCH_FLOATING_TYPES(mem.scalar_type(), "lif_backward", [&] {
    const scalar_t* V = mem.data_ptr<scalar_t>();
    const scalar_t* GS = gs.defined() ? gs.data_ptr<scalar_t>() : nullptr;
    const scalar_t* GV = gv.defined() ? gv.data_ptr<scalar_t>() : nullptr;
    scalar_t* G = GI.data_ptr<scalar_t>();
    double* P = partial.data_ptr<double>();
    bwd_dispatch<scalar_t>(reset, surr, V, GS, GV, G, T, N, (scalar_t)beta, (scalar_t)thr, (scalar_t)k, (scalar_t)c, P,
                           grad_beta, grad_thr);
  });
  return partial.sum(0);
}

// 2x2 max pool, stride 2, floor mode, on [P, H, W] planes: ATen's CPU selection rule (in row-major order the
// first element greater than the running maximum, which starts at -inf, wins; so does any NaN), so values and gradients
// equal F.max_pool2d's bit for bit. The window's winner is kept as a byte (0..3, row-major) for backward.

// One output row: the four candidates of each window, compared in ATen's order. ATen's loop starts at
// m = -inf, so the first element always takes it (-inf or not): start there. b != b: NaN.
template <typename scalar_t>
static inline void pool_fwd_row(const scalar_t* __restrict__ r0, const scalar_t* __restrict__ r1,
                                scalar_t* __restrict__ o, uint8_t* __restrict__ k, int64_t OW) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    const scalar_t b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
    scalar_t m = r0[2 * ow];
    uint8_t w = 0;
    bool u = (b > m) | (b != b);
    m = u ? b : m; w = u ? 1 : w;
    u = (c > m) | (c != c);
    m = u ? c : m; w = u ? 2 : w;
    u = (d > m) | (d != d);
    m = u ? d : m; w = u ? 3 : w;
    o[ow] = m;
    k[ow] = w;
  }
}

template <typename scalar_t>
static void pool_fwd_kernel(const scalar_t* X, scalar_t* O, uint8_t* K, int64_t P, int64_t H, int64_t W) {
  const int64_t OH = H / 2, OW = W / 2;
  at::parallel_for(0, P * OH, 1, [=](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {  // output row r = plane p, row oh
      const int64_t p = r / OH, oh = r % OH;
      const scalar_t* r0 = X + (p * H + 2 * oh) * W;
      pool_fwd_row<scalar_t>(r0, r0 + W, O + r * OW, K + r * OW, OW);
    }
  });
}

template <typename scalar_t>
static inline void pool_bwd_row(const scalar_t* __restrict__ g, const uint8_t* __restrict__ k,
                                scalar_t* __restrict__ r0, scalar_t* __restrict__ r1, int64_t OW, int64_t W) {
  const scalar_t zero = scalar_t(0);
  for (int64_t ow = 0; ow < OW; ++ow) {
    const scalar_t v = g[ow];
    const uint8_t w = k[ow];
    r0[2 * ow] = w == 0 ? v : zero;
    r0[2 * ow + 1] = w == 1 ? v : zero;
    r1[2 * ow] = w == 2 ? v : zero;
    r1[2 * ow + 1] = w == 3 ? v : zero;
  }
  if (W & 1) { r0[W - 1] = zero; r1[W - 1] = zero; }
}

template <typename scalar_t>
static void pool_bwd_kernel(const scalar_t* G, const uint8_t* K, scalar_t* R, int64_t P, int64_t H, int64_t W) {
  const int64_t OH = H / 2, OW = W / 2;
  at::parallel_for(0, P, 1, [=](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      for (int64_t oh = 0; oh < OH; ++oh) {
        scalar_t* r0 = R + (p * H + 2 * oh) * W;
        pool_bwd_row<scalar_t>(G + (p * OH + oh) * OW, K + (p * OH + oh) * OW, r0, r0 + W, OW, W);
      }
      if (H & 1) std::fill(R + (p * H + H - 1) * W, R + (p + 1) * H * W, scalar_t(0));
    }
  });
}

std::vector<torch::Tensor> max_pool2x2_forward(torch::Tensor x) {
  // x: contiguous [P, H, W]; returns the pooled [P, H/2, W/2] and the winners (uint8, same shape).
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "max_pool2x2_forward expects a contiguous [P, H, W] tensor");
  const int64_t P = x.size(0), H = x.size(1), W = x.size(2);
  auto out = torch::empty({P, H / 2, W / 2}, x.options());
  auto win = torch::empty({P, H / 2, W / 2}, x.options().dtype(torch::kUInt8));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "max_pool2x2_forward", [&] {
    pool_fwd_kernel<scalar_t>(x.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), win.data_ptr<uint8_t>(), P, H, W);
  });
  return {out, win};
}

torch::Tensor max_pool2x2_backward(torch::Tensor g, torch::Tensor win, int64_t H, int64_t W) {
  // Every element of dL/dx written once: the output's gradient at each window's winner, +0 elsewhere
  // (and on the row / column a floor-mode pool leaves out).
  g = g.contiguous();
  TORCH_CHECK(g.dim() == 3 && win.sizes() == g.sizes() && g.size(1) == H / 2 && g.size(2) == W / 2,
              "max_pool2x2_backward: gradient, winners and input size disagree");
  const int64_t P = g.size(0);
  auto gi = torch::empty({P, H, W}, g.options());
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "max_pool2x2_backward", [&] {
    pool_bwd_kernel<scalar_t>(g.data_ptr<scalar_t>(), win.data_ptr<uint8_t>(), gi.data_ptr<scalar_t>(), P, H, W);
  });
  return gi;
}

// Batch-norm statistics of a contiguous [N, C, S] float32 input, as ATen's CPU kernel computes them
// (batch_norm_cpu_collect_stats_contiguous_impl): per channel a double sum in memory order, the mean
// rounded to float, then a double sum of the float squares (x - mean)^2. Each channel's sums are the
// same sequence of operations as ATen's, so the results are equal bit for bit; the speed comes from
// running CB channels' chains side by side (ATen runs one chain at a time, bound by the add latency).
// var_sum / N and var_sum / (N - 1) divide a float by an integer converted to float, as ATen does.
static constexpr int64_t CB = 8;

// Per channel k < nc of the group at c0: m[k] = float(double sum / N) and vs[k], the double sum of the float
// squares. NC > 0 fixes the group size at compile time, so the chains stay in registers.
template <int NC>
static inline void bn_sums(const float* X, int64_t C, int64_t c0, int64_t NB, int64_t S, int64_t N,
                           double* vs, float* m, int64_t nc = NC) {
  const int64_t K = NC > 0 ? NC : nc;
  double s[CB] = {0}, v[CB] = {0};
  for (int64_t n = 0; n < NB; ++n) {
    const float* base = X + (n * C + c0) * S;
    for (int64_t i = 0; i < S; ++i) {
      for (int64_t k = 0; k < K; ++k) s[k] += base[k * S + i];
    }
  }
  float mk[CB] = {0};
  for (int64_t k = 0; k < K; ++k) mk[k] = s[k] / N;
  for (int64_t n = 0; n < NB; ++n) {
    const float* base = X + (n * C + c0) * S;
    for (int64_t i = 0; i < S; ++i) {
      for (int64_t k = 0; k < K; ++k) {
        const float d = base[k * S + i] - mk[k];
        v[k] += d * d;
      }
    }
  }
  for (int64_t k = 0; k < K; ++k) { vs[k] = v[k]; m[k] = mk[k]; }
}

// Returns {mean, invstd, scale = invstd * weight, zeros}; updates running_mean / running_var in place with
// ATen's arithmetic (batch_norm_cpu_update_stats_template, built without FMA as this file is).
std::vector<torch::Tensor> bn_stats(torch::Tensor x, torch::Tensor weight, torch::Tensor running_mean,
                                    torch::Tensor running_var, double momentum, double eps) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous() && x.scalar_type() == torch::kFloat32,
              "bn_stats expects a contiguous float32 [N, C, S] tensor");
  const int64_t NB = x.size(0), C = x.size(1), S = x.size(2), N = NB * S;
  TORCH_CHECK(N > 1 && weight.numel() == C && running_mean.numel() == C && running_var.numel() == C &&
              weight.is_contiguous() && running_mean.is_contiguous() && running_var.is_contiguous() &&
              weight.scalar_type() == torch::kFloat32 && running_mean.scalar_type() == torch::kFloat32 &&
              running_var.scalar_type() == torch::kFloat32, "bn_stats: parameters must be float32 [C]");
  auto mean = torch::empty({C}, x.options());
  auto invstd = torch::empty({C}, x.options());
  auto scale = torch::empty({C}, x.options());
  auto zeros = torch::zeros({C}, x.options());
  const float* X = x.data_ptr<float>();
  const float* Wt = weight.data_ptr<float>();
  float* RM = running_mean.data_ptr<float>();
  float* RV = running_var.data_ptr<float>();
  float* M = mean.data_ptr<float>();
  float* IS = invstd.data_ptr<float>();
  float* SC = scale.data_ptr<float>();
  const float mom = static_cast<float>(momentum);
  at::parallel_for(0, (C + CB - 1) / CB, 1, [=](int64_t gb, int64_t ge) {
    for (int64_t g = gb; g < ge; ++g) {
      const int64_t c0 = g * CB, nc = std::min(C, c0 + CB) - c0;
      double vs[CB] = {0};
      float m[CB] = {0};
      if (nc == CB) bn_sums<CB>(X, C, c0, NB, S, N, vs, m);
      else bn_sums<0>(X, C, c0, NB, S, N, vs, m, nc);
      for (int64_t k = 0; k < nc; ++k) {
        const int64_t c = c0 + k;
        const float var_sum = vs[k];
        M[c] = m[k];
        const float inv = 1 / std::sqrt(static_cast<double>(var_sum / N) + eps);
        IS[c] = inv;
        SC[c] = inv * Wt[c];
        RM[c] = mom * m[k] + (1 - mom) * RM[c];
        const double unbiased = var_sum / (N - 1);
        RV[c] = mom * unbiased + (1 - mom) * RV[c];
      }
    }
  });
  return {mean, invstd, scale, zeros};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lif_forward", &lif_forward, "LIF scan forward: fills S and V ([T, N]) from the input current");
  m.def("lif_backward", &lif_backward, "LIF scan backward: writes dL/dI, returns [dL/dbeta, dL/dthr]");
  m.def("max_pool2x2_forward", &max_pool2x2_forward, "2x2 max pool of [P, H, W]: the pooled planes and winners");
  m.def("max_pool2x2_backward", &max_pool2x2_backward, "2x2 max pool backward: dL/dx from dL/dout and winners");
  m.def("bn_stats", &bn_stats, "training batch-norm statistics of [N, C, S]; updates the running ones");
}
