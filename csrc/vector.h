#ifndef DARKNET_SOFTMAX_VECTOR_H
#define DARKNET_SOFTMAX_VECTOR_H

/* Internal: float lanes and the few operations the fast kernels need, for
   one instruction set at a time. Define DS_VECTOR_AVX2 before including it
   to get eight lanes of AVX2 + FMA intrinsics, or DS_VECTOR_AVX512 to get
   sixteen of AVX-512 F and DQ (the file must then be compiled for them);
   otherwise eight lanes of portable C: GCC's and Clang's vector extensions,
   four lanes at a time (SSE2 on x86-64, NEON on aarch64), or one float at a
   time with any other compiler. Both give the same exp and log polynomials (exp within 1.7e-7,
   log Cephes' logf, about one ulp). */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vector_kernels.h"

/* AVX-512's vectors hold sixteen floats; the others eight. */
#if defined(DS_VECTOR_AVX512)
#define LANES 16
#else
#define LANES LANES_PER_VECTOR
#endif

/* For kernels that are worth specialising for each small size. */
#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* Asks for the cache line at p to come into the (level 2) cache. A macro:
   GCC takes a function that only prefetches for one without effects, and
   drops its calls. */
#if defined(__GNUC__) || defined(__clang__)
#define prefetch(p) __builtin_prefetch((p), 0, 2)
#else
#define prefetch(p) ((void)(p))
#endif

/* The polynomials, shared by every instruction set. */
#define EXP_LOWEST -87.33654475f /* below this expf is not a normal float */
#define EXP_HIGHEST 88.37626266f
#define EXP_LOG2E 1.44269504088896341f
#define EXP_LN2_HI 0.693359375f
#define EXP_LN2_LO -2.12194440e-4f
/* exp(r) = 1 + r*(C1 + r*(C2 + r*(C3 + r*(C4 + r*C5)))) on |r| <= ln2/2: a
   least-squares fit of the relative error, iterated to near minimax (the
   script is tools/fit_exp.py); 9.1e-8 in exact arithmetic, 1.7e-7 for the
   whole float exp. Cephes' degree 7 is more than float needs. */
#define EXP_C1 0x1.fffff6p-1f
#define EXP_C2 0x1.fffdc6p-2f
#define EXP_C3 0x1.555a6ap-3f
#define EXP_C4 0x1.573a54p-5f
#define EXP_C5 0x1.0fa834p-7f
/* The same form with p of degree 3, for vf_exp_coarse: within 2.8e-6 in
   exact arithmetic (tools/fit_exp.py fits it too). With FMA, ln2 in one
   float (2.7e-9 off) serves its reduction. */
#define EXP_COARSE_C1 0x1.fffba8p-1f
#define EXP_COARSE_C2 0x1.0003f4p-1f
#define EXP_COARSE_C3 0x1.57ceb6p-3f
#define EXP_COARSE_C4 0x1.5414dap-5f
#define EXP_LN2 0.693147180559945309f
/* Adding 1.5 * 2^23 + 127 rounds a float of magnitude below 2^22 to an
   integer n, and leaves n + 127 in the low mantissa bits: shifted up by 23
   they are the bits of 2^n (the magic's own bit shifts out). */
#define ROUND_MAGIC 12583039.0f
#define LOG_SQRTHF 0.707106781186547524f
#define LOG_P0 7.0376836292e-2f
#define LOG_P1 -1.1514610310e-1f
#define LOG_P2 1.1676998740e-1f
#define LOG_P3 -1.2420140846e-1f
#define LOG_P4 1.4249322787e-1f
#define LOG_P5 -1.6668057665e-1f
#define LOG_P6 2.0000714765e-1f
#define LOG_P7 -2.4999993993e-1f
#define LOG_P8 3.3333331174e-1f

#if defined(DS_VECTOR_AVX512)

#include <immintrin.h>

/* The AVX2 code's operations on sixteen lanes, in the same order, so that
   each lane's exp and log are bitwise the AVX2 code's; masks take the place
   of blends and masked loads. */
/* clang-format off */
typedef __m512 vf;
typedef struct { __m512d low, high; } vsum;   /* sixteen sums in double */
/* The intrinsics both instruction sets name alike but for their width. */
#define VF_PS(op) _mm512_##op##_ps
#define VF_PD(op) _mm512_##op##_pd
#define VF_CMP(a, b, predicate) _mm512_cmp_ps_mask(a, b, predicate)

/* The first count (<= 16) lanes. */
static inline __mmask16 lane_mask(size_t count) { return (__mmask16)((1u << count) - 1); }
static inline __mmask16 nonzero(vf v) { return _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ); }
/* clang-format on */

/* The first count (< 16) lanes from p, fill in the others: a masked load
   reads nothing past them. */
static inline vf vf_load_part(const float *p, size_t count, float fill)
{
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lane_mask(count), p);
}

static inline vf vf_load_first(const float *p, size_t count)
{
    return _mm512_maskz_loadu_ps(lane_mask(count), p);
}

static inline void vf_store_part(float *p, vf v, size_t count)
{
    _mm512_mask_storeu_ps(p, lane_mask(count), v);
}

/* Lanes from count on become 0. */
static inline vf vf_keep(vf v, size_t count)
{
    return _mm512_maskz_mov_ps(lane_mask(count), v);
}

/* base[index[l]] in lane l. */
static inline vf vf_gather(const float *base, const int32_t *index)
{
    return _mm512_i32gather_ps(_mm512_loadu_si512(index), base, 4);
}

/* v where c is not 0 (a NaN c counts as not 0), and +0 elsewhere. */
static inline vf vf_where_nonzero(vf c, vf v)
{
    return _mm512_maskz_mov_ps(nonzero(c), v);
}

/* Whether every lane of v is 0, of either sign (a NaN is not 0). */
static inline int vf_all_zero(vf v)
{
    return nonzero(v) == 0;
}

/* Rows become columns: afterwards lane l of r[j] is what was lane j of r[l].
   Pairs of rows interleave, then quads; whole 128-bit quarters move last. */
static ALWAYS_INLINE void vf_transpose(vf *r)
{
    vf t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4q + c], quarter h: column 4h + c of rows 4q to 4q + 3. */
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm512_shuffle_f32x4(u[i], u[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(u[i], u[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(u[i + 8], u[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(u[i + 8], u[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

/* A store that bypasses the cache, a whole line: p is 64-byte aligned. */
enum { STREAM_ALIGNMENT = 64 };
static inline void vf_stream(float *p, vf v)
{
    _mm512_stream_ps(p, v);
}
static inline void stream_fence(void)
{
    _mm_sfence();
}

/* The halves' max, then the AVX2 code's. */
static inline float vf_hmax(vf v)
{
    __m256 h = _mm256_max_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline __m256 high_half(vf v)
{
    return _mm512_extractf32x8_ps(v, 1);
}

static inline vsum vsum_zero(void)
{
    return (vsum){.low = _mm512_setzero_pd(), .high = _mm512_setzero_pd()};
}

static inline vsum vsum_add(vsum s, vf v)
{
    s.low = _mm512_add_pd(s.low, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    s.high = _mm512_add_pd(s.high, _mm512_cvtps_pd(high_half(v)));
    return s;
}

static inline double vsum_total(vsum s)
{
    return _mm512_reduce_add_pd(_mm512_add_pd(s.low, s.high));
}

/* The sixteen sums, lane by lane. */
static inline void vsum_lanes(vsum s, double *out)
{
    _mm512_storeu_pd(out, s.low);
    _mm512_storeu_pd(out + 8, s.high);
}

/* Each sum rounded to float. */
static inline vf vsum_floats(vsum s)
{
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(s.low)),
                              _mm512_cvtpd_ps(s.high), 1);
}

/* What the exp and log below need, as AVX2's section gives it too. */
/* clang-format off */
typedef __mmask16 vmask;
static inline vf vf_select(vmask m, vf yes, vf no) { return _mm512_mask_blend_ps(m, no, yes); }
static inline vf vf_keep_where(vmask m, vf v) { return _mm512_maskz_mov_ps(m, v); }
static inline vf vf_zero_where(vmask m, vf v) { return _mm512_mask_mov_ps(v, m, _mm512_setzero_ps()); }
/* The float whose bits are v's shifted up by 23. */
static inline vf vf_shift_23(vf v) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(v), 23)); }
/* clang-format on */

/* x = m * 2^e, m in [0.5, 1) (of x >= 0, finite): getexp and getmant,
   which take subnormals as they are. */
static inline vf vf_split_exponent(vf x, vf *e)
{
    *e = _mm512_add_ps(_mm512_getexp_ps(x), _mm512_set1_ps(1.0f));
    return _mm512_getmant_ps(x, _MM_MANT_NORM_p5_1, _MM_MANT_SIGN_zero);
}

#elif defined(DS_VECTOR_AVX2)

#include <immintrin.h>

/* clang-format off */
typedef __m256 vf;
typedef struct { __m256d low, high; } vsum;   /* eight sums in double */
/* The intrinsics both instruction sets name alike but for their width. */
#define VF_PS(op) _mm256_##op##_ps
#define VF_PD(op) _mm256_##op##_pd
#define VF_CMP(a, b, predicate) _mm256_cmp_ps(a, b, predicate)
/* clang-format on */

static inline __m256i lane_mask(size_t count)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The first count (< 8) lanes from p, fill in the others. */
static inline vf vf_load_part(const float *p, size_t count, float fill)
{
    __m256i mask = lane_mask(count);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, mask),
                            _mm256_castsi256_ps(mask));
}

/* The first count lanes from p, zeros in the others (cheaper than a fill). */
static inline vf vf_load_first(const float *p, size_t count)
{
    return _mm256_maskload_ps(p, lane_mask(count));
}

static inline void vf_store_part(float *p, vf v, size_t count)
{
    _mm256_maskstore_ps(p, lane_mask(count), v);
}

/* Lanes from count on become 0. */
static inline vf vf_keep(vf v, size_t count)
{
    return _mm256_and_ps(v, _mm256_castsi256_ps(lane_mask(count)));
}

/* base[index[l]] in lane l. */
static inline vf vf_gather(const float *base, const int32_t *index)
{
    return _mm256_i32gather_ps(base, _mm256_loadu_si256((const __m256i *)index), 4);
}

/* v where c is not 0 (a NaN c counts as not 0), and +0 elsewhere. */
static inline vf vf_where_nonzero(vf c, vf v)
{
    return _mm256_and_ps(v, _mm256_cmp_ps(c, _mm256_setzero_ps(), _CMP_NEQ_UQ));
}

/* Whether every lane of v is 0, of either sign (a NaN is not 0). */
static inline int vf_all_zero(vf v)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ)) == 0;
}

/* Rows become columns: afterwards lane l of r[j] is what was lane j of r[l]. */
static ALWAYS_INLINE void vf_transpose(vf *r)
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    /* Halves moved by insert and extract, which cost Zen 1 a quarter of
       what a vperm2f128 does. */
    r[0] = _mm256_insertf128_ps(u0, _mm256_castps256_ps128(u4), 1);
    r[1] = _mm256_insertf128_ps(u1, _mm256_castps256_ps128(u5), 1);
    r[2] = _mm256_insertf128_ps(u2, _mm256_castps256_ps128(u6), 1);
    r[3] = _mm256_insertf128_ps(u3, _mm256_castps256_ps128(u7), 1);
    r[4] = _mm256_insertf128_ps(u4, _mm256_extractf128_ps(u0, 1), 0);
    r[5] = _mm256_insertf128_ps(u5, _mm256_extractf128_ps(u1, 1), 0);
    r[6] = _mm256_insertf128_ps(u6, _mm256_extractf128_ps(u2, 1), 0);
    r[7] = _mm256_insertf128_ps(u7, _mm256_extractf128_ps(u3, 1), 0);
}


/* A store that bypasses the cache, as two halves: p is 16-byte aligned
   (the kernels start at a whole vector's boundary). */
enum { STREAM_ALIGNMENT = 32 };
static inline void vf_stream(float *p, vf v)
{
    _mm_stream_ps(p, _mm256_castps256_ps128(v));
    _mm_stream_ps(p + 4, _mm256_extractf128_ps(v, 1));
}
static inline void stream_fence(void)
{
    _mm_sfence();
}

static inline float vf_hmax(vf v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline vsum vsum_zero(void)
{
    return (vsum){.low = _mm256_setzero_pd(), .high = _mm256_setzero_pd()};
}

static inline vsum vsum_add(vsum s, vf v)
{
    s.low = _mm256_add_pd(s.low, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    s.high = _mm256_add_pd(s.high, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    return s;
}

static inline double vsum_total(vsum s)
{
    __m256d d = _mm256_add_pd(s.low, s.high);
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

/* The eight sums, lane by lane. */
static inline void vsum_lanes(vsum s, double *out)
{
    _mm256_storeu_pd(out, s.low);
    _mm256_storeu_pd(out + 4, s.high);
}

/* Each sum rounded to float. */
static inline vf vsum_floats(vsum s)
{
    __m128 low = _mm256_cvtpd_ps(s.low), high = _mm256_cvtpd_ps(s.high);
    return _mm256_insertf128_ps(_mm256_castps128_ps256(low), high, 1);
}

/* What the exp and log below need, as AVX-512's section gives it too. */
/* clang-format off */
typedef __m256 vmask;
static inline vf vf_select(vmask m, vf yes, vf no) { return _mm256_blendv_ps(no, yes, m); }
static inline vf vf_keep_where(vmask m, vf v) { return _mm256_and_ps(m, v); }
static inline vf vf_zero_where(vmask m, vf v) { return _mm256_andnot_ps(m, v); }
/* The float whose bits are v's shifted up by 23. */
static inline vf vf_shift_23(vf v) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(v), 23)); }
/* clang-format on */

/* x = m * 2^e, m in [0.5, 1) (of x >= 0, finite). Subnormals are scaled up
   by 2^23 first so that their exponent is right. */
static inline vf vf_split_exponent(vf x, vf *e)
{
    vf tiny = _mm256_cmp_ps(x, _mm256_set1_ps(1.17549435e-38f), _CMP_LT_OQ);
    vf scaled = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(8388608.0f)), tiny);
    __m256i bits = _mm256_castps_si256(scaled);
    __m256i exponent = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126));
    *e = _mm256_sub_ps(_mm256_cvtepi32_ps(exponent), _mm256_and_ps(tiny, _mm256_set1_ps(23.0f)));
    return _mm256_castsi256_ps(_mm256_or_si256(
        _mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000)));
}

#endif

#if defined(DS_VECTOR_AVX512) || defined(DS_VECTOR_AVX2)

/* What both instruction sets compute alike, each lane the same operations
   in the same order, so that their results are the same bits. */

/* One-line wrappers, read as a table. */
/* clang-format off */
static inline vf vf_set1(float x) { return VF_PS(set1)(x); }
static inline vf vf_load(const float *p) { return VF_PS(loadu)(p); }
static inline void vf_store(float *p, vf v) { VF_PS(storeu)(p, v); }
static inline vf vf_add(vf a, vf b) { return VF_PS(add)(a, b); }
static inline vf vf_sub(vf a, vf b) { return VF_PS(sub)(a, b); }
static inline vf vf_mul(vf a, vf b) { return VF_PS(mul)(a, b); }
static inline vf vf_div(vf a, vf b) { return VF_PS(div)(a, b); }
/* A NaN in b comes out (maxps returns its second operand on NaN). */
static inline vf vf_max(vf a, vf b) { return VF_PS(max)(a, b); }
static inline vf vf_min(vf a, vf b) { return VF_PS(min)(a, b); }
static inline vf vf_fmadd(vf a, vf b, vf c) { return VF_PS(fmadd)(a, b, c); }
static inline vf vf_fnmadd(vf a, vf b, vf c) { return VF_PS(fnmadd)(a, b, c); }
static inline vmask vf_less(vf a, vf b) { return VF_CMP(a, b, _CMP_LT_OQ); }
static inline vmask vf_greater(vf a, vf b) { return VF_CMP(a, b, _CMP_GT_OQ); }
static inline vmask vf_equal(vf a, vf b) { return VF_CMP(a, b, _CMP_EQ_OQ); }
/* Not a >= b: true where either is NaN. */
static inline vmask vf_not_at_least(vf a, vf b) { return VF_CMP(a, b, _CMP_NGE_UQ); }
/* clang-format on */

/* (float)(1 / sum) in every lane. */
static inline vf vsum_reciprocal(vsum s)
{
    return vsum_floats((vsum){.low = VF_PD(div)(VF_PD(set1)(1.0), s.low),
                              .high = VF_PD(div)(VF_PD(set1)(1.0), s.high)});
}

/* d - q*t, exactly (q = d/t rounded; the FMA rounds once, and the result is exact). */
static inline vf vf_remainder(vf d, vf q, vf t)
{
    return vf_fnmadd(q, t, d);
}

/* exp(x + correction), where correction is far below an ulp of x: it goes
   into the reduced argument, where it counts. With nonpositive (x <= 0 or
   NaN, as in a softmax), four instructions fewer: below EXP_LOWEST the
   unclamped 2^n is garbage, but the result there is replaced by 0 anyway. */
static inline vf exp_lanes(vf x, vf correction, int corrected, int nonpositive)
{
    /* max and min put x second, so a NaN passes through to the result. */
    vf clamped = nonpositive ? x : vf_min(vf_set1(EXP_HIGHEST), vf_max(vf_set1(EXP_LOWEST), x));
    vf rounded = vf_fmadd(clamped, vf_set1(EXP_LOG2E), vf_set1(ROUND_MAGIC));
    vf n = vf_sub(rounded, vf_set1(ROUND_MAGIC));
    vf r = vf_fnmadd(n, vf_set1(EXP_LN2_HI), clamped);
    r = vf_fnmadd(n, vf_set1(EXP_LN2_LO), r);
    if (corrected) r = vf_add(r, correction);
    vf p = vf_fmadd(vf_set1(EXP_C5), r, vf_set1(EXP_C4));
    p = vf_fmadd(p, r, vf_set1(EXP_C3));
    p = vf_fmadd(p, r, vf_set1(EXP_C2));
    p = vf_fmadd(p, r, vf_set1(EXP_C1));
    vf scale = vf_shift_23(rounded);
    vf result = vf_fmadd(vf_mul(r, scale), p, scale);
    result = vf_zero_where(vf_less(x, vf_set1(EXP_LOWEST)), result);
    if (nonpositive) return result;
    return vf_select(vf_greater(x, vf_set1(EXP_HIGHEST)), vf_set1(INFINITY), result);
}

static inline vf vf_exp(vf x)
{
    return exp_lanes(x, x, 0, 0);
}
/* exp(x) and exp(x + correction) for x <= 0 or NaN. */
static inline vf vf_exp_nonpositive(vf x)
{
    return exp_lanes(x, x, 0, 1);
}
static inline vf vf_exp_nonpositive_corrected(vf x, vf correction)
{
    return exp_lanes(x, correction, 1, 1);
}

/* exp(x) for x <= 0 or NaN within 3.2e-6, in 11 operations where vf_exp
   takes 14: for a sum of exps that holds exp(0) = 1 (which it gives
   exactly) and of which only the log is kept, as log_softmax keeps it.
   Below EXP_LOWEST it gives 2^-126 in place of 0, which such a sum cannot
   tell apart. */
static inline vf vf_exp_coarse(vf x)
{
    /* max puts x second, so a NaN passes through. */
    vf clamped = vf_max(vf_set1(EXP_LOWEST), x);
    vf rounded = vf_fmadd(clamped, vf_set1(EXP_LOG2E), vf_set1(ROUND_MAGIC));
    vf n = vf_sub(rounded, vf_set1(ROUND_MAGIC));
    vf r = vf_fnmadd(n, vf_set1(EXP_LN2), clamped);
    vf p = vf_fmadd(vf_set1(EXP_COARSE_C4), r, vf_set1(EXP_COARSE_C3));
    p = vf_fmadd(p, r, vf_set1(EXP_COARSE_C2));
    p = vf_fmadd(p, r, vf_set1(EXP_COARSE_C1));
    vf scale = vf_shift_23(rounded);
    return vf_fmadd(vf_mul(r, scale), p, scale);
}

static inline vf vf_log(vf x)
{
    vf e, m = vf_split_exponent(x, &e);
    vmask below = vf_less(m, vf_set1(LOG_SQRTHF));
    e = vf_sub(e, vf_keep_where(below, vf_set1(1.0f)));
    m = vf_sub(vf_add(m, vf_keep_where(below, m)), vf_set1(1.0f));
    vf z = vf_mul(m, m);
    vf y = vf_fmadd(vf_set1(LOG_P0), m, vf_set1(LOG_P1));
    y = vf_fmadd(y, m, vf_set1(LOG_P2));
    y = vf_fmadd(y, m, vf_set1(LOG_P3));
    y = vf_fmadd(y, m, vf_set1(LOG_P4));
    y = vf_fmadd(y, m, vf_set1(LOG_P5));
    y = vf_fmadd(y, m, vf_set1(LOG_P6));
    y = vf_fmadd(y, m, vf_set1(LOG_P7));
    y = vf_fmadd(y, m, vf_set1(LOG_P8));
    y = vf_mul(vf_mul(y, m), z);
    y = vf_fmadd(e, vf_set1(EXP_LN2_LO), y);
    y = vf_fnmadd(vf_set1(0.5f), z, y);
    vf result = vf_fmadd(e, vf_set1(EXP_LN2_HI), vf_add(m, y));
    /* log(0) = -inf, log(inf) = inf, log(x < 0) = log(NaN) = NaN. */
    vf zero = vf_set1(0);
    result = vf_select(vf_equal(x, zero), vf_set1(-INFINITY), result);
    result = vf_select(vf_equal(x, vf_set1(INFINITY)), x, result);
    return vf_select(vf_not_at_least(x, zero), vf_set1(NAN), result);
}

#else /* portable C */

/* A vf is PARTS parts: with GCC's and Clang's vector extensions a part is
   four lanes, which SSE2 and NEON registers hold natively; with any other
   compiler a part is one float. The operators +, -, *, / and the
   comparisons work on both, so the code below is written once; a
   comparison's MASK is all ones or all zeros in each lane. */
#if defined(__GNUC__) || defined(__clang__)
#define PARTS 2
typedef float part __attribute__((vector_size(16)));
typedef uint32_t part_bits __attribute__((vector_size(16)));
typedef double double_part __attribute__((vector_size(16))); /* two lanes */
#define MASK(comparison) ((part_bits)(comparison))
#if defined(__SSE__)
#include <xmmintrin.h> /* for vf_max alone */
#endif
/* clang-format off */
static ALWAYS_INLINE part_bits as_bits(part x) { return (part_bits)x; }
static ALWAYS_INLINE part as_part(part_bits b) { return (part)b; }
/* clang-format on */
static ALWAYS_INLINE void widen(part x, double_part *out)
{
    out[0] = (double_part){x[0], x[1]};
    out[1] = (double_part){x[2], x[3]};
}
#else
#define PARTS LANES
typedef float part;
typedef uint32_t part_bits;
typedef double double_part;
#define MASK(comparison) (-(part_bits)(comparison))
/* clang-format off */
static inline part_bits as_bits(part x) { part_bits b; memcpy(&b, &x, 4); return b; }
static inline part as_part(part_bits b) { part x; memcpy(&x, &b, 4); return x; }
static inline void widen(part x, double_part *out) { *out = x; }
/* clang-format on */
#endif
#define DOUBLE_PARTS (LANES * sizeof(double) / sizeof(double_part))

typedef struct {
    part p[PARTS];
} vf;
typedef struct {
    double_part p[DOUBLE_PARTS];
} vsum;

/* One-line wrappers, read as a table. */
/* clang-format off */
#define PARTWISE(expression) \
    vf r; for (int k = 0; k < PARTS; ++k) r.p[k] = (expression); return r

static ALWAYS_INLINE part splat(float x) { return (part){0} + x; }
static ALWAYS_INLINE part load_part(const float *p) { part x; memcpy(&x, p, sizeof x); return x; }
static ALWAYS_INLINE part select_lanes(part_bits mask, part yes, part no)
{
    return as_part((mask & as_bits(yes)) | (~mask & as_bits(no)));
}
static ALWAYS_INLINE vf vf_set1(float x) { PARTWISE(splat(x)); }
/* Part by part: a copy of the whole vf would go through the stack. */
static ALWAYS_INLINE vf vf_load(const float *p) { PARTWISE(load_part(p + k * (LANES / PARTS))); }
static ALWAYS_INLINE void vf_store(float *p, vf v)
{
    for (int k = 0; k < PARTS; ++k) memcpy(p + k * (LANES / PARTS), &v.p[k], sizeof(part));
}
static ALWAYS_INLINE vf vf_add(vf a, vf b) { PARTWISE(a.p[k] + b.p[k]); }
static ALWAYS_INLINE vf vf_sub(vf a, vf b) { PARTWISE(a.p[k] - b.p[k]); }
static ALWAYS_INLINE vf vf_mul(vf a, vf b) { PARTWISE(a.p[k] * b.p[k]); }
static ALWAYS_INLINE vf vf_div(vf a, vf b) { PARTWISE(a.p[k] / b.p[k]); }
/* A NaN in b comes out, as from AVX2's max (and SSE's, which compilers do
   not see in the select). */
#if defined(__SSE__) && PARTS == 2
static ALWAYS_INLINE vf vf_max(vf a, vf b) { PARTWISE(_mm_max_ps(a.p[k], b.p[k])); }
#else
static ALWAYS_INLINE vf vf_max(vf a, vf b) { PARTWISE(select_lanes(MASK(a.p[k] > b.p[k]), a.p[k], b.p[k])); }
#endif
/* v where c is not 0 (a NaN c counts as not 0), and +0 elsewhere. */
static ALWAYS_INLINE vf vf_where_nonzero(vf c, vf v) { PARTWISE(as_part(MASK(c.p[k] != 0) & as_bits(v.p[k]))); }
/* clang-format on */

/* The lane-by-lane operations go through an array of the lanes. */
static inline int vf_all_zero(vf v)
{
    float lanes[LANES];
    vf_store(lanes, v);
    for (size_t l = 0; l < LANES; ++l) {
        if (lanes[l] != 0) return 0;
    }
    return 1;
}
static inline vf vf_load_part(const float *p, size_t count, float fill)
{
    float lanes[LANES];
    for (size_t l = 0; l < LANES; ++l) lanes[l] = l < count ? p[l] : fill;
    return vf_load(lanes);
}
static inline vf vf_load_first(const float *p, size_t count)
{
    return vf_load_part(p, count, 0);
}
static inline void vf_store_part(float *p, vf v, size_t count)
{
    memcpy(p, &v, count * sizeof(float));
}
static inline vf vf_keep(vf v, size_t count)
{
    float lanes[LANES];
    vf_store(lanes, v);
    for (size_t l = count; l < LANES; ++l) lanes[l] = 0;
    return vf_load(lanes);
}
static inline vf vf_gather(const float *base, const int32_t *index)
{
    float lanes[LANES];
    for (size_t l = 0; l < LANES; ++l) lanes[l] = base[index[l]];
    return vf_load(lanes);
}
static inline void vf_transpose(vf *r)
{
    float m[LANES][LANES];
    for (size_t i = 0; i < LANES; ++i) vf_store(m[i], r[i]);
    for (size_t i = 0; i < LANES; ++i) {
        float column[LANES];
        for (size_t j = 0; j < LANES; ++j) column[j] = m[j][i];
        r[i] = vf_load(column);
    }
}
enum { STREAM_ALIGNMENT = 32 };
static inline void vf_stream(float *p, vf v)
{
    vf_store(p, v);
}
static inline void stream_fence(void) {}

static inline float vf_hmax(vf v)
{
    float lanes[LANES];
    vf_store(lanes, v);
    float m = lanes[0];
    for (size_t l = 1; l < LANES; ++l) m = lanes[l] > m ? lanes[l] : m;
    return m;
}

/* Without an FMA, double holds q*t and the difference exactly. */
static inline vf vf_remainder(vf d, vf q, vf t)
{
    float dl[LANES], ql[LANES], tl[LANES];
    vf_store(dl, d);
    vf_store(ql, q);
    vf_store(tl, t);
    for (size_t l = 0; l < LANES; ++l) dl[l] = (float)((double)dl[l] - (double)ql[l] * tl[l]);
    return vf_load(dl);
}

/* The AVX2 code's exp and log on one part, without branches; with
   nonpositive (x <= 0 or NaN), the clamps go, as there. */
static ALWAYS_INLINE part exp_part(part x, part correction, int corrected, int nonpositive)
{
    /* The selects keep x where a comparison with NaN is false. */
    part clamped = x;
    if (!nonpositive) {
        clamped = select_lanes(MASK(x < EXP_LOWEST), splat(EXP_LOWEST), x);
        clamped = select_lanes(MASK(clamped > EXP_HIGHEST), splat(EXP_HIGHEST), clamped);
    }
    part rounded = clamped * EXP_LOG2E + ROUND_MAGIC;
    part n = rounded - ROUND_MAGIC;
    part r = (clamped - n * EXP_LN2_HI) - n * EXP_LN2_LO;
    if (corrected) r = r + correction;
    part p = (((EXP_C5 * r + EXP_C4) * r + EXP_C3) * r + EXP_C2) * r + EXP_C1;
    part scale = as_part(as_bits(rounded) << 23);
    part result = (r * scale) * p + scale;
    result = as_part(~MASK(x < EXP_LOWEST) & as_bits(result));
    if (nonpositive) return result;
    return select_lanes(MASK(x > EXP_HIGHEST), splat(INFINITY), result);
}

/* The AVX2 code's vf_exp_coarse on one part. Without an FMA, n*EXP_LN2
   is rounded, which adds up to 6e-8*|x| to the relative error: most where
   the exp is least (exp(x)*|x| <= 0.37), so that a sum that holds exp(0)
   moves by a few 1e-7 more at most. */
static ALWAYS_INLINE part exp_coarse_part(part x)
{
    part clamped = select_lanes(MASK(x < EXP_LOWEST), splat(EXP_LOWEST), x);
    part rounded = clamped * EXP_LOG2E + ROUND_MAGIC;
    part n = rounded - ROUND_MAGIC;
    part r = clamped - n * EXP_LN2;
    part p = ((EXP_COARSE_C4 * r + EXP_COARSE_C3) * r + EXP_COARSE_C2) * r + EXP_COARSE_C1;
    part scale = as_part(as_bits(rounded) << 23);
    return (r * scale) * p + scale;
}

static ALWAYS_INLINE part log_part(part x)
{
    /* Subnormals are scaled up by 2^23 first so their exponent is right. */
    part_bits tiny = MASK(x < 1.17549435e-38f);
    part_bits bits = as_bits(select_lanes(tiny, x * 8388608.0f, x));
    /* The exponent field, at most 511 with the sign, made a float by putting
       it under the mantissa of 2^23. */
    part e = as_part((bits >> 23) | as_bits(splat(8388608.0f))) - (8388608.0f + 126.0f);
    e = e - as_part(tiny & as_bits(splat(23.0f)));
    /* The mantissa as a float in [0.5, 1). */
    part m = as_part((bits & 0x007fffffu) | 0x3f000000u);
    part_bits below = MASK(m < LOG_SQRTHF);
    e = e - as_part(below & as_bits(splat(1.0f)));
    m = (m + as_part(below & as_bits(m))) - 1.0f;
    part z = m * m;
    /* Horner's rule, broken where it reads best. */
    /* clang-format off */
    part y = (((((((LOG_P0 * m + LOG_P1) * m + LOG_P2) * m + LOG_P3) * m + LOG_P4) * m
                + LOG_P5) * m + LOG_P6) * m + LOG_P7) * m + LOG_P8;
    /* clang-format on */
    y = y * m * z;
    y = y + e * EXP_LN2_LO;
    y = y - 0.5f * z;
    part result = (m + y) + e * EXP_LN2_HI;
    /* log(0) = -inf, log(inf) = inf, log(x < 0) = log(NaN) = NaN. */
    result = select_lanes(MASK(x == 0), splat(-INFINITY), result);
    result = select_lanes(MASK(x == INFINITY), x, result);
    return select_lanes(~MASK(x >= 0), splat(NAN), result);
}

/* clang-format off */
static ALWAYS_INLINE vf vf_exp(vf x) { PARTWISE(exp_part(x.p[k], x.p[k], 0, 0)); }
/* exp(x) and exp(x + correction) for x <= 0 or NaN. */
static ALWAYS_INLINE vf vf_exp_nonpositive(vf x) { PARTWISE(exp_part(x.p[k], x.p[k], 0, 1)); }
static ALWAYS_INLINE vf vf_exp_nonpositive_corrected(vf x, vf correction)
{
    PARTWISE(exp_part(x.p[k], correction.p[k], 1, 1));
}
static ALWAYS_INLINE vf vf_exp_coarse(vf x) { PARTWISE(exp_coarse_part(x.p[k])); }
static ALWAYS_INLINE vf vf_log(vf x) { PARTWISE(log_part(x.p[k])); }
/* clang-format on */

static inline vsum vsum_zero(void)
{
    vsum s;
    for (size_t k = 0; k < DOUBLE_PARTS; ++k) s.p[k] = (double_part){0};
    return s;
}

static ALWAYS_INLINE vsum vsum_add(vsum s, vf v)
{
    double_part wide[DOUBLE_PARTS];
    for (int k = 0; k < PARTS; ++k) widen(v.p[k], wide + k * (DOUBLE_PARTS / PARTS));
    for (size_t k = 0; k < DOUBLE_PARTS; ++k) s.p[k] = s.p[k] + wide[k];
    return s;
}

static inline void vsum_lanes(vsum s, double *out)
{
    memcpy(out, &s, sizeof s);
}

static inline double vsum_total(vsum s)
{
    double lanes[LANES], total = 0;
    vsum_lanes(s, lanes);
    for (int l = 0; l < LANES; ++l) total += lanes[l];
    return total;
}

static inline vf vsum_floats(vsum s)
{
    double lanes[LANES];
    float floats[LANES];
    vsum_lanes(s, lanes);
    for (int l = 0; l < LANES; ++l) floats[l] = (float)lanes[l];
    return vf_load(floats);
}

static inline vf vsum_reciprocal(vsum s)
{
    for (size_t k = 0; k < DOUBLE_PARTS; ++k) s.p[k] = 1.0 / s.p[k];
    return vsum_floats(s);
}

#undef PARTWISE

#endif

/* Each lane's sum as a float, and in *low the float remainder its rounding
   dropped: the sum less the float, which a double holds exactly. */
static inline vf vsum_split(vsum s, vf *low)
{
    vf high = vsum_floats(s);
    *low = vsum_floats(vsum_add(s, vf_sub(vf_set1(0.0f), high)));
    return high;
}

#endif
