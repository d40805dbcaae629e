"""Fits the exp polynomials of csrc/vector.h: exp(r) = 1 + r*p(r), p of degree
4 (EXP_C*) and of degree 3 (EXP_COARSE_C*), on |r| <= ln2/2, minimising the
largest relative error (least squares reweighted by the error, Lawson's
iteration, which tends to the minimax fit).
Prints the coefficients as C hex floats; run it to check or redo them."""

import numpy as np


def fit(degree=4, iterations=200):
    half = np.log(2) / 2
    r = np.cos(np.linspace(0, np.pi, 4001)) * half
    r = r[r != 0]
    target = np.expm1(r) / r
    basis = np.stack([r**k for k in range(degree + 1)], axis=1)
    weight = np.abs(r) / np.exp(r)  # relative error of exp, not of p
    lawson = np.full(r.size, 1.0 / r.size)
    for _ in range(iterations):
        w = weight * np.sqrt(lawson)
        coefficients = np.linalg.lstsq(basis * w[:, None], target * w, rcond=None)[0]
        error = np.abs((1 + r * (basis @ coefficients)) / np.exp(r) - 1)
        lawson = lawson * error / np.sum(lawson * error)
    return coefficients, error.max()


if __name__ == "__main__":
    for degree, prefix in ((4, "EXP_C"), (3, "EXP_COARSE_C")):
        coefficients, error = fit(degree)
        for k, c in enumerate(coefficients, start=1):
            print(f"#define {prefix}{k} {float(np.float32(c)).hex().replace('0000000p', 'p')}f")
        print(f"largest relative error in exact arithmetic: {error:.2g}")
