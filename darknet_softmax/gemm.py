"""Darknet's matrix product (csrc/gemm.c) over flat float32 arrays."""

from .binding import Floats, check_distinct, check_status, count, float_array, float_ptr, lib


def _last_index(name, rows, columns, stride):
    if stride < columns:
        raise ValueError(f"{name} must be at least {columns}, not {stride}")
    return (rows - 1) * stride + columns - 1


def gemm(
    TA: bool,
    TB: bool,
    M: int,
    N: int,
    K: int,
    ALPHA: float,
    A: Floats,
    lda: int,
    B: Floats,
    ldb: int,
    BETA: float,
    C: Floats,
    ldc: int,
) -> Floats:
    """C = ALPHA * op(A) op(B) + BETA * C, row-major, in place on `C`, where
    op(X) is X, or X transposed when its flag is true. op(A) is M x K, op(B)
    K x N and C M x N; lda, ldb, ldc are the row strides as stored. Every index
    is checked against its array first, so M*K, K*N and M*N are at most the
    sizes of A, B and C, which bound the work; BETA = 0 ignores what C held.

    Parameters
    ----------
    TA, TB : bool
        Whether op(A) and op(B) are A and B transposed.
    M, N, K : int
        The sizes of the product (at least 1).
    ALPHA : float
        The factor of the product.
    A, B : ndarray of float32
        C-contiguous, read as flat row-major matrices of row strides `lda`
        and `ldb`; neither may overlap `C`.
    lda, ldb, ldc : int
        The row strides as stored (at least the rows' lengths).
    BETA : float
        The factor of what C holds.
    C : ndarray of float32
        Written in place: writable, C-contiguous, flat row-major of row stride
        `ldc`.

    Returns
    -------
    ndarray of float32
        `C`.

    Raises
    ------
    TypeError
        If an array is not a float32 ndarray, or a size is not an integer.
    MemoryError
        If the packing buffers cannot be allocated (`C` is then untouched).
    ValueError
        If an array is empty, not C-contiguous or (C) read-only, a size is
        below 1, a stride is below its row's length, an index reaches past
        its array, or `A` or `B` overlaps `C`.
    """
    A, B = float_array("A", A), float_array("B", B)
    C = float_array("C", C, writable=True)
    M, N, K = count("M", M), count("N", N), count("K", K)
    lda, ldb, ldc = count("lda", lda), count("ldb", ldb), count("ldc", ldc)
    a_shape = (K, M) if TA else (M, K)
    b_shape = (N, K) if TB else (K, N)
    for name, array, (rows, columns), stride in (
        ("A", A, a_shape, lda),
        ("B", B, b_shape, ldb),
        ("C", C, (M, N), ldc),
    ):
        last = _last_index("ld" + name.lower(), rows, columns, stride)
        if last >= array.size:
            raise ValueError(
                f"{name} holds {array.size} floats, but these arguments reach index {last}"
            )
    check_distinct(("A", A), ("C", C), same_ok=False)
    check_distinct(("B", B), ("C", C), same_ok=False)
    status = lib.gemm(
        bool(TA),
        bool(TB),
        M,
        N,
        K,
        float(ALPHA),
        float_ptr(A),
        lda,
        float_ptr(B),
        ldb,
        float(BETA),
        float_ptr(C),
        ldc,
    )
    check_status(status, "gemm")
    return C
