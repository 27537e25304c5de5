"""A tiny image classifier in pure numpy: the built-in benchmark's model.

Two 3x3 convolutions (im2col + one matrix product each), ReLU, a 2x2 max-pool, a
global average pool and a dense layer to 10 classes. The weights are random but
fixed by a seed, so the labels are meaningless yet reproducible: the point is a
real, repeatable CPU load, not accuracy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["IMAGE_SHAPE", "NUM_CLASSES", "TinyConvNet", "synthetic_images"]

IMAGE_SHAPE = (3, 32, 32)
"""Channels, height, width of one input image."""
NUM_CLASSES = 10

_CONV1_FILTERS = 8
_CONV2_FILTERS = 16
_KERNEL = 3

FloatArray = npt.NDArray[np.float32]


def synthetic_images(count: int, seed: int = 0) -> FloatArray:
    """``count`` seeded images, shape ``(count, 3, 32, 32)``, float32, roughly in [-1, 1].

    Each image is a random colour cast plus pixel noise: pure noise would average
    out in the global pool and give every image the same label.
    """
    if count < 0:
        raise ValueError(f"image count must be >= 0, got {count}")
    rng = np.random.default_rng(seed)
    colour = rng.uniform(-0.5, 0.5, size=(count, IMAGE_SHAPE[0], 1, 1)).astype(np.float32)
    noise = rng.uniform(-0.5, 0.5, size=(count, *IMAGE_SHAPE)).astype(np.float32)
    return colour + noise


def _he_weights(rng: np.random.Generator, fan_in: int, fan_out: int) -> FloatArray:
    weights: FloatArray = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return weights


def _conv3x3_same(features: FloatArray, weights: FloatArray, bias: FloatArray) -> FloatArray:
    """3x3 convolution, stride 1, zero padding 1, as im2col + one matrix product.

    Layout is batch-second, ``(C, N, H, W)``: then the im2col matrix is
    ``(C*9, N*H*W)``, filled by 9 shifted slice copies with contiguous rows, and
    ``weights.T @ columns`` is already the next layer's ``(F, N, H, W)``.
    ``weights`` is ``(C*9, F)`` with rows in (channel, ky, kx) order.
    """
    c, n, h, w = features.shape
    padded = np.pad(features, ((0, 0), (0, 0), (1, 1), (1, 1)))
    columns = np.empty((c, _KERNEL, _KERNEL, n, h, w), dtype=np.float32)
    for ky in range(_KERNEL):
        for kx in range(_KERNEL):
            columns[:, ky, kx] = padded[:, :, ky : ky + h, kx : kx + w]
    out = weights.T @ columns.reshape(c * _KERNEL * _KERNEL, n * h * w)
    out += bias[:, None]
    return out.reshape(weights.shape[1], n, h, w)


def _max_pool_2x2(features: FloatArray) -> FloatArray:
    """2x2 max-pool, stride 2, on ``(C, N, H, W)`` with H and W even."""
    # Four strided slices: much faster in numpy than reshape(..., 2, ..., 2).max(axis=(3, 5)).
    top = np.maximum(features[:, :, 0::2, 0::2], features[:, :, 0::2, 1::2])
    bottom = np.maximum(features[:, :, 1::2, 0::2], features[:, :, 1::2, 1::2])
    return np.maximum(top, bottom)


class TinyConvNet:
    """conv3x3(8)+ReLU+maxpool2 -> conv3x3(16)+ReLU+global-avg-pool -> dense(10) -> argmax.

    The weights come from ``np.random.default_rng(seed)``: the same seed gives the
    same network and the same labels for the same images.
    """

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        channels = IMAGE_SHAPE[0]
        taps = _KERNEL * _KERNEL
        self.seed = seed
        self.conv1_weights = _he_weights(rng, channels * taps, _CONV1_FILTERS)
        self.conv1_bias = (rng.standard_normal(_CONV1_FILTERS) * 0.1).astype(np.float32)
        self.conv2_weights = _he_weights(rng, _CONV1_FILTERS * taps, _CONV2_FILTERS)
        self.conv2_bias = (rng.standard_normal(_CONV2_FILTERS) * 0.1).astype(np.float32)
        self.dense_weights = _he_weights(rng, _CONV2_FILTERS, NUM_CLASSES)
        self.dense_bias = (rng.standard_normal(NUM_CLASSES) * 0.1).astype(np.float32)

    def logits(self, images: FloatArray) -> FloatArray:
        """Class scores before softmax, shape ``(N, 10)``, for images ``(N, 3, 32, 32)``."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
            raise ValueError(f"expected images of shape (N, {', '.join(map(str, IMAGE_SHAPE))}), got {images.shape}")
        x = np.ascontiguousarray(images.transpose(1, 0, 2, 3))  # (3, N, 32, 32)
        x = np.maximum(_conv3x3_same(x, self.conv1_weights, self.conv1_bias), 0.0)
        x = _max_pool_2x2(x)  # (8, N, 16, 16)
        x = np.maximum(_conv3x3_same(x, self.conv2_weights, self.conv2_bias), 0.0)
        pooled = x.mean(axis=(2, 3)).T  # (N, 16)
        logits: FloatArray = pooled @ self.dense_weights + self.dense_bias
        return logits

    def probabilities(self, images: FloatArray) -> FloatArray:
        """Softmax of :meth:`logits`, shape ``(N, 10)``; each row sums to 1."""
        logits = self.logits(images)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities: FloatArray = shifted / shifted.sum(axis=1, keepdims=True)
        return probabilities

    def predict(self, images: FloatArray) -> npt.NDArray[np.int64]:
        """The predicted class (0..9) of each image, shape ``(N,)``."""
        # argmax of the logits equals argmax of the softmax; skip the exp.
        labels: npt.NDArray[np.int64] = self.logits(images).argmax(axis=1).astype(np.int64)
        return labels
