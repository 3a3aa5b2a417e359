#!/usr/bin/env python3
"""Derives the asin polynomials of Sources/CKernels/closed_form_rows.c and checks their accuracy.

P(w) interpolates g(w) = (asin(sqrt w) - sqrt w) / w^(3/2) at N + 1 Chebyshev nodes of [0, 1/4]
in 60-digit arithmetic (mpmath); asin(y) = y + y w P(w), w = y^2, for |y| <= 1/2. Prints the
coefficients (ascending powers of w) and the largest error of the evaluation, in ulps, on a
grid of [0, 1/2]: in float64, or with "single" in float32 (coefficients rounded to float32, the
Horner steps in float32 as the single-precision rows compute them).
Usage: python3 scripts/dev/asin_polynomial.py [N=12] [single]   (the rows use 12, and 4 single)
"""
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 60
N = int(sys.argv[1]) if len(sys.argv) > 1 else 12
dtype = np.float32 if "single" in sys.argv[2:] else np.float64


def g(w):
    if w == 0:
        return mp.mpf(1) / 6
    y = mp.sqrt(w)
    return (mp.asin(y) - y) / (y * w)


nodes = [mp.mpf("0.125") * (1 + mp.cos(mp.pi * (2 * k + 1) / (2 * (N + 1)))) for k in range(N + 1)]
A = mp.matrix([[w**j for j in range(N + 1)] for w in nodes])
coefficients = mp.lu_solve(A, mp.matrix([g(w) for w in nodes]))
c = [float(coefficients[j]) for j in range(N + 1)]
print("coefficients:", c)
ys = np.linspace(0, 0.5, 2001).astype(dtype)
w = ys * ys
p = np.zeros_like(w)
for cj in reversed(c):
    p = p * w + dtype(cj)
approx = (ys + ys * w * p).astype(np.float64)
exact = np.array([float(mp.asin(mp.mpf(float(y)))) for y in ys])
ulp = np.maximum(np.abs(exact) * np.finfo(dtype).eps, 5e-324)
print(f"largest error ({np.dtype(dtype).name}):", np.max(np.abs(approx - exact) / ulp), "ulp")
