"""Grain matching: measure the grain of the sharp region and give the re-blurred region the same.

Blur removes grain, so a re-blurred background next to a grainy sharp subject reads as a second
picture. The model follows AV1's film grain synthesis in spirit: per channel, a grain level that is a
function of intensity (a piecewise-linear scaling curve over :data:`INTENSITY_BINS` bins) and a
spatial spectrum, here a separable 3-tap filter ``[b, 1, b]`` over Gaussian noise fitted to the
grain's lag-1 autocorrelation, and a share common to all channels (their correlation). Everything
is measured in the file's encoded values (sRGB), where a generator or a camera put the grain.

Measurement, on flat blocks of the sharp region: the image is cut into 8x8 blocks; a block's grain
is its residual from a fitted plane. Texture inflates that residual, so only the blocks whose
Immerkaer (1996) noise estimate (a Laplacian-difference operator blind to planes) lies in the lowest
part of their intensity bin are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

BLOCK_PX = 8
#: Intensity bins of the scaling curve over encoded [0, 1].
INTENSITY_BINS = 6
#: Blocks kept per bin: those whose Immerkaer estimate is within this factor of the bin's 20th percentile.
FLAT_FACTOR = 1.5
#: Lag-1 autocorrelation range of a block's plane residual that can be grain: fine periodic texture
#: goes below it (a 3 px pattern has -0.5), smooth texture above it.
GRAIN_CORRELATION_RANGE = (-0.3, 0.6)
#: Range of the ratio of a block's Immerkaer estimate to its plane-residual level that can be grain:
#: 1 for white noise, about 0.6 for grain with lag-1 correlation 0.5; texture lies far off it.
GRAIN_RATIO_RANGE = (0.5, 1.3)
#: Largest ratio of a block's strongest spatial frequency to its mean power (DC excluded) that can be
#: grain: white noise of 64 samples stays below it 99 % of the time, a stripe or a fine pattern far exceeds it.
MAX_SPECTRAL_PEAK = 8.0
#: A bin needs this many flat blocks to be measured.
MIN_BLOCKS = 8
#: Grain below this level (encoded units, ~0.4 of an 8-bit code) is not worth synthesising.
MIN_GRAIN = 0.0015
_IMMERKAER = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


@dataclass
class GrainModel:
    """Grain as a function of intensity, per channel, with its spectrum.

    Attributes:
        level: ``(C, INTENSITY_BINS)`` grain standard deviation (encoded units) at each bin centre;
            NaN where a bin had too few flat blocks.
        correlation: lag-1 autocorrelation of the grain along rows and columns (the spectrum).
        channel_correlation: mean correlation of the grain between channels.
        blocks: flat blocks measured.
    """

    level: torch.Tensor
    correlation: float
    channel_correlation: float
    blocks: int

    def to_dict(self) -> dict:
        return {"level": [[None if math.isnan(v) else round(v, 5) for v in row] for row in self.level.tolist()],
                "bin_centres": [round((i + 0.5) / INTENSITY_BINS, 4) for i in range(INTENSITY_BINS)],
                "correlation": round(self.correlation, 4), "channel_correlation": round(self.channel_correlation, 4),
                "blocks": self.blocks}

    def level_at(self, intensity: torch.Tensor) -> torch.Tensor:
        """``(C, H, W)`` grain level at each pixel's intensity (linear between bin centres, NaN bins
        filled from their neighbours)."""
        level = _filled(self.level)
        position = (intensity * INTENSITY_BINS - 0.5).clamp(0, INTENSITY_BINS - 1)
        low = position.floor().long()
        high = (low + 1).clamp(max=INTENSITY_BINS - 1)
        t = position - low
        return level[:, low] * (1 - t) + level[:, high] * t


def _filled(level: torch.Tensor) -> torch.Tensor:
    """Each NaN bin takes the nearest measured bin of its channel (0 when none is measured)."""
    filled = level.clone()
    for row in filled:
        known = (~row.isnan()).nonzero().flatten()
        for i in range(row.numel()):
            row[i] = row[known[(known - i).abs().argmin()]] if known.numel() and row[i].isnan() else row[i]
    return filled.nan_to_num(0.0)


def _blocks(image: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` cut into ``(n, C, 8, 8)`` whole blocks."""
    channels, height, width = image.shape
    h, w = height // BLOCK_PX * BLOCK_PX, width // BLOCK_PX * BLOCK_PX
    tiles = image[:, :h, :w].reshape(channels, h // BLOCK_PX, BLOCK_PX, w // BLOCK_PX, BLOCK_PX)
    return tiles.permute(1, 3, 0, 2, 4).reshape(-1, channels, BLOCK_PX, BLOCK_PX)


def _plane_residual(blocks: torch.Tensor) -> torch.Tensor:
    """Each block minus its least-squares plane a + b x + c y (per channel)."""
    coords = torch.arange(BLOCK_PX, dtype=blocks.dtype) - (BLOCK_PX - 1) / 2
    x, y = coords[None, :].expand(BLOCK_PX, -1), coords[:, None].expand(-1, BLOCK_PX)
    mean = blocks.mean((-2, -1), keepdim=True)
    slope_x = (blocks * x).sum((-2, -1), keepdim=True) / (x * x).sum()
    slope_y = (blocks * y).sum((-2, -1), keepdim=True) / (y * y).sum()
    return blocks - mean - slope_x * x - slope_y * y


def _grain_like(blocks: torch.Tensor) -> torch.Tensor:
    """``(n,)`` bool: blocks whose plane residual is correlated like grain, not like texture."""
    residual = _plane_residual(blocks)
    power = residual.square().mean((1, 2, 3)).clamp_min(1e-12)
    lag = ((residual[..., :, 1:] * residual[..., :, :-1]).mean((1, 2, 3))
           + (residual[..., 1:, :] * residual[..., :-1, :]).mean((1, 2, 3))) / (2 * power)
    ratio = immerkaer_sigma(blocks).mean(1) / power.sqrt()
    spectrum = torch.fft.rfft2(residual).abs().square().mean(1).flatten(1)[:, 1:]
    peaked = spectrum.amax(1) / spectrum.mean(1).clamp_min(1e-20) > MAX_SPECTRAL_PEAK
    low, high = GRAIN_CORRELATION_RANGE
    return ~peaked & (lag > low) & (lag < high) & (ratio > GRAIN_RATIO_RANGE[0]) & (ratio < GRAIN_RATIO_RANGE[1])


def immerkaer_sigma(blocks: torch.Tensor) -> torch.Tensor:
    """Immerkaer's noise estimate of each ``(n, C, h, w)`` block: ``(n, C)``.

    sigma = sqrt(pi / 2) / (6 (h - 2)(w - 2)) * sum |I * M| over the block's interior, with M the
    difference of two Laplacians, which is zero on any plane.
    """
    n, channels, h, w = blocks.shape
    response = F.conv2d(blocks.reshape(n * channels, 1, h, w), _IMMERKAER.to(blocks.dtype)[None, None])
    return (math.sqrt(math.pi / 2) / 6 * response.abs().mean((-2, -1))).reshape(n, channels)


def measure_grain(image_encoded: torch.Tensor, region: torch.Tensor) -> GrainModel:
    """Measure the grain of ``image_encoded`` on the flat blocks that lie wholly inside ``region``.

    Args:
        image_encoded: ``(C, H, W)`` encoded (sRGB) colour in [0, 1].
        region: ``(H, W)`` bool, where to measure (the sharp subject).

    Returns:
        :class:`GrainModel` (levels NaN, correlation 0 where nothing could be measured).
    """
    channels = image_encoded.shape[0]
    blocks = _blocks(image_encoded)
    inside = _blocks(region[None].float())[:, 0].amin((-2, -1)) > 0
    blocks = blocks[inside]
    level = torch.full((channels, INTENSITY_BINS), math.nan)
    if blocks.shape[0] == 0:
        return GrainModel(level, 0.0, 0.0, 0)
    blocks = blocks[_grain_like(blocks)]
    if blocks.shape[0] == 0:
        return GrainModel(level, 0.0, 0.0, 0)
    estimate = immerkaer_sigma(blocks).mean(1)
    intensity_bin = (blocks.mean((1, 2, 3)) * INTENSITY_BINS).long().clamp(0, INTENSITY_BINS - 1)
    flat = torch.zeros(blocks.shape[0], dtype=torch.bool)
    for b in range(INTENSITY_BINS):
        in_bin = intensity_bin == b
        if int(in_bin.sum()) < MIN_BLOCKS:
            continue
        keep = in_bin & (estimate <= FLAT_FACTOR * torch.quantile(estimate[in_bin], 0.2))
        if int(keep.sum()) < MIN_BLOCKS // 2:
            continue
        flat |= keep
        residual = _plane_residual(blocks[keep])
        # A plane fit removes 3 of 64 degrees of freedom: correct the variance for them.
        level[:, b] = (residual.square().mean((0, 2, 3)) * BLOCK_PX**2 / (BLOCK_PX**2 - 3)).sqrt()
    if not bool(flat.any()):
        return GrainModel(level, 0.0, 0.0, 0)
    residual = _plane_residual(blocks[flat])
    power = residual.square().mean()
    along_rows = (residual[..., :, 1:] * residual[..., :, :-1]).mean()
    along_cols = (residual[..., 1:, :] * residual[..., :-1, :]).mean()
    # The plane fit makes neighbouring residuals slightly anticorrelated (-1/63 for white noise per
    # removed mean, a little more with the slopes); the correction keeps white grain at 0.
    correlation = float((along_rows + along_cols) / (2 * power)) + 1.0 / (BLOCK_PX**2 - 3) * 3
    channel_corr = 0.0
    if channels > 1:
        flat_res = residual.permute(1, 0, 2, 3).reshape(channels, -1)
        matrix = torch.corrcoef(flat_res)
        channel_corr = float((matrix.sum() - matrix.diagonal().sum()) / (channels * (channels - 1)))
    return GrainModel(level, max(0.0, min(correlation, 0.7)), max(0.0, channel_corr), int(flat.sum()))


def fir_tap(correlation: float) -> float:
    """The tap b of ``[b, 1, b]`` whose output has lag-1 autocorrelation ``correlation`` (<= 0.7):
    2b / (1 + 2b^2) = rho.

    Example:
        >>> round(fir_tap(0.0), 3), round(fir_tap(0.5), 3)
        (0.0, 0.293)
    """
    if correlation <= 0.0:
        return 0.0
    rho = min(correlation, 0.7)
    return (1.0 - math.sqrt(1.0 - 2.0 * rho * rho)) / (2.0 * rho)


def synthesise_grain(model: GrainModel, shape: tuple[int, int, int], *, seed: int = 0) -> torch.Tensor:
    """Unit-variance grain field ``(C, H, W)`` with the model's spectrum and channel correlation."""
    channels, height, width = shape
    generator = torch.Generator().manual_seed(seed)
    common = torch.randn((1, height + 2, width + 2), generator=generator)
    own = torch.randn((channels, height + 2, width + 2), generator=generator)
    share = model.channel_correlation
    white = math.sqrt(share) * common + math.sqrt(1.0 - share) * own
    tap = fir_tap(model.correlation)
    kernel = torch.tensor([tap, 1.0, tap]) / math.sqrt(1.0 + 2.0 * tap * tap)
    rows = F.conv2d(white[:, None], kernel.view(1, 1, 1, 3))
    return F.conv2d(rows, kernel.view(1, 1, 3, 1))[:, 0]


def blur_attenuation(coc_px: torch.Tensor) -> torch.Tensor:
    """The factor by which a disc blur of diameter ``|coc_px|`` lowers white grain's level: one over
    the square root of the disc's area in px (1 for discs smaller than a pixel).

    Example:
        >>> [round(v, 3) for v in blur_attenuation(torch.tensor([0.0, 4.0])).tolist()]
        [1.0, 0.282]
    """
    area_px = math.pi / 4 * coc_px.abs() ** 2
    return area_px.clamp_min(1.0).rsqrt()


def match_grain(image_encoded: torch.Tensor, model: GrainModel, present: GrainModel, added_coc_px: torch.Tensor,
                *, seed: int = 0) -> torch.Tensor:
    """Give pixels re-blurred by ``added_coc_px`` the grain level of ``model`` again.

    The grain a pixel had before (``present``, measured on the picture before the re-blur) survives
    the blur attenuated (:func:`blur_attenuation`); only the difference of variances is added:
    ``sqrt(target^2 - surviving^2)`` per channel and intensity.

    Args:
        image_encoded: ``(C, H, W)`` encoded colour in [0, 1], after the re-blur.
        model: the grain of the sharp region (:func:`measure_grain`).
        present: the grain of the re-blurred region before the re-blur (NaN levels count as none).
        added_coc_px: ``(H, W)`` CoC px of the blur added at each pixel (0: untouched, no grain added).
        seed: the grain's random seed (fixed, so a fix is reproducible).

    Returns:
        ``(C, H, W)`` in [0, 1].
    """
    intensity = image_encoded.mean(0)
    target = replace(model, level=_filled(model.level)).level_at(intensity)
    surviving = replace(present, level=_filled(present.level)).level_at(intensity) * blur_attenuation(added_coc_px)
    amount = (target**2 - surviving**2).clamp_min(0.0).sqrt() * (added_coc_px.abs() > 0)
    if float(amount.max()) < MIN_GRAIN:
        return image_encoded
    return (image_encoded + amount * synthesise_grain(model, tuple(image_encoded.shape), seed=seed)).clamp(0.0, 1.0)
