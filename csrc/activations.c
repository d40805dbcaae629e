#include <math.h>

#include "activations.h"
#include "status.h"

static int known(ACTIVATION a)
{
    return (unsigned)a <= (unsigned)SELU;
}

/* Each activation is Darknet's formula (src/activations.h), with Darknet's
   arithmetic: where its constants are doubles (.01, 1.0507, exp), the value
   is computed in double and rounded to float on return, as there. Darknet's
   formulas are kept where they misbehave: x*(x > 0) and (x >= 0)*x give
   NaN at -inf (0*-inf) for relu, ramp, elu and selu, and elu and selu give
   NaN above x = 709.78, where exp(x) overflows and (x < 0)*(exp(x) - 1) is
   0*inf. The exceptions: logistic and leaky keep this project's float forms
   (expf, .1f), which differ from Darknet's double ones by rounding only;
   and tanh (below). */

/* Darknet's tanh is (exp(2x) - 1)/(exp(2x) + 1) in double, which is inf/inf
   = NaN above x = 354.9 (where exp(2x) overflows a double); tanhf gives the
   same values without the overflow, so this project keeps it. */
static float tanh_activate(float x)
{
    return tanhf(x);
}

/* Darknet: n = (int)floor(x); for even n, floor(x/2), for odd n, (x - n) +
   floor(x/2): slope 1 on [n, n+1) for odd n, flat for even n. Where the int
   conversion overflows (|x| >= 2^31, inf, NaN) C leaves it undefined; x86
   gives INT_MIN, which is even, so those take the even branch here. */
static float stair_activate(float x)
{
    double n = floor(x);
    int odd = fabs(n) < 2147483648.0 && fmod(n, 2) != 0;
    return odd ? (x - n) + floor(x / 2.) : floor(x / 2.);
}

static float plse_activate(float x)
{
    if (x < -4) return .01 * (x + 4);
    if (x > 4) return .01 * (x - 4) + 1;
    return .125 * x + .5;
}

static float hardtan_activate(float x)
{
    if (x < -1) return -1;
    if (x > 1) return 1;
    return x;
}

static float lhtan_activate(float x)
{
    if (x < 0) return .001 * x;
    if (x > 1) return .001 * (x - 1) + 1;
    return x;
}

static float activate(float x, ACTIVATION a)
{
    switch (a) {
    case LOGISTIC: return 1.f / (1.f + expf(-x));
    case RELU: return x * (x > 0);
    case RELIE: return x > 0 ? x : .01 * x;
    case RAMP: return x * (x > 0) + .1 * x;
    case TANH: return tanh_activate(x);
    case PLSE: return plse_activate(x);
    case LEAKY: return x > 0 ? x : .1f * x;
    case ELU: return (x >= 0) * x + (x < 0) * (exp(x) - 1);
    case LOGGY: return 2. / (1. + exp(-x)) - 1;
    case STAIR: return stair_activate(x);
    case HARDTAN: return hardtan_activate(x);
    case LHTAN: return lhtan_activate(x);
    case SELU: return (x >= 0) * 1.0507 * x + (x < 0) * 1.0507 * 1.6732 * (exp(x) - 1);
    default: return x;
    }
}

/* Darknet's gradients, each in terms of the output y = f(x). Away from the
   kinks each is the true derivative (elu's y + 1 is e^x, selu's y +
   1.0507*1.6732 is 1.0507*1.6732*e^x, loggy's 2(1 - t)t with t = (y + 1)/2
   is 2*logistic'(x)); at a kink each takes Darknet's side: relu 0, relie
   .01, ramp .1 and leaky .1 at y = 0; plse .125 at y = 0 and 1; hardtan 0
   at y = +-1; lhtan .001 at y = 0 and 1; and stair 0 wherever y is a whole
   number, which is every kink of stair (x a whole number). */
static float gradient(float y, ACTIVATION a)
{
    switch (a) {
    case LOGISTIC: return (1 - y) * y;
    case RELU: return y > 0;
    case RELIE: return y > 0 ? 1 : .01;
    case RAMP: return (y > 0) + .1;
    case TANH: return 1 - y * y;
    case PLSE: return (y < 0 || y > 1) ? .01 : .125;
    case LEAKY: return y > 0 ? 1 : .1f;
    case ELU: return (y >= 0) + (y < 0) * (y + 1);
    case LOGGY: {
        float t = (y + 1.) / 2.;
        return 2 * (1 - t) * t;
    }
    case STAIR: return floor(y) == y ? 0 : 1;
    case HARDTAN: return (y > -1 && y < 1) ? 1 : 0;
    case LHTAN: return (y > 0 && y < 1) ? 1 : .001;
    case SELU: return (y >= 0) * 1.0507 + (y < 0) * (y + 1.0507 * 1.6732);
    default: return 1;
    }
}

/* The loops, inlined where a is a constant, so that leaky and relu (the
   activations of Darknet's classifiers) get loops of their own, which the
   compiler vectorises; a switch inside one loop keeps it scalar. */
static inline void activate_each(float *x, size_t n, ACTIVATION a)
{
    for (size_t i = 0; i < n; ++i) x[i] = activate(x[i], a);
}

static inline void gradient_each(const float *x, size_t n, ACTIVATION a, float *delta)
{
    for (size_t i = 0; i < n; ++i) delta[i] *= gradient(x[i], a);
}

int activate_array(float *x, size_t n, ACTIVATION a)
{
    if (!known(a)) return DS_ERR_ARG;
    if (a == LEAKY) activate_each(x, n, LEAKY);
    else if (a == RELU) activate_each(x, n, RELU);
    else if (a != LINEAR) activate_each(x, n, a);
    return DS_OK;
}

int gradient_array(const float *x, size_t n, ACTIVATION a, float *delta)
{
    if (!known(a)) return DS_ERR_ARG;
    if (a == LEAKY) gradient_each(x, n, LEAKY, delta);
    else if (a == RELU) gradient_each(x, n, RELU, delta);
    else if (a != LINEAR) gradient_each(x, n, a, delta);
    return DS_OK;
}
