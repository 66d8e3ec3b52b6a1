"""FFT, IFFT, RFFT, IRFFT (1D/2D/3D, complex64), MatrixTriangularSolve and the
complex64 elementwise ops against TF's CPU kernels on fresh random inputs."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import CPU, GPU, on, raw_op

# Stockham lengths (factors 2..32), Bluestein lengths (a prime factor > 32)
LENGTHS = [1, 2, 3, 5, 7, 8, 12, 15, 16, 17, 64, 100, 127, 128, 1000, 1024, 4096, 1009, 4093]


def crandom(shape, rng):
    return (rng.uniform(-3, 3, shape) + 1j * rng.uniform(-3, 3, shape)).astype(np.complex64)


def fft_close(out, ref):
    """float32-FFT class: error within 1e-5 of the largest magnitude (per transform set)."""
    out, ref = out.numpy(), ref.numpy()
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if ref.size == 0:
        return
    scale = max(float(np.abs(ref).max()), 1e-30)
    err = float(np.abs(out.astype(np.complex128) - ref.astype(np.complex128)).max())
    assert err <= 1e-5 * scale, "max error %.3g, %.3g of max magnitude %.3g" % (err, err / scale, scale)


def both(fn, *args):
    return on(GPU, fn, *args), on(CPU, fn, *args)


# --- complex-to-complex -----------------------------------------------------------

@pytest.mark.parametrize("op", ["FFT", "IFFT"])
@pytest.mark.parametrize("n", LENGTHS)
def test_fft_1d(op, n, rng):
    x = tf.constant(crandom((3, n) if n <= 1024 else (2, n), rng))
    fft_close(*both(raw_op(op), x))


@pytest.mark.parametrize("op", ["FFT", "IFFT"])
@pytest.mark.parametrize("shape", [(5,), (2, 3, 12), (0, 8), (3, 0), (1, 1, 1)], ids=str)
def test_fft_1d_shapes(op, shape, rng):
    x = tf.constant(crandom(shape, rng))
    fft_close(*both(raw_op(op), x))


@pytest.mark.parametrize("op", ["FFT2D", "IFFT2D"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 12), (2, 16, 17), (3, 5, 127), (2, 2, 64, 100),
                                   (0, 4, 4), (2, 0, 3)], ids=str)
def test_fft_2d(op, shape, rng):
    x = tf.constant(crandom(shape, rng))
    fft_close(*both(raw_op(op), x))


@pytest.mark.parametrize("op", ["FFT3D", "IFFT3D"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 8), (2, 4, 6, 17), (2, 1, 37, 2)], ids=str)
def test_fft_3d(op, shape, rng):
    x = tf.constant(crandom(shape, rng))
    fft_close(*both(raw_op(op), x))


def test_fft_roundtrip(rng):
    x = tf.constant(crandom((4, 1000), rng))
    y = on(GPU, lambda t: tf.raw_ops.IFFT(input=tf.raw_ops.FFT(input=t)), x)
    np.testing.assert_allclose(y.numpy(), x.numpy(), atol=2e-5)


def test_fft_impulse_exact_twiddles():
    # FFT of a shifted impulse is a pure twiddle sequence: checks every twiddle
    n, s = 4096, 1234
    x = np.zeros(n, np.complex64)
    x[s] = 1
    y = on(GPU, raw_op("FFT"), tf.constant(x)).numpy()
    k = np.arange(n)
    ref = np.exp(-2j * np.pi * ((k * s) % n) / n)
    assert np.abs(y - ref).max() < 2e-6


# --- real-to-complex / complex-to-real -----------------------------------------------

@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("extra", [0, 3])  # input longer than fft_length: cropped
def test_rfft_1d(n, extra, rng):
    x = tf.constant(rng.uniform(-3, 3, (3, n + extra)).astype(np.float32))
    fft_close(*both(lambda t: tf.raw_ops.RFFT(input=t, fft_length=[n]), x))


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("extra", [0, 2])  # more than n / 2 + 1 terms: cropped
def test_irfft_1d(n, extra, rng):
    x = tf.constant(crandom((3, n // 2 + 1 + extra), rng))
    fft_close(*both(lambda t: tf.raw_ops.IRFFT(input=t, fft_length=[n]), x))


ND_CASES = [
    # (op rank, input shape, fft_length): inputs longer than fft_length are cropped
    (2, (6, 10), (6, 10)),
    (2, (2, 7, 12), (5, 9)),
    (2, (3, 17, 16), (17, 16)),
    (2, (1, 4, 37), (3, 37)),
    (2, (2, 40, 127), (40, 127)),
    (3, (1, 1, 1), (1, 1, 1)),
    (3, (2, 3, 5, 8), (3, 4, 8)),
    (3, (2, 9, 6, 7), (8, 5, 7)),
]


@pytest.mark.parametrize("case", ND_CASES, ids=str)
def test_rfft_irfft_nd(case, rng):
    rank, shape, lengths = case
    rfft, irfft = ("RFFT2D", "IRFFT2D") if rank == 2 else ("RFFT3D", "IRFFT3D")
    x = tf.constant(rng.uniform(-3, 3, shape).astype(np.float32))
    fft_close(*both(lambda t: getattr(tf.raw_ops, rfft)(input=t, fft_length=list(lengths)), x))
    c = tf.constant(crandom(shape[:-1] + (lengths[-1] // 2 + 2,), rng))
    fft_close(*both(lambda t: getattr(tf.raw_ops, irfft)(input=t, fft_length=list(lengths)), c))


def test_signal_wrappers(rng):
    x = tf.constant(rng.uniform(-3, 3, (4, 50)).astype(np.float32))
    fft_close(*both(lambda t: tf.signal.irfft(tf.signal.rfft(t)), x))
    fft_close(*both(lambda t: tf.signal.rfft(t, fft_length=[40]), x))
    c = tf.constant(crandom((3, 6, 20), rng))
    fft_close(*both(tf.signal.fft2d, c))
    fft_close(*both(tf.signal.ifft3d, c))


@pytest.mark.parametrize("case", [
    ("RFFT", (3, 0), [0]), ("RFFT", (0, 8), [8]), ("IRFFT", (0, 5), [8]), ("RFFT2D", (0, 4, 6), [4, 6]),
], ids=str)
def test_rfft_empty(case):
    op, shape, length = case
    dtype = np.float32 if op.startswith("R") else np.complex64
    x = tf.constant(np.zeros(shape, dtype))
    a, b = both(lambda t: getattr(tf.raw_ops, op)(input=t, fft_length=length), x)
    assert a.shape == b.shape and a.dtype == b.dtype


@pytest.mark.parametrize("op", ["RFFT", "IRFFT"])
def test_zero_fft_length(op):
    # TF's CPU kernel aborts the process here (a DUCC assertion): no CPU reference.
    x = tf.constant(np.ones((2, 5), np.float32 if op == "RFFT" else np.complex64))
    y = on(GPU, lambda t: getattr(tf.raw_ops, op)(input=t, fft_length=[0]), x)
    assert y.shape == (2, 0)


# --- bad input: the CPU's error class, and the process keeps working ---------------

@pytest.mark.parametrize("case", [
    ("FFT", lambda: tf.constant(1 + 2j, tf.complex64), None),
    ("FFT2D", lambda: tf.constant([1 + 2j], tf.complex64), None),
    ("IFFT3D", lambda: tf.zeros((4, 4), tf.complex64), None),
    ("RFFT", lambda: tf.zeros((3, 8)), [-2]),
    ("RFFT", lambda: tf.zeros((3, 8)), [10]),       # longer than the input
    ("RFFT", lambda: tf.zeros((3, 8)), [4, 4]),     # wrong shape
    ("IRFFT", lambda: tf.zeros((3, 8), tf.complex64), [16]),  # needs 9 terms
    ("RFFT2D", lambda: tf.zeros((3, 8)), [-1, 4]),
    ("IRFFT2D", lambda: tf.zeros((3,), tf.complex64), [2, 2]),
], ids=lambda c: "%s-%s" % (c[0], c[2]))
def test_fft_bad_input(case):
    op, make, length = case
    fn = (lambda t: getattr(tf.raw_ops, op)(input=t)) if length is None else \
        (lambda t: getattr(tf.raw_ops, op)(input=t, fft_length=length))
    x = make()
    errors = []
    for dev in (CPU, GPU):
        with pytest.raises(tf.errors.OpError) as e:
            on(dev, fn, x)
        errors.append(type(e.value))
        assert op in str(e.value)
    assert errors[0] is errors[1] is tf.errors.InvalidArgumentError
    fft_close(*both(raw_op("FFT"), tf.constant(np.ones((2, 4), np.complex64))))


# --- MatrixTriangularSolve -----------------------------------------------------------

def well_conditioned(shape, rng):
    n = shape[-1]
    a = rng.uniform(-1, 1, shape).astype(np.float32)
    return (a + n * np.eye(n, dtype=np.float32)).astype(np.float32)


def solve(lower, adjoint):
    return lambda a, b: tf.raw_ops.MatrixTriangularSolve(matrix=a, rhs=b, lower=lower, adjoint=adjoint)


def solve_close(out, ref):
    out, ref = out.numpy(), ref.numpy()
    assert out.shape == ref.shape and out.dtype == ref.dtype
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=2e-6)


FLAGS = [(True, False), (False, False), (True, True), (False, True)]


@pytest.mark.parametrize("lower,adjoint", FLAGS)
@pytest.mark.parametrize("n", [1, 2, 3, 7, 33, 64, 65, 100, 128, 129, 200])
def test_triangular_solve(lower, adjoint, n, rng):
    a = tf.constant(well_conditioned((2, n, n), rng))
    b = tf.constant(rng.uniform(-3, 3, (2, n, 5)).astype(np.float32))
    solve_close(*both(solve(lower, adjoint), a, b))


@pytest.mark.parametrize("lower,adjoint", FLAGS)
def test_triangular_solve_large(lower, adjoint, rng):
    n = 600  # several blocks, and updates in more than one chunk (kUpdateChunk in linalg.cc)
    a = tf.constant(well_conditioned((n, n), rng))
    b = tf.constant(rng.uniform(-3, 3, (n, 3)).astype(np.float32))
    solve_close(*both(solve(lower, adjoint), a, b))


@pytest.mark.parametrize("shapes", [
    ((2, 1, 9, 9), (1, 3, 9, 4)),
    ((9, 9), (4, 9, 2)),
    ((3, 9, 9), (9, 2)),
    ((2, 3, 9, 9), (3, 9, 1)),
    ((2, 1, 2, 1, 2, 1, 5, 5), (1, 2, 1, 2, 1, 2, 5, 3)),  # more than 4 batch dims left
    ((1, 6, 6), (1, 1, 6, 7)),
], ids=str)
@pytest.mark.parametrize("lower,adjoint", [(True, False), (False, True)])
def test_triangular_solve_broadcast(shapes, lower, adjoint, rng):
    a = tf.constant(well_conditioned(shapes[0], rng))
    b = tf.constant(rng.uniform(-3, 3, shapes[1]).astype(np.float32))
    solve_close(*both(solve(lower, adjoint), a, b))


@pytest.mark.parametrize("shapes", [((0, 3, 3), (0, 3, 2)), ((3, 3), (3, 0)), ((0, 0), (0, 4)),
                                    ((2, 0, 0), (1, 0, 5))], ids=str)
def test_triangular_solve_empty(shapes):
    a = tf.constant(np.ones(shapes[0], np.float32))
    b = tf.constant(np.ones(shapes[1], np.float32))
    out, ref = both(solve(True, False), a, b)
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


@pytest.mark.parametrize("lower,adjoint", FLAGS)
def test_triangular_solve_singular(lower, adjoint, rng):
    a = well_conditioned((5, 5), rng)
    a[2, 2] = 0.0
    b = rng.uniform(1, 2, (5, 2)).astype(np.float32)
    out, ref = both(solve(lower, adjoint), tf.constant(a), tf.constant(b))
    out, ref = out.numpy(), ref.numpy()
    assert not np.all(np.isfinite(ref))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(np.sign(out[~fin & ~np.isnan(ref)]), np.sign(ref[~fin & ~np.isnan(ref)]))
    np.testing.assert_allclose(out[fin], ref[fin], rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("shapes", [
    ((3, 4), (3, 2)),         # not square
    ((3,), (3, 2)),           # rank 1
    ((3, 3), (3,)),
    ((2, 3, 3), (3, 3, 2)),   # batch dims
    ((3, 3), (4, 2)),         # rows
], ids=str)
def test_triangular_solve_bad_input(shapes):
    a, b = tf.zeros(shapes[0]), tf.zeros(shapes[1])
    errors = []
    for dev in (CPU, GPU):
        with pytest.raises(tf.errors.OpError) as e:
            on(dev, solve(True, False), a, b)
        errors.append(type(e.value))
        assert "MatrixTriangularSolve" in str(e.value)
    assert errors[0] is errors[1] is tf.errors.InvalidArgumentError
    solve_close(*both(solve(True, False), tf.eye(3), tf.ones((3, 1))))


# --- complex64 elementwise -----------------------------------------------------------

@pytest.mark.parametrize("op", ["Real", "Imag", "Conj", "ComplexAbs"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 1025), (0, 4)], ids=str)
def test_complex_unary(op, shape, rng):
    x = crandom(shape, rng)
    if x.size >= 8:
        x.flat[:8] = np.array([np.inf + 1j, -np.inf * 1j, np.nan + 1j, 1 + np.nan * 1j, 0, -0.0 - 0j,
                               3e38 + 3e38j, 1e-30 + 1e-30j], np.complex64)  # no overflow, no underflow
    out, ref = both(raw_op(op), tf.constant(x))
    out, ref = out.numpy(), ref.numpy()
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if op == "ComplexAbs":
        np.testing.assert_allclose(out, ref, rtol=1e-6)
    else:
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("shapes", [((5, 3), (5, 3)), ((), (4,)), ((4, 1, 3), (2, 1)), ((0, 3), (3,))],
                         ids=str)
def test_complex(shapes, rng):
    a = tf.constant(rng.uniform(-3, 3, shapes[0]).astype(np.float32))
    b = tf.constant(rng.uniform(-3, 3, shapes[1]).astype(np.float32))
    out, ref = both(lambda x, y: tf.raw_ops.Complex(real=x, imag=y), a, b)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    with pytest.raises(tf.errors.InvalidArgumentError):
        on(GPU, lambda x, y: tf.raw_ops.Complex(real=x, imag=y), tf.zeros((2, 3)), tf.zeros((4,)))


def test_complex_ops_compose(rng):
    # a complex pipeline that stays on the device: Complex -> FFT -> ComplexAbs
    re, im = (tf.constant(rng.uniform(-1, 1, (3, 64)).astype(np.float32)) for _ in range(2))
    f = lambda a, b: tf.math.abs(tf.signal.fft(tf.complex(a, b)))
    out, ref = both(f, re, im)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
