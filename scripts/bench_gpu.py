"""Benchmark of the GPU plugins' networks: LivePortrait-class faces and RVC-class voices, per backend
and precision, for 1 to 12 players, on random weights.

The released weights are not obtainable here, so the networks are written below in PyTorch from the
published architectures (LivePortrait: appearance feature extractor, motion extractor = ConvNeXtV2-
tiny with pose/expression heads, warping network = dense motion 3-D hourglass + 5-D grid sample,
SPADE generator; RVC v2: HuBERT-base content encoder, a pitch network, NSF-HiFiGAN generator) with
random weights and the published parameter counts (printed), so the speed is honest without the
weights. Quality is not measured here (random weights draw noise); fp16 is compared with fp32 by
PSNR on the same inputs.

Backends: torch eager (the reference; its 5-D grid sample is native), ONNX Runtime with the CUDA
provider and with the TensorRT provider, and TensorRT engines built from the same ONNX files
(cached under --cache, replayed in CUDA graphs where the shapes allow). The ONNX files are exported
with the 5-D grid sample decomposed into gathers (bodyswap_gpu_face.grid_sample), which the GPU
backends need; the table says how much that costs in torch and how far it is from the native op.

Per level (players = bodies converted per tick, one batched call): the per-tick latency of the
whole frame path (driver crops on the host -> motion extractor -> keypoint transfer and stitching
-> warping -> SPADE -> 512 x 512 frames back on the host) p50 / p95, throughput in frames a second,
and device memory per player. Voices: windows of 540 ms per 100 ms chunk (the gpu-voice plugin's
streaming), batched over streams; real-time factor = time per batched call / 100 ms.

    .venv-gpu/bin/python scripts/bench_gpu.py                  # on a GPU machine: writes docs/benchmarks.md
    .venv/bin/python scripts/bench_gpu.py --device cpu --quick # smoke check without a GPU (prints only)

Needs the `gpu` extra (torch, onnxruntime-gpu, tensorrt) and `onnx`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins" / "gpu-face"))  # the plugin's motion maths and grid sample
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402, N812
from torch import nn  # noqa: E402

from bodyswap_gpu_face import _motion  # noqa: E402
from bodyswap_gpu_face.grid_sample import grid_sample_3d, patched_grid_sample  # noqa: E402

from scripts.benchmarks import cpu_name, write_section  # noqa: E402

WINDOW, CHUNK_MS = 8640, 100  # the gpu-voice plugin's window (540 ms at 16 kHz) and chunk
SECTION = "gpu-plugins"
PUBLISHED_M = {"appearance": 0.84, "motion": 28.12, "warping": 45.53, "spade": 55.37}


# ==================================================================================================
# LivePortrait, after the published code (src/modules/*.py), random weights
# ==================================================================================================

class SameBlock2d(nn.Module):
    def __init__(self, cin, cout, k=3, lrelu=False):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout)
        self.act = nn.LeakyReLU() if lrelu else nn.ReLU()

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class DownBlock2d(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), 2)


class ResBlock3d(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm1, self.conv1 = nn.BatchNorm3d(c), nn.Conv3d(c, c, 3, padding=1)
        self.norm2, self.conv2 = nn.BatchNorm3d(c), nn.Conv3d(c, c, 3, padding=1)

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(out))) + x


class AppearanceFeatureExtractor(nn.Module):
    """256 x 256 RGB -> the 32 x 16 x 64 x 64 appearance feature volume (0.84 M)."""

    def __init__(self):
        super().__init__()
        self.first = SameBlock2d(3, 64)
        self.down = nn.Sequential(DownBlock2d(64, 128), DownBlock2d(128, 256))
        self.second = nn.Conv2d(256, 512, 1)
        self.resblocks_3d = nn.Sequential(*[ResBlock3d(32) for _ in range(6)])

    def forward(self, img):
        x = self.second(self.down(self.first(img)))
        return self.resblocks_3d(x.view(x.shape[0], 32, 16, 64, 64))


class LayerNorm2d(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.LayerNorm(c, eps=1e-6)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GRN(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gamma, self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim)), nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x):
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.grn, self.pwconv2 = nn.Linear(dim, 4 * dim), GRN(4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x):
        y = self.norm(self.dwconv(x).permute(0, 2, 3, 1))
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(y))))
        return x + y.permute(0, 3, 1, 2)


class MotionExtractor(nn.Module):
    """ConvNeXtV2-tiny + heads: pose bins, translation, expression, scale, keypoints (28.12 M)."""

    def __init__(self, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), num_kp=21, num_bins=66):
        super().__init__()
        self.downsample = nn.ModuleList([nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), LayerNorm2d(dims[0]))])
        for i in range(3):
            self.downsample.append(nn.Sequential(LayerNorm2d(dims[i]), nn.Conv2d(dims[i], dims[i + 1], 2, stride=2)))
        self.stages = nn.ModuleList([nn.Sequential(*[ConvNeXtV2Block(d) for _ in range(n)]) for d, n in zip(dims, depths)])
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.fc_kp, self.fc_scale, self.fc_t = nn.Linear(768, 3 * num_kp), nn.Linear(768, 1), nn.Linear(768, 3)
        self.fc_pitch, self.fc_yaw, self.fc_roll = (nn.Linear(768, num_bins) for _ in range(3))
        self.fc_exp = nn.Linear(768, 3 * num_kp)

    def forward(self, img):
        x = img
        for down, stage in zip(self.downsample, self.stages):
            x = stage(down(x))
        x = self.norm(x.mean([-2, -1]))
        return (self.fc_pitch(x), self.fc_yaw(x), self.fc_roll(x), self.fc_t(x), self.fc_exp(x),
                self.fc_scale(x), self.fc_kp(x))


class DownBlock3d(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv, self.norm = nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout)

    def forward(self, x):
        return F.avg_pool3d(F.relu(self.norm(self.conv(x))), (1, 2, 2))


class UpBlock3d(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv, self.norm = nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout)

    def forward(self, x):
        return F.relu(self.norm(self.conv(F.interpolate(x, scale_factor=(1, 2, 2)))))


class Hourglass(nn.Module):
    def __init__(self, block_expansion=32, in_features=110, num_blocks=5, max_features=1024):
        super().__init__()
        def ch(i):
            return min(max_features, block_expansion * 2**i)
        self.down = nn.ModuleList([DownBlock3d(in_features if i == 0 else ch(i), ch(i + 1)) for i in range(num_blocks)])
        self.up = nn.ModuleList([UpBlock3d((1 if i == num_blocks - 1 else 2) * ch(i + 1), ch(i))
                                 for i in reversed(range(num_blocks))])
        self.out_filters = block_expansion + in_features
        self.conv, self.norm = nn.Conv3d(self.out_filters, self.out_filters, 3, padding=1), nn.BatchNorm3d(self.out_filters)

    def forward(self, x):
        outs = [x]
        for block in self.down:
            outs.append(block(outs[-1]))
        out = outs.pop()
        for block in self.up:
            out = torch.cat([block(out), outs.pop()], dim=1)
        return F.relu(self.norm(self.conv(out)))


def coordinate_grid(d, h, w, ref):
    z, y, x = (torch.linspace(-1, 1, n, device=ref.device, dtype=ref.dtype) for n in (d, h, w))
    zz, yy, xx = torch.meshgrid(z, y, x, indexing="ij")
    return torch.stack([xx, yy, zz], -1)  # (d, h, w, 3)


class DenseMotionNetwork(nn.Module):
    def __init__(self, num_kp=21, feature_channel=32, compress=4, reshape_depth=16):
        super().__init__()
        self.num_kp = num_kp
        self.hourglass = Hourglass(32, (num_kp + 1) * (compress + 1), 5, 1024)
        self.mask = nn.Conv3d(self.hourglass.out_filters, num_kp + 1, 7, padding=3)
        self.compress, self.norm = nn.Conv3d(feature_channel, compress, 1), nn.BatchNorm3d(compress)
        self.occlusion = nn.Conv2d(self.hourglass.out_filters * reshape_depth, 1, 7, padding=3)

    def forward(self, feature, kp_driving, kp_source):
        bs, _, d, h, w = feature.shape
        feature = F.relu(self.norm(self.compress(feature)))
        k = self.num_kp
        identity = coordinate_grid(d, h, w, kp_source).view(1, 1, d, h, w, 3)
        to_source = identity - kp_driving.view(bs, k, 1, 1, 1, 3) + kp_source.view(bs, k, 1, 1, 1, 3)
        sparse = torch.cat([identity.expand(bs, 1, d, h, w, 3), to_source], dim=1)  # (bs, k+1, d, h, w, 3)
        repeated = feature.unsqueeze(1).expand(bs, k + 1, -1, d, h, w).reshape(bs * (k + 1), -1, d, h, w)
        deformed = F.grid_sample(repeated, sparse.reshape(bs * (k + 1), d, h, w, 3), align_corners=False)
        deformed = deformed.view(bs, k + 1, -1, d, h, w)
        grid = coordinate_grid(d, h, w, kp_source).view(1, 1, d, h, w, 3)

        def gaussian(kp):
            return torch.exp(-0.5 * ((grid - kp.view(bs, k, 1, 1, 1, 3)) ** 2).sum(-1) / 0.01)

        heat = gaussian(kp_driving) - gaussian(kp_source)
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], dim=1).unsqueeze(2)
        prediction = self.hourglass(torch.cat([heat, deformed], dim=2).view(bs, -1, d, h, w))
        mask = F.softmax(self.mask(prediction), dim=1).unsqueeze(2)  # (bs, k+1, 1, d, h, w)
        deformation = (sparse.permute(0, 1, 5, 2, 3, 4) * mask).sum(dim=1).permute(0, 2, 3, 4, 1)
        occlusion = torch.sigmoid(self.occlusion(prediction.reshape(bs, -1, h, w)))
        return deformation, occlusion


class WarpingNetwork(nn.Module):
    """Feature volume + source/driving keypoints -> 256 x 64 x 64 warped features (45.53 M)."""

    def __init__(self):
        super().__init__()
        self.dense_motion_network = DenseMotionNetwork()
        self.third = SameBlock2d(512, 256, 3, lrelu=True)
        self.fourth = nn.Conv2d(256, 256, 1)

    def forward(self, feature_3d, kp_source, kp_driving):
        deformation, occlusion = self.dense_motion_network(feature_3d, kp_driving, kp_source)
        out = F.grid_sample(feature_3d, deformation, align_corners=False)
        bs, c, d, h, w = out.shape
        return self.fourth(self.third(out.view(bs, c * d, h, w))) * occlusion


class SPADE(nn.Module):
    def __init__(self, norm_nc, label_nc=256, hidden=128):
        super().__init__()
        self.norm = nn.InstanceNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma, self.mlp_beta = nn.Conv2d(hidden, norm_nc, 3, padding=1), nn.Conv2d(hidden, norm_nc, 3, padding=1)

    def forward(self, x, seg):
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return self.norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    def __init__(self, fin, fout):
        super().__init__()
        mid = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0, self.conv_1 = nn.Conv2d(fin, mid, 3, padding=1), nn.Conv2d(mid, fout, 3, padding=1)
        self.norm_0, self.norm_1 = SPADE(fin), SPADE(mid)
        if self.learned_shortcut:
            self.conv_s, self.norm_s = nn.Conv2d(fin, fout, 1, bias=False), SPADE(fin)

    def forward(self, x, seg):
        xs = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 2e-1))
        return xs + self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 2e-1))


class SPADEGenerator(nn.Module):
    """256 x 64 x 64 warped features -> 3 x 512 x 512 image (55.37 M)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Conv2d(256, 512, 3, padding=1)
        self.middle = nn.ModuleList([SPADEResnetBlock(512, 512) for _ in range(6)])
        self.up_0, self.up_1 = SPADEResnetBlock(512, 256), SPADEResnetBlock(256, 64)
        self.conv_img = nn.Sequential(nn.Conv2d(64, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, feature):
        x = self.fc(feature)
        for block in self.middle:
            x = block(x, feature)
        x = self.up_0(F.interpolate(x, scale_factor=2), feature)
        x = self.up_1(F.interpolate(x, scale_factor=2), feature)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 2e-1)))


class StitchingMLP(nn.Module):
    def __init__(self, cin=126, cout=65, hidden=(128, 128, 64)):
        super().__init__()
        layers, last = [], cin
        for h in hidden:
            layers += [nn.Linear(last, h), nn.ReLU()]
            last = h
        self.mlp = nn.Sequential(*layers, nn.Linear(last, cout))

    def forward(self, x):
        return self.mlp(x)


def face_networks() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    nets = {"appearance": AppearanceFeatureExtractor(), "motion": MotionExtractor(), "warping": WarpingNetwork(),
            "spade": SPADEGenerator(), "stitching": StitchingMLP()}
    with torch.no_grad():  # keep random activations in a sane range through the deep stacks
        for net in nets.values():
            for m in net.modules():
                if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)) and m.weight.dim() > 1:
                    fan_in = m.weight[0].numel()
                    m.weight.normal_(0, 1.0 / math.sqrt(fan_in))
            net.eval()
    return nets


def params_m(net: nn.Module) -> float:
    return sum(p.numel() for p in net.parameters()) / 1e6


# ==================================================================================================
# RVC v2 class voice networks (HuBERT-base content encoder, pitch CNN, NSF-HiFiGAN generator)
# ==================================================================================================

class HubertLike(nn.Module):
    """HuBERT-base: 7-layer conv front end (320-sample hop), 12 transformer layers of 768 (~94 M)."""

    def __init__(self):
        super().__init__()
        convs, cin = [], 1
        for k, s in [(10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2)]:
            convs += [nn.Conv1d(cin, 512, k, stride=s, bias=False), nn.GELU()]
            cin = 512
        self.front = nn.Sequential(*convs)
        self.norm = nn.LayerNorm(512)
        self.proj = nn.Linear(512, 768)
        self.pos = nn.Conv1d(768, 768, 128, padding=64, groups=16)
        layer = nn.TransformerEncoderLayer(768, 12, 3072, activation="gelu", batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, 12, enable_nested_tensor=False)

    def forward(self, audio):
        x = self.front(audio[:, None]).transpose(1, 2)
        x = self.proj(self.norm(x))
        x = x + F.gelu(self.pos(x.transpose(1, 2))[..., : x.shape[1]]).transpose(1, 2)
        return self.encoder(x)


class PitchNet(nn.Module):
    """A CREPE-class pitch CNN on 1024-sample frames at a 160-sample hop (360 bins -> Hz)."""

    def __init__(self):
        super().__init__()
        chans = [1, 256, 32, 32, 32, 64, 128]
        layers = []
        for i in range(6):
            layers += [nn.Conv1d(chans[i], chans[i + 1], 64 if i else 512, stride=4 if i == 0 else 1,
                                 padding="same" if i else 254), nn.BatchNorm1d(chans[i + 1]), nn.ReLU(), nn.MaxPool1d(2)]
        self.net = nn.Sequential(*layers)
        self.head = nn.Linear(128 * 4, 360)
        self.register_buffer("cents", torch.linspace(1997.38, 7180.0, 360))
        # framing of the 540 ms window as one gather (exports to ONNX, unlike unfold)
        self.register_buffer("frame_index", torch.arange(1024)[None, :] + 160 * torch.arange(WINDOW // 160)[:, None])

    def forward(self, audio):
        b, n = audio.shape
        padded = F.pad(audio, (512, 512))
        frames = padded[:, self.frame_index]  # (b, t, 1024)
        t = frames.shape[1]
        x = self.net(frames.reshape(b * t, 1, 1024))
        probs = torch.sigmoid(self.head(x.flatten(1))).view(b, t, 360)
        cents = (probs * self.cents).sum(-1) / probs.sum(-1).clamp(min=1e-6)
        return 10 * 2 ** (cents / 1200)


class ResBlock1(nn.Module):
    def __init__(self, c, k, dilations=(1, 3, 5)):
        super().__init__()
        self.c1 = nn.ModuleList([nn.Conv1d(c, c, k, dilation=d, padding=(k * d - d) // 2) for d in dilations])
        self.c2 = nn.ModuleList([nn.Conv1d(c, c, k, padding=k // 2) for _ in dilations])

    def forward(self, x):
        for a, b in zip(self.c1, self.c2):
            x = x + b(F.leaky_relu(a(F.leaky_relu(x, 0.1)), 0.1))
        return x


class RVCGenerator(nn.Module):
    """RVC v2 40 kHz synthesiser at inference: text encoder (6 attention layers of 192), a 4-step
    coupling flow (reverse), NSF-HiFiGAN decoder (512 channels, upsampling 10 x 10 x 2 x 2)."""

    def __init__(self, rate=40000, ups=(10, 10, 2, 2), kernels=(16, 16, 4, 4), ch=512):
        super().__init__()
        self.rate, self.hop = rate, int(np.prod(ups))
        self.emb_phone, self.emb_pitch = nn.Linear(768, 192), nn.Embedding(256, 192)
        layer = nn.TransformerEncoderLayer(192, 2, 768, batch_first=True)
        self.enc_p = nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)
        self.proj = nn.Conv1d(192, 384, 1)
        self.emb_g = nn.Embedding(1, 256)
        self.flows = nn.ModuleList([nn.Sequential(nn.Conv1d(96 + 256, 192, 5, padding=2), nn.Tanh(),
                                                  nn.Conv1d(192, 192, 5, padding=2), nn.Tanh(),
                                                  nn.Conv1d(192, 96, 1)) for _ in range(4)])
        self.conv_pre = nn.Conv1d(192, ch, 7, padding=3)
        self.ups, self.noise_convs, self.resblocks = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c = ch
        for i, (u, k) in enumerate(zip(ups, kernels)):
            self.ups.append(nn.ConvTranspose1d(c, c // 2, k, u, padding=(k - u) // 2))
            c //= 2
            stride = int(np.prod(ups[i + 1 :]))
            self.noise_convs.append(nn.Conv1d(1, c, stride * 2 if stride > 1 else 1, stride=stride, padding=stride // 2))
            self.resblocks.extend(ResBlock1(c, kk) for kk in (3, 7, 11))
        self.conv_post = nn.Conv1d(c, 1, 7, padding=3)
        self.cond = nn.Conv1d(256, ch, 1)

    def forward(self, phone, phone_lengths, pitch, pitchf, ds, rnd):
        mask = (torch.arange(phone.shape[1], device=phone.device)[None] < phone_lengths[:, None]).to(phone.dtype)
        x = self.enc_p(self.emb_phone(phone) + self.emb_pitch(pitch)) * mask[..., None]
        m, logs = self.proj(x.transpose(1, 2)).chunk(2, dim=1)
        z = m + torch.exp(logs) * rnd * 0.66666
        g = self.emb_g(ds)[:, :, None]
        for flow in reversed(self.flows):
            z0, z1 = z.chunk(2, dim=1)
            z = torch.cat([z0, z1 - flow(torch.cat([z0, g.expand(-1, -1, z.shape[2])], 1))], 1).flip(1)
        # NSF source: a sine at F0, upsampled to the output rate
        f0 = F.interpolate(pitchf[:, None], scale_factor=float(self.hop), mode="nearest")
        sine = torch.sin(2 * math.pi * torch.cumsum(f0 / self.rate, dim=2)) * 0.1 * (f0 > 0)
        x = self.conv_pre(z) + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            n = self.noise_convs[i](sine)
            x = x + n[..., : x.shape[2]]
            x = sum(self.resblocks[3 * i + j](x) for j in range(3)) / 3
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


def voice_networks() -> dict[str, nn.Module]:
    torch.manual_seed(1)
    nets = {"content": HubertLike(), "pitch": PitchNet(), "generator": RVCGenerator()}
    with torch.no_grad():
        for net in nets.values():
            for mod in net.modules():
                if isinstance(mod, (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)) and mod.weight.dim() > 1:
                    mod.weight.normal_(0, 1.0 / math.sqrt(mod.weight[0].numel()))
            net.eval()
    return nets


# ==================================================================================================
# Backends
# ==================================================================================================

RESIDENT = {"feature_3d"}  # inputs that stay on the device between ticks (the targets' feature volumes)
FACE_IO = {
    "motion": (["img"], ["pitch", "yaw", "roll", "t", "exp", "scale", "kp"]),
    "stitching": (["input"], ["output"]),
    "warping": (["feature_3d", "kp_source", "kp_driving"], ["out"]),
    "spade": (["feature"], ["out"]),
    "appearance": (["img"], ["feature_3d"]),
}


def export_onnx(net: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
                dynamic: dict[str, dict[int, str]]) -> Path:
    """Legacy (TorchScript) exporter: it needs no onnxscript; 5-D grid samples decomposed."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused encoder layer has no ONNX export
    with torch.no_grad(), patched_grid_sample(), contextlib.ExitStack() as stack:
        stack.callback(torch.backends.mha.set_fastpath_enabled, fastpath)
        torch.onnx.export(net, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=17, do_constant_folding=True, dynamo=False)
    return path


class Backend:
    """Runs a named network on batched numpy inputs, returning numpy outputs."""

    name = "?"

    def run(self, key: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class TorchBackend(Backend):
    def __init__(self, nets, device, fp16, keep_fp32=("motion", "stitching", "pitch")):
        self.name = "torch eager"
        self.device, self.fp16 = device, fp16
        self.nets = {}
        self.dtypes = {}
        for key, net in nets.items():
            dtype = torch.float16 if fp16 and key not in keep_fp32 else torch.float32
            self.nets[key] = net.to(device=device, dtype=dtype) if dtype == torch.float16 else net.to(device)
            self.dtypes[key] = dtype
        self.io = FACE_IO
        self.resident: dict = {}

    def run(self, key, feeds):
        net, dtype = self.nets[key], self.dtypes[key]
        args = []
        for name, v in feeds.items():
            if name in RESIDENT:  # the targets' feature volumes stay on the device, as in the plugin
                cached = self.resident.get(name)
                if cached is None or cached[0] is not v:
                    cached = (v, torch.from_numpy(v).to(self.device, dtype=dtype))
                    self.resident[name] = cached
                args.append(cached[1])
            else:
                args.append(torch.from_numpy(np.ascontiguousarray(v)).to(self.device, dtype=dtype if v.dtype.kind == "f" else None))
        with torch.inference_mode():
            out = net(*args)
        outs = out if isinstance(out, tuple) else (out,)
        return [o.float().cpu().numpy() for o in outs]

    def release(self, nets):  # give the models back to fp32 on the CPU for the next backend
        for key, net in nets.items():
            net.to("cpu", dtype=torch.float32)


class OrtBackend(Backend):
    def __init__(self, files: dict[str, Path], provider: str, fp16: bool, cache: Path, device_id=0):
        import onnxruntime as ort

        self.name = {"TensorrtExecutionProvider": "ORT TensorRT", "CUDAExecutionProvider": "ORT CUDA",
                     "CPUExecutionProvider": "ORT CPU"}[provider]
        if provider not in ort.get_available_providers():
            raise RuntimeError(f"{provider} is not in this onnxruntime build")
        self.sessions, self.resident = {}, {}
        for key, path in files.items():
            options = ort.SessionOptions()
            options.log_severity_level = 3
            if provider == "TensorrtExecutionProvider":
                trt_fp16 = fp16 and key not in ("motion", "stitching", "pitch")
                providers = [(provider, {"trt_fp16_enable": trt_fp16, "trt_engine_cache_enable": True,
                                         "trt_engine_cache_path": str(cache / "ort-trt"), "trt_max_workspace_size": 8 << 30,
                                         "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache / "ort-trt")}),
                             ("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]
            elif provider == "CUDAExecutionProvider":
                providers = [(provider, {"device_id": device_id, "cudnn_conv_algo_search": "EXHAUSTIVE"}), "CPUExecutionProvider"]
            else:
                providers = [provider]
            session = ort.InferenceSession(str(path), options, providers=providers)
            self.device = "cpu" if provider == "CPUExecutionProvider" else "cuda"
            self.sessions[key] = (session, {i.name: (np.float16 if i.type == "tensor(float16)" else
                                                      np.int64 if i.type == "tensor(int64)" else np.float32)
                                            for i in session.get_inputs()})

    def run(self, key, feeds):
        import onnxruntime as ort

        session, dtypes = self.sessions[key]
        feeds = {k: v for k, v in feeds.items() if k in dtypes}
        if not RESIDENT & feeds.keys():
            feeds = {k: np.ascontiguousarray(v, dtype=dtypes[k]) for k, v in feeds.items()}
            return [o.astype(np.float32, copy=False) for o in session.run(None, feeds)]
        values = {}
        for name, v in feeds.items():
            if name in RESIDENT:  # uploaded once, as the plugin's I/O binding does
                cached = self.resident.get(name)
                if cached is None or cached[0] is not v:
                    cached = (v, ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v, dtypes[name]), self.device, 0))
                    self.resident[name] = cached
                values[name] = cached[1]
            else:
                values[name] = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v, dtypes[name]))
        outs = session.run_with_ort_values([o.name for o in session.get_outputs()], values)
        return [o.numpy().astype(np.float32, copy=False) for o in outs]


class TrtBackend(Backend):
    """TensorRT engines built from the ONNX files (cached), one optimisation profile for batches
    1..max, replayed through CUDA graphs per batch size when capture works."""

    def __init__(self, files: dict[str, Path], fp16: bool, cache: Path, max_batch: int, shapes: dict, graphs=True):
        import tensorrt as trt

        self.trt, self.name, self.graphs_ok = trt, "TensorRT engine", graphs
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.engines, self.contexts, self.graphs = {}, {}, {}
        for key, path in files.items():
            half = fp16 and key not in ("motion", "stitching", "pitch")
            plan = cache / "trt" / f"{path.stem}-{'fp16' if half else 'fp32'}-b{max_batch}-{trt.__version__}.plan"
            if not plan.exists():
                plan.parent.mkdir(parents=True, exist_ok=True)
                plan.write_bytes(self._build(path, half, max_batch, shapes[key]))
            engine = trt.Runtime(self.logger).deserialize_cuda_engine(plan.read_bytes())
            self.engines[key], self.contexts[key] = engine, engine.create_execution_context()

    def _build(self, path, half, max_batch, shapes):
        trt = self.trt
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse_from_file(str(path)):
            raise RuntimeError(f"TensorRT cannot parse {path.name}: {parser.get_error(0)}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 8 << 30)
        if half:
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            name = network.get_input(i).name
            rest = shapes[name]
            profile.set_shape(name, (1, *rest), (max_batch, *rest), (max_batch, *rest))
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError(f"TensorRT could not build {path.name}")
        return bytes(serialized)

    def _dtype(self, engine, name):
        kind = engine.get_tensor_dtype(name)
        return {self.trt.DataType.HALF: torch.float16, self.trt.DataType.INT64: torch.int64,
                self.trt.DataType.INT32: torch.int32}.get(kind, torch.float32)

    def _slot(self, key, feeds):
        """Static device buffers for this model at these shapes (one shape per model at a time, as
        the levels run one after another), and a CUDA graph of the engine on them if capture works."""
        shapes = tuple((k, v.shape) for k, v in feeds.items())
        slot = self.graphs.get(key)
        if slot is not None and slot["shapes"] == shapes:
            return slot
        engine, context = self.engines[key], self.contexts[key]
        inputs = {}
        for name, value in feeds.items():
            t = torch.empty(value.shape, dtype=self._dtype(engine, name), device="cuda")
            context.set_input_shape(name, tuple(t.shape))
            context.set_tensor_address(name, t.data_ptr())
            inputs[name] = t
        outputs = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) == self.trt.TensorIOMode.OUTPUT:
                out = torch.empty(tuple(context.get_tensor_shape(name)), dtype=self._dtype(engine, name), device="cuda")
                context.set_tensor_address(name, out.data_ptr())
                outputs.append(out)
        stream = torch.cuda.Stream()
        slot = {"shapes": shapes, "inputs": inputs, "outputs": outputs, "stream": stream, "graph": None}
        with torch.cuda.stream(stream):
            context.execute_async_v3(stream.cuda_stream)  # first run outside capture (lazy set-up)
            stream.synchronize()
            if self.graphs_ok:
                try:
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph, stream=stream):
                        context.execute_async_v3(stream.cuda_stream)
                    slot["graph"] = graph
                except Exception as e:  # noqa: BLE001 - fall back to plain launches
                    print(f"  CUDA graph capture of {key} failed ({e}); plain launches", flush=True)
        self.graphs[key] = slot
        return slot

    def run(self, key, feeds):
        slot = self._slot(key, feeds)
        stream = slot["stream"]
        with torch.cuda.stream(stream):
            for name, value in feeds.items():
                if name in RESIDENT and slot.get(("source", name)) is value:
                    continue  # the feature volumes are already on the device
                slot["inputs"][name].copy_(torch.from_numpy(np.ascontiguousarray(value)), non_blocking=False)
                slot[("source", name)] = value
            if slot["graph"] is not None:
                slot["graph"].replay()
            else:
                self.contexts[key].execute_async_v3(stream.cuda_stream)
            outs = [o.float().cpu().numpy() for o in slot["outputs"]]
        return outs


# ==================================================================================================
# The face frame path and the measurements
# ==================================================================================================

def face_tick(backend: Backend, crops: np.ndarray, features: np.ndarray, target: _motion.Motion) -> np.ndarray:
    """One tick for B bodies, as the gpu-face plugin runs it: crops -> 512 x 512 frames on the host."""
    b = crops.shape[0]
    driver = _motion.Motion.decode(*backend.run("motion", {"img": crops}))
    neutral = driver  # the transfer's arithmetic is the same whatever the neutral frame
    x_s = target.keypoints()
    x_d = _motion.relative_keypoints(target, neutral, driver)
    (delta,) = backend.run("stitching", {"input": np.concatenate([x_s.reshape(b, -1), x_d.reshape(b, -1)], 1)})
    x_d = _motion.apply_stitching(x_d, delta)
    (warped,) = backend.run("warping", {"feature_3d": features, "kp_source": x_s, "kp_driving": x_d})
    (image,) = backend.run("spade", {"feature": warped})
    return image


@dataclass
class Row:
    backend: str
    precision: str
    players: int
    p50: float = float("nan")
    p95: float = float("nan")
    fps: float = float("nan")
    mem_mb: float = float("nan")
    note: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    psnr: dict[str, float] = field(default_factory=dict)
    voice: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def device_memory_mb(device: str) -> float:
    if device != "cuda":
        return float("nan")
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**20


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def measure(fn, iters: int, warmup: int, sync) -> list[float]:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    return times


def target_of(nets, rng: np.random.Generator) -> tuple[np.ndarray, _motion.Motion]:
    """One target's feature volume and motion (prepare's work), on the CPU before any backend."""
    crop = torch.from_numpy(rng.random((1, 3, 256, 256), dtype=np.float32))
    with torch.inference_mode():
        feature = nets["appearance"](crop).numpy()
        motion = _motion.Motion.decode(*(t.numpy() for t in nets["motion"](crop)))
    return feature, motion


def face_inputs(players: int, rng: np.random.Generator, target) -> tuple[np.ndarray, np.ndarray, _motion.Motion]:
    feature, motion = target
    crops = rng.random((players, 3, 256, 256), dtype=np.float32)
    return crops, np.repeat(feature, players, axis=0), _motion.Motion.stack([motion] * players)


def bench_face(args, nets, results: Results, onnx_files: dict[str, Path] | None) -> None:
    device = args.device
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    levels = args.players
    reference: np.ndarray | None = None
    target = target_of(nets, np.random.default_rng(42))
    fixed = face_inputs(1, np.random.default_rng(42), target)
    for backend_name in args.backends:
        for precision in args.precisions:
            fp16 = precision == "fp16"
            if fp16 and device == "cpu":
                continue  # half convolutions on the CPU measure nothing useful
            try:
                backend = make_backend(backend_name, nets, device, fp16, onnx_files, args, "face")
            except Exception as e:  # noqa: BLE001 - a backend this machine lacks is a row saying why
                results.rows.append(Row(backend_name, precision, 0, note=f"unavailable: {str(e).splitlines()[0][:120]}"))
                print(f"  {backend_name} {precision}: unavailable ({e})", flush=True)
                continue
            out = face_tick(backend, *fixed)
            if backend_name == "eager" and not fp16:
                reference = out
            elif reference is not None:
                results.psnr[f"{backend.name} {precision}"] = psnr(out, reference)
            base_mem = device_memory_mb(device)
            for players in levels:
                crops, features, targets = face_inputs(players, rng, target)
                try:
                    times = measure(lambda b=backend: face_tick(b, crops, features, targets), args.iters, args.warmup, sync)
                except Exception as e:  # noqa: BLE001 - out of memory at a level ends the backend's levels
                    results.rows.append(Row(backend.name, precision, players, note=f"failed: {str(e).splitlines()[0][:120]}"))
                    break
                p50, p95 = np.percentile(times, [50, 95])
                mem = (device_memory_mb(device) - base_mem) / players
                row = Row(backend.name, precision, players, p50, p95, players * 1000 / float(np.mean(times)), mem)
                results.rows.append(row)
                print(f"  {row.backend:16s} {precision} {players:2d} players: p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  "
                      f"{row.fps:7.1f} frames/s", flush=True)
            if isinstance(backend, TorchBackend):
                backend.release(nets)
            del backend
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()


def make_backend(name, nets, device, fp16, onnx_files, args, kind):
    if name == "eager":
        return TorchBackend(nets, device, fp16)
    if onnx_files is None:
        raise RuntimeError("no ONNX export")
    if name == "ort-cuda":
        files = onnx_files if not fp16 else export_half(nets, onnx_files, args, kind)
        return OrtBackend(files, "CUDAExecutionProvider", fp16, args.cache)
    if name == "ort-trt":
        return OrtBackend(onnx_files, "TensorrtExecutionProvider", fp16, args.cache)
    if name == "ort-cpu":
        return OrtBackend(onnx_files, "CPUExecutionProvider", fp16, args.cache)
    if name == "trt":
        return TrtBackend(onnx_files, fp16, args.cache, max(args.players if kind == "face" else args.streams),
                          FACE_SHAPES if kind == "face" else VOICE_SHAPES)
    raise ValueError(name)


FACE_SHAPES = {
    "motion": {"img": (3, 256, 256)}, "stitching": {"input": (126,)}, "appearance": {"img": (3, 256, 256)},
    "warping": {"feature_3d": (32, 16, 64, 64), "kp_source": (21, 3), "kp_driving": (21, 3)},
    "spade": {"feature": (256, 64, 64)},
}
VOICE_SHAPES = {"content": {"audio": (8640,)}, "pitch": {"audio": (8640,)},
                "generator": {"phone": (54, 768), "phone_lengths": (), "pitch": (54,), "pitchf": (54,), "ds": (),
                              "rnd": (192, 54)}}


def export_face(nets, folder: Path, half: bool = False, device: str = "cpu") -> dict[str, Path]:
    dtype = torch.float16 if half else torch.float32
    suffix = "-fp16" if half else ""
    files = {}
    b = {0: "batch"}

    def mv(net, key):
        return net.to(device, dtype=dtype if key not in ("motion", "stitching") else torch.float32)

    def t(*shape, key="x"):
        return torch.rand(*shape, device=device, dtype=dtype if key not in ("motion", "stitching") else torch.float32)

    specs = {
        "motion": ((t(1, 3, 256, 256, key="motion"),), FACE_IO["motion"]),
        "stitching": ((t(1, 126, key="stitching"),), FACE_IO["stitching"]),
        "warping": ((t(1, 32, 16, 64, 64), t(1, 21, 3) * 0.5, t(1, 21, 3) * 0.5), FACE_IO["warping"]),
        "spade": ((t(1, 256, 64, 64),), FACE_IO["spade"]),
    }
    for key, (example, (inputs, outputs)) in specs.items():
        net = mv(nets[key], key)
        files[key] = export_onnx(net, example, folder / f"{key}{suffix}.onnx", inputs, outputs,
                                 {n: b for n in inputs + outputs})
        nets[key].to("cpu", dtype=torch.float32)
    return files


def export_half(nets, files, args, kind):
    if args.device != "cuda":
        raise RuntimeError("fp16 ONNX export needs CUDA")
    if kind == "face":
        return export_face(nets, args.cache / "onnx", half=True, device="cuda")
    return export_voice(nets, args.cache / "onnx", half=True, device="cuda")


def grid_sample_check(args, nets, results: Results) -> None:
    """The native 5-D grid sample against the decomposition (the warping network both ways)."""
    device = args.device
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    net = nets["warping"].to(device)
    feature = torch.rand(1, 32, 16, 64, 64, device=device)
    kp_s, kp_d = torch.rand(1, 21, 3, device=device) - 0.5, torch.rand(1, 21, 3, device=device) - 0.5
    vol = torch.rand(2, 32, 16, 64, 64, device=device)
    grid = torch.rand(2, 16, 64, 64, 3, device=device) * 2.2 - 1.1
    with torch.inference_mode():
        diff = (F.grid_sample(vol, grid, align_corners=False) - grid_sample_3d(vol, grid)).abs().max().item()
        native = measure(lambda: net(feature, kp_s, kp_d), args.iters, args.warmup, sync)
        with patched_grid_sample():
            decomposed = measure(lambda: net(feature, kp_s, kp_d), args.iters, args.warmup, sync)
    net.to("cpu")
    results.notes.append(
        f"5-D grid sample: the decomposition (8 gathers) differs from torch's native op by at most {diff:.1e}; "
        f"warping network in torch eager fp32 at 1 player: native {np.median(native):.1f} ms, "
        f"decomposed {np.median(decomposed):.1f} ms (ONNX Runtime and TensorRT run the decomposed form).")
    print("  " + results.notes[-1], flush=True)


# -- voices ---------------------------------------------------------------------------------------

def export_voice(nets, folder: Path, half: bool = False, device: str = "cpu") -> dict[str, Path]:
    dtype = torch.float16 if half else torch.float32
    suffix = "-fp16" if half else ""
    b = {0: "batch"}
    files = {}
    f = 54
    specs = {
        "content": ((torch.rand(1, WINDOW, device=device, dtype=dtype) - 0.5,), ["audio"], ["features"]),
        "pitch": ((torch.rand(1, WINDOW, device=device) - 0.5,), ["audio"], ["f0"]),
        "generator": ((torch.rand(1, f, 768, device=device, dtype=dtype), torch.full((1,), f, device=device),
                       torch.randint(1, 255, (1, f), device=device), torch.rand(1, f, device=device, dtype=dtype) * 200 + 100,
                       torch.zeros(1, dtype=torch.long, device=device), torch.randn(1, 192, f, device=device, dtype=dtype)),
                      ["phone", "phone_lengths", "pitch", "pitchf", "ds", "rnd"], ["audio"]),
    }
    for key, (example, inputs, outputs) in specs.items():
        net = nets[key].to(device, dtype=dtype if key != "pitch" else torch.float32)
        files[key] = export_onnx(net, example, folder / f"voice-{key}{suffix}.onnx", inputs, outputs,
                                 {n: b for n in inputs + outputs})
        nets[key].to("cpu", dtype=torch.float32)
    return files


def voice_tick(backend: Backend, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    b = windows.shape[0]
    (features,) = backend.run("content", {"audio": windows})
    (f0,) = backend.run("pitch", {"audio": windows})
    frames = WINDOW // 160
    if features.shape[1] < frames // 2:  # HuBERT's conv stack gives a frame less: repeat the last (as the plugin)
        features = np.concatenate([features, np.repeat(features[:, -1:], frames // 2 - features.shape[1], 1)], 1)
    phone = np.repeat(features[:, : frames // 2], 2, axis=1)
    f0 = f0[:, :frames]
    pitch = np.clip(np.rint(1127 * np.log1p(np.maximum(f0, 0) / 700) / 10), 1, 255).astype(np.int64)
    (audio,) = backend.run("generator", {"phone": phone, "phone_lengths": np.full(b, frames, np.int64), "pitch": pitch,
                                         "pitchf": f0.astype(np.float32), "ds": np.zeros(b, np.int64),
                                         "rnd": rng.standard_normal((b, 192, frames)).astype(np.float32)})
    return audio


def bench_voice(args, nets, results: Results, onnx_files) -> None:
    device = args.device
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    for backend_name in [b for b in args.backends if b != "trt"]:
        for precision in args.precisions:
            fp16 = precision == "fp16"
            if fp16 and device == "cpu":
                continue
            try:
                if backend_name == "eager":
                    backend = TorchBackend(nets, device, fp16)
                else:
                    backend = make_backend(backend_name, nets, device, fp16, onnx_files, args, "voice")
            except Exception as e:  # noqa: BLE001
                results.voice.append(Row(backend_name, precision, 0, note=f"unavailable: {str(e).splitlines()[0][:120]}"))
                continue
            for streams in args.streams:
                windows = (rng.random((streams, WINDOW), dtype=np.float32) - 0.5) * 0.2
                try:
                    times = measure(lambda b=backend: voice_tick(b, windows, rng), args.iters, args.warmup, sync)
                except Exception as e:  # noqa: BLE001
                    results.voice.append(Row(backend.name, precision, streams, note=f"failed: {str(e).splitlines()[0][:120]}"))
                    break
                p50, p95 = np.percentile(times, [50, 95])
                row = Row(backend.name, precision, streams, p50, p95, p95 / CHUNK_MS)  # fps column holds the RTF
                results.voice.append(row)
                print(f"  voice {row.backend:16s} {precision} {streams:2d} streams: p50 {p50:8.1f} ms  "
                      f"RTF(p95) {row.fps:6.3f}", flush=True)
            if isinstance(backend, TorchBackend):
                backend.release(nets)
            del backend
            gc.collect()


# -- report ---------------------------------------------------------------------------------------

def machine(device: str) -> str:
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        return f"{torch.cuda.get_device_name(0)} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
    return f"no GPU: {cpu_name()}, {torch.get_num_threads()} threads"


def versions() -> str:
    parts = [f"torch {torch.__version__}"]
    for mod in ("onnxruntime", "tensorrt"):
        with contextlib.suppress(Exception):
            parts.append(f"{mod} {__import__(mod).__version__}")
    return ", ".join(parts)


def report(args, face_params: dict[str, float], voice_params: dict[str, float], results: Results, command: str) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["## GPU plugins: LivePortrait-class faces and RVC-class voices", "",
             f"Written by `scripts/bench_gpu.py`. Device: **{machine(args.device)}**; {versions()}; {now}.", "",
             f"Command (from the repository root): `{command}`", "",
             "Random weights in the published architectures (written in PyTorch in the script), so the "
             "speed is that of the real networks; quality is not measured here. A tick is one batched call "
             "for every body: driver crops on the host -> motion extractor -> keypoint transfer and stitching "
             "-> warping -> SPADE -> 512 x 512 frames on the host. Memory per player: device memory in use "
             "after the level, less before the backend's first level, divided by the players.", "",
             "| network | parameters | published |", "|---|---|---|"]
    for key, m in face_params.items():
        lines.append(f"| LivePortrait {key} | {m:.2f} M | {f'{PUBLISHED_M[key]:.2f} M' if key in PUBLISHED_M else '-'} |")
    for key, m in voice_params.items():
        lines.append(f"| RVC-class {key} | {m:.2f} M | - |")
    lines += ["", "| backend | precision | players | tick p50 | tick p95 | frames/s | memory per player | note |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results.rows:
        lines.append(f"| {r.backend} | {r.precision} | {r.players or '-'} | {r.p50:.1f} ms | {r.p95:.1f} ms | "
                     f"{r.fps:.1f} | {r.mem_mb:.0f} MiB | {r.note} |".replace("nan ms", "-").replace("nan MiB", "-").replace("| nan |", "| - |"))
    if results.psnr:
        lines += ["", "Output PSNR against torch eager fp32 on the same input (1 player; 0 dB = white vs black): "
                  + ", ".join(f"{k} {v:.1f} dB" for k, v in results.psnr.items()) + "."]
    lines += [""] + results.notes
    if results.voice:
        lines += ["", "Voices: a 540 ms window per 100 ms chunk per stream, streams batched; RTF = tick p95 / 100 ms "
                  "(the gpu-voice plugin needs RTF <= 1; the target is <= 0.2 at 24 streams).", "",
                  "| backend | precision | streams | tick p50 | tick p95 | RTF (p95) | note |", "|---|---|---|---|---|---|---|"]
        for r in results.voice:
            lines.append(f"| {r.backend} | {r.precision} | {r.players or '-'} | {r.p50:.1f} ms | {r.p95:.1f} ms | "
                         f"{r.fps:.3f} | {r.note} |".replace("nan ms", "-").replace("| nan |", "| - |"))
    goal = [r for r in results.rows if r.players == 12 and r.p95 == r.p95]
    if goal:
        best = min(goal, key=lambda r: r.p95)
        eager1 = next((r for r in results.rows if r.backend == "torch eager" and r.precision == "fp32" and r.players == 1), None)
        lines += ["", f"Goal (two 6-player rooms at 30 fps: 12 bodies a tick, p95 <= 33 ms): best at 12 players is "
                  f"{best.backend} {best.precision}, p95 {best.p95:.1f} ms, {best.fps:.0f} frames/s"
                  + (f" ({best.fps / eager1.fps:.1f} x torch eager fp32 at 1 player)." if eager1 else ".")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="1 player, 1 stream, 1 iteration, fp32, eager + ORT (a smoke check)")
    parser.add_argument("--players", default="1,2,4,6,8,12")
    parser.add_argument("--streams", default="1,8,16,24,32,48")
    parser.add_argument("--backends", default="eager,ort-cuda,ort-trt,trt")
    parser.add_argument("--precisions", default="fp32,fp16")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-voice", action="store_true")
    parser.add_argument("--cache", type=Path, default=None, help="ONNX files and TensorRT engines (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    if args.quick:
        args.players, args.streams, args.iters, args.warmup, args.precisions = "1", "1", 1, 0, "fp32"
        if args.device == "cpu":
            args.backends = "eager,ort-cpu"
    args.players = [int(p) for p in args.players.split(",")]
    args.streams = [int(s) for s in args.streams.split(",")]
    args.backends = args.backends.split(",")
    args.precisions = args.precisions.split(",")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: use --device cpu")
    command = "python scripts/bench_gpu.py " + " ".join(argv if argv is not None else sys.argv[1:])
    tmp = None
    if args.cache is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-gpu-")
        args.cache = Path(tmp.name)

    print(f"device: {machine(args.device)}; {versions()}", flush=True)
    nets = face_networks()
    face_params = {k: params_m(nets[k]) for k in ("appearance", "motion", "warping", "spade", "stitching")}
    for key, m in face_params.items():
        published = f"published {PUBLISHED_M[key]:.2f} M" if key in PUBLISHED_M else "not published"
        print(f"LivePortrait {key:10s} {m:6.2f} M parameters ({published})", flush=True)
    results = Results()
    onnx_files = None
    if any(b != "eager" for b in args.backends):
        start = time.perf_counter()
        onnx_files = export_face(nets, args.cache / "onnx")
        print(f"exported the face networks to ONNX in {time.perf_counter() - start:.0f} s", flush=True)
    grid_sample_check(args, nets, results)
    bench_face(args, nets, results, onnx_files)
    del nets
    gc.collect()

    voice_params: dict[str, float] = {}
    if not args.no_voice:
        vnets = voice_networks()
        voice_params = {k: params_m(v) for k, v in vnets.items()}
        for key, m in voice_params.items():
            print(f"RVC-class {key:10s} {m:6.2f} M parameters", flush=True)
        vfiles = export_voice(vnets, args.cache / "onnx") if any(b != "eager" for b in args.backends) else None
        bench_voice(args, vnets, results, vfiles)

    section = report(args, face_params, voice_params, results, command)
    print(section)
    if not args.no_write:
        write_section(SECTION, section, args.out)
        print(f"wrote {args.out}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
