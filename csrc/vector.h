#ifndef DARKNET_SOFTMAX_VECTOR_H
#define DARKNET_SOFTMAX_VECTOR_H

/* Internal: eight float lanes and the few operations the fast kernels need,
   for one instruction set at a time. Define DS_VECTOR_AVX2 before including
   it to get AVX2 + FMA intrinsics (the file must then be compiled for them);
   otherwise the lanes are plain C loops that any C compiler takes and most
   vectorise. Both give the same exp and log polynomials (exp within 1.7e-7,
   log Cephes' logf, about one ulp). */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vector_kernels.h"

#define LANES LANES_PER_VECTOR

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

#if defined(DS_VECTOR_AVX2)

#include <immintrin.h>

/* One-line wrappers, read as a table. */
/* clang-format off */
typedef __m256 vf;
typedef struct { __m256d low, high; } vsum;   /* eight sums in double */

static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
/* A NaN in b comes out (maxps returns its second operand on NaN). */
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
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

/* Rows become columns: afterwards lane l of r[j] is what was lane j of r[l]. */
static inline void vf_transpose(vf *r)
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}


/* A store that bypasses the cache; p is 32-byte aligned. */
static inline void vf_stream(float *p, vf v)
{
    _mm256_stream_ps(p, v);
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

/* (float)(1 / sum) in every lane. */
static inline vf vsum_reciprocal(vsum s)
{
    __m256d one = _mm256_set1_pd(1.0);
    __m128 low = _mm256_cvtpd_ps(_mm256_div_pd(one, s.low));
    __m128 high = _mm256_cvtpd_ps(_mm256_div_pd(one, s.high));
    return _mm256_insertf128_ps(_mm256_castps128_ps256(low), high, 1);
}

/* d - q*t, exactly (q = d/t rounded; the FMA rounds once, and the result is exact). */
static inline vf vf_remainder(vf d, vf q, vf t)
{
    return _mm256_fnmadd_ps(q, t, d);
}

/* exp(x + correction), where correction is far below an ulp of x: it goes
   into the reduced argument, where it counts. With nonpositive (x <= 0 or
   NaN, as in a softmax), four instructions fewer: below EXP_LOWEST the
   unclamped 2^n is garbage, but the result there is replaced by 0 anyway. */
static inline vf exp_lanes(vf x, vf correction, int corrected, int nonpositive)
{
    /* max and min put x second, so a NaN passes through to the result. */
    vf clamped = nonpositive ? x
                             : _mm256_min_ps(_mm256_set1_ps(EXP_HIGHEST),
                                             _mm256_max_ps(_mm256_set1_ps(EXP_LOWEST), x));
    vf rounded = _mm256_fmadd_ps(clamped, _mm256_set1_ps(EXP_LOG2E), _mm256_set1_ps(ROUND_MAGIC));
    vf n = _mm256_sub_ps(rounded, _mm256_set1_ps(ROUND_MAGIC));
    vf r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_HI), clamped);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_LO), r);
    if (corrected) r = _mm256_add_ps(r, correction);
    vf p = _mm256_fmadd_ps(_mm256_set1_ps(EXP_C5), r, _mm256_set1_ps(EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_C1));
    vf scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(rounded), 23));
    vf result = _mm256_fmadd_ps(_mm256_mul_ps(r, scale), p, scale);
    result = _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(EXP_LOWEST), _CMP_LT_OQ), result);
    if (nonpositive) return result;
    return _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY),
                            _mm256_cmp_ps(x, _mm256_set1_ps(EXP_HIGHEST), _CMP_GT_OQ));
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

static inline vf vf_log(vf x)
{
    /* Subnormals are scaled up by 2^23 first so their exponent is right. */
    vf tiny = _mm256_cmp_ps(x, _mm256_set1_ps(1.17549435e-38f), _CMP_LT_OQ);
    vf scaled = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(8388608.0f)), tiny);
    __m256i bits = _mm256_castps_si256(scaled);
    __m256i exponent = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126));
    vf e = _mm256_sub_ps(_mm256_cvtepi32_ps(exponent), _mm256_and_ps(tiny, _mm256_set1_ps(23.0f)));
    /* The mantissa as a float in [0.5, 1). */
    vf m = _mm256_castsi256_ps(_mm256_or_si256(
        _mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000)));
    vf below = _mm256_cmp_ps(m, _mm256_set1_ps(LOG_SQRTHF), _CMP_LT_OQ);
    e = _mm256_sub_ps(e, _mm256_and_ps(below, _mm256_set1_ps(1.0f)));
    m = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(below, m)), _mm256_set1_ps(1.0f));
    vf z = _mm256_mul_ps(m, m);
    vf y = _mm256_fmadd_ps(_mm256_set1_ps(LOG_P0), m, _mm256_set1_ps(LOG_P1));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(LOG_P2));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(LOG_P3));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(LOG_P4));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(LOG_P5));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(LOG_P6));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(LOG_P7));
    y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(LOG_P8));
    y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(EXP_LN2_LO), y);
    y = _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), z, y);
    vf result = _mm256_fmadd_ps(e, _mm256_set1_ps(EXP_LN2_HI), _mm256_add_ps(m, y));
    /* log(0) = -inf, log(inf) = inf, log(x < 0) = log(NaN) = NaN. */
    result = _mm256_blendv_ps(result, _mm256_set1_ps(-INFINITY),
                              _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ));
    result = _mm256_blendv_ps(result, x, _mm256_cmp_ps(x, _mm256_set1_ps(INFINITY), _CMP_EQ_OQ));
    return _mm256_blendv_ps(result, _mm256_set1_ps(NAN),
                            _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NGE_UQ));
}

#else /* portable C */

/* One-line wrappers, read as a table. */
/* clang-format off */
typedef struct { float lane[LANES]; } vf;
typedef struct { double lane[LANES]; } vsum;

static inline uint32_t float_bits(float x) { uint32_t b; memcpy(&b, &x, 4); return b; }
static inline float bits_float(uint32_t b) { float x; memcpy(&x, &b, 4); return x; }
/* clang-format on */

/* The scalar polynomials that the lanes apply, without branches, so that
   compilers can vectorise the lane loops. Clamps and selects leave a NaN x
   as it is; 2^n is built from the rounding's bits, as in the AVX2 code. */
static inline float exp_poly(float x, float correction)
{
    float clamped = x < EXP_LOWEST ? EXP_LOWEST : x > EXP_HIGHEST ? EXP_HIGHEST : x;
    float rounded = clamped * EXP_LOG2E + ROUND_MAGIC;
    float n = rounded - ROUND_MAGIC;
    float r = clamped - n * EXP_LN2_HI;
    r = r - n * EXP_LN2_LO + correction;
    float p = (((EXP_C5 * r + EXP_C4) * r + EXP_C3) * r + EXP_C2) * r + EXP_C1;
    float scale = bits_float(float_bits(rounded) << 23);
    float result = (r * scale) * p + scale;
    result = x < EXP_LOWEST ? 0.0f : result;
    return x > EXP_HIGHEST ? INFINITY : result;
}

static inline float log_poly(float x)
{
    if (x != x || x < 0) return NAN;
    if (x == 0) return -INFINITY;
    if (x == INFINITY) return x;
    float e = 0;
    if (x < 1.17549435e-38f) {
        x *= 8388608.0f;
        e = -23;
    }
    uint32_t bits = float_bits(x);
    e += (float)((int32_t)(bits >> 23) - 126);
    float m = bits_float((bits & 0x007fffffu) | 0x3f000000u);
    if (m < LOG_SQRTHF) {
        e -= 1;
        m = m + m - 1.0f;
    } else {
        m = m - 1.0f;
    }
    float z = m * m;
    /* Horner's rule, broken where it reads best. */
    /* clang-format off */
    float y = (((((((LOG_P0 * m + LOG_P1) * m + LOG_P2) * m + LOG_P3) * m + LOG_P4) * m
                 + LOG_P5) * m + LOG_P6) * m + LOG_P7) * m + LOG_P8;
    /* clang-format on */
    y = y * m * z;
    y += e * EXP_LN2_LO;
    y -= 0.5f * z;
    return m + y + e * EXP_LN2_HI;
}

/* One-line wrappers, read as a table. */
/* clang-format off */
#define LANEWISE(expression) \
    vf r; for (int l = 0; l < LANES; ++l) r.lane[l] = (expression); return r

static inline vf vf_set1(float x) { LANEWISE(x); }
static inline vf vf_load(const float *p) { LANEWISE(p[l]); }
static inline void vf_store(float *p, vf v) { for (int l = 0; l < LANES; ++l) p[l] = v.lane[l]; }
static inline vf vf_add(vf a, vf b) { LANEWISE(a.lane[l] + b.lane[l]); }
static inline vf vf_sub(vf a, vf b) { LANEWISE(a.lane[l] - b.lane[l]); }
static inline vf vf_mul(vf a, vf b) { LANEWISE(a.lane[l] * b.lane[l]); }
static inline vf vf_div(vf a, vf b) { LANEWISE(a.lane[l] / b.lane[l]); }
static inline vf vf_max(vf a, vf b) { LANEWISE(a.lane[l] > b.lane[l] ? a.lane[l] : b.lane[l]); }
static inline vf vf_load_part(const float *p, size_t count, float fill)
{
    LANEWISE((size_t)l < count ? p[l] : fill);
}
static inline vf vf_load_first(const float *p, size_t count) { return vf_load_part(p, count, 0); }
static inline void vf_store_part(float *p, vf v, size_t count)
{
    for (size_t l = 0; l < count; ++l) p[l] = v.lane[l];
}
static inline vf vf_keep(vf v, size_t count) { LANEWISE((size_t)l < count ? v.lane[l] : 0.0f); }
static inline vf vf_gather(const float *base, const int32_t *index) { LANEWISE(base[index[l]]); }
static inline vf vf_where_nonzero(vf c, vf v) { LANEWISE(c.lane[l] != 0 ? v.lane[l] : 0.0f); }
/* clang-format on */
static inline void vf_transpose(vf *r)
{
    for (int i = 0; i < LANES; ++i) {
        for (int j = i + 1; j < LANES; ++j) {
            float t = r[i].lane[j];
            r[i].lane[j] = r[j].lane[i];
            r[j].lane[i] = t;
        }
    }
}
static inline void vf_stream(float *p, vf v)
{
    vf_store(p, v);
}
static inline void stream_fence(void) {}
#if defined(__GNUC__) || defined(__clang__)
/* GCC's and Clang's vector extensions: exp_poly on all lanes at once, in
   whatever vectors the target has (SSE2, NEON...). Compilers do not
   vectorise the lane loop by themselves, and exp is where the time goes. */
typedef float vector8f __attribute__((vector_size(4 * LANES)));
typedef uint32_t vector8u __attribute__((vector_size(4 * LANES)));

/* A macro, not a function: passing 32-byte vectors by value warns (-Wpsabi). */
#define select_bits(mask, yes, no) (((mask) & (yes)) | (~(mask) & (no)))

static inline vf exp_lanes(vf input, vf correction_input)
{
    vector8f x, correction;
    memcpy(&x, input.lane, sizeof x);
    memcpy(&correction, correction_input.lane, sizeof correction);
    vector8f zero = {0}, lowest = zero + EXP_LOWEST, highest = zero + EXP_HIGHEST;
    vector8u below = (vector8u)(x < lowest), above = (vector8u)(x > highest);
    vector8f clamped = (vector8f)select_bits(below, (vector8u)lowest,
                                             select_bits(above, (vector8u)highest, (vector8u)x));
    vector8f rounded = clamped * EXP_LOG2E + ROUND_MAGIC;
    vector8f n = rounded - ROUND_MAGIC;
    vector8f r = clamped - n * EXP_LN2_HI;
    r = r - n * EXP_LN2_LO + correction;
    vector8f p = (((EXP_C5 * r + EXP_C4) * r + EXP_C3) * r + EXP_C2) * r + EXP_C1;
    vector8f scale = (vector8f)((vector8u)rounded << 23);
    vector8f result = (r * scale) * p + scale;
    result = (vector8f)(~below & (vector8u)result);
    result = (vector8f)select_bits(above, (vector8u)(zero + INFINITY), (vector8u)result);
    vf out;
    memcpy(out.lane, &result, sizeof result);
    return out;
}

static inline vf vf_exp(vf x)
{
    return exp_lanes(x, vf_set1(0));
}
static inline vf vf_exp_nonpositive_corrected(vf x, vf correction)
{
    return exp_lanes(x, correction);
}
#else
static inline vf vf_exp(vf x)
{
    LANEWISE(exp_poly(x.lane[l], 0));
}
static inline vf vf_exp_nonpositive_corrected(vf x, vf correction)
{
    LANEWISE(exp_poly(x.lane[l], correction.lane[l]));
}
#endif
static inline vf vf_exp_nonpositive(vf x)
{
    return vf_exp(x);
}
/* Without an FMA, double holds q*t and the difference exactly. */
static inline vf vf_remainder(vf d, vf q, vf t)
{
    LANEWISE((float)((double)d.lane[l] - (double)q.lane[l] * t.lane[l]));
}
static inline vf vf_log(vf x)
{
    LANEWISE(log_poly(x.lane[l]));
}

static inline float vf_hmax(vf v)
{
    float m = v.lane[0];
    for (int l = 1; l < LANES; ++l) m = v.lane[l] > m ? v.lane[l] : m;
    return m;
}

static inline vsum vsum_zero(void)
{
    vsum s;
    for (int l = 0; l < LANES; ++l) s.lane[l] = 0;
    return s;
}

static inline vsum vsum_add(vsum s, vf v)
{
    for (int l = 0; l < LANES; ++l) s.lane[l] += v.lane[l];
    return s;
}

static inline double vsum_total(vsum s)
{
    double total = 0;
    for (int l = 0; l < LANES; ++l) total += s.lane[l];
    return total;
}

static inline void vsum_lanes(vsum s, double *out)
{
    for (int l = 0; l < LANES; ++l) out[l] = s.lane[l];
}

static inline vf vsum_reciprocal(vsum s)
{
    LANEWISE((float)(1.0 / s.lane[l]));
}

#undef LANEWISE

#endif
#endif
