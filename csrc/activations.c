#include <math.h>

#include "activations.h"
#include "status.h"

static int known(ACTIVATION a)
{
    return a == LOGISTIC || a == RELU || a == LINEAR || a == TANH || a == LEAKY;
}

/* Darknet writes tanh as (e^2x - 1)/(e^2x + 1), which is inf/inf = NaN above
   x = 44; tanhf gives the same values without the overflow. */
static float activate(float x, ACTIVATION a)
{
    switch (a) {
    case LOGISTIC: return 1.f / (1.f + expf(-x));
    case RELU: return x * (x > 0);
    case TANH: return tanhf(x);
    case LEAKY: return x > 0 ? x : .1f * x;
    default: return x;
    }
}

static float gradient(float y, ACTIVATION a)
{
    switch (a) {
    case LOGISTIC: return (1 - y) * y;
    case RELU: return y > 0;
    case TANH: return 1 - y * y;
    case LEAKY: return y > 0 ? 1 : .1f;
    default: return 1;
    }
}

int activate_array(float *x, size_t n, ACTIVATION a)
{
    if (!known(a)) return DS_ERR_ARG;
    if (a == LINEAR) return DS_OK;
    for (size_t i = 0; i < n; ++i) x[i] = activate(x[i], a);
    return DS_OK;
}

int gradient_array(const float *x, size_t n, ACTIVATION a, float *delta)
{
    if (!known(a)) return DS_ERR_ARG;
    if (a == LINEAR) return DS_OK;
    for (size_t i = 0; i < n; ++i) delta[i] *= gradient(x[i], a);
    return DS_OK;
}
