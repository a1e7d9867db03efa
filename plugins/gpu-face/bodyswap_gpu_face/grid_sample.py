"""5-D grid sampling decomposed into ops every backend runs (for exporting the warping network).

LivePortrait's warping network samples its 32 x 16 x 64 x 64 feature volume with a 5-D
`F.grid_sample` (trilinear). It exports to ONNX `GridSample` (opset 20), which onnxruntime's CPU
provider runs, but its CUDA provider and TensorRT do not (TensorRT's grid-sample layer is 4-D
only): onnxruntime would move that node to the CPU, with two device copies of the volume per frame.

`grid_sample_3d` computes the same thing from index arithmetic and `GatherElements` (eight corner
gathers of the flattened volume, weighted), which export to plain ONNX ops that CUDA and TensorRT
run. Use it when exporting (monkeypatch `torch.nn.functional.grid_sample` for 5-D inputs with
`patched_grid_sample()`); it matches `F.grid_sample(input, grid, mode="bilinear",
padding_mode="zeros", align_corners=False)` to float rounding. torch is needed only here, never
by the plugin at run time.
"""

from __future__ import annotations

import contextlib


def grid_sample_3d(volume, grid):
    """volume (N, C, D, H, W), grid (N, Do, Ho, Wo, 3) with (x, y, z) in [-1, 1] ->
    (N, C, Do, Ho, Wo); trilinear, zeros outside, align_corners=False."""
    import torch

    n, c, d, h, w = volume.shape
    out_shape = grid.shape[1:4]
    g = grid.reshape(n, -1, 3).float()  # coordinates and indices in fp32/int64 even for fp16 volumes
    x = ((g[..., 0] + 1) * w - 1) * 0.5
    y = ((g[..., 1] + 1) * h - 1) * 0.5
    z = ((g[..., 2] + 1) * d - 1) * 0.5
    x0, y0, z0 = torch.floor(x), torch.floor(y), torch.floor(z)
    flat = volume.reshape(n, c, d * h * w)
    out = torch.zeros(n, c, g.shape[1], dtype=volume.dtype, device=volume.device)
    for dz in (0, 1):
        zi = z0 + dz
        wz = 1 - torch.abs(z - zi)
        for dy in (0, 1):
            yi = y0 + dy
            wy = 1 - torch.abs(y - yi)
            for dx in (0, 1):
                xi = x0 + dx
                wx = 1 - torch.abs(x - xi)
                inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1) & (zi >= 0) & (zi <= d - 1)
                weight = (wx * wy * wz * inside.float()).to(volume.dtype)
                index = (zi.clamp(0, d - 1).long() * (h * w) + yi.clamp(0, h - 1).long() * w
                         + xi.clamp(0, w - 1).long())
                picked = torch.gather(flat, 2, index[:, None, :].expand(n, c, index.shape[1]))
                out = out + picked * weight[:, None, :]
    return out.reshape(n, c, *out_shape)


@contextlib.contextmanager
def patched_grid_sample():
    """While active, 5-D `F.grid_sample` calls use `grid_sample_3d` (for torch.onnx.export)."""
    import torch.nn.functional as F  # noqa: N812

    original = F.grid_sample

    def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):  # noqa: A002
        if input.dim() == 5 and mode == "bilinear" and padding_mode == "zeros" and not align_corners:
            return grid_sample_3d(input, grid)
        return original(input, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)

    F.grid_sample = grid_sample
    try:
        yield
    finally:
        F.grid_sample = original
