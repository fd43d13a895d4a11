"""Training precision as a function of the device: every branch with made-up CUDA capabilities,
and the autocast / GradScaler helpers exercised on the CPU."""

from __future__ import annotations

import pytest
import torch

from mifomo_lite.errors import ConfigError
from mifomo_lite.precision import (NoScaler, Precision, autocast, choose_precision, grad_scaler, optimizer_step,
                                   precision_for, training_precision)


@pytest.mark.parametrize("device, cap, dtype, scaler", [
    ("cpu", None, torch.float32, False),
    ("mps", None, torch.float32, False),
    ("meta", None, torch.float32, False),
    ("cuda", None, torch.float32, False),           # capability unknown: the safe choice
    ("cuda", (6, 1), torch.float16, True),          # Pascal
    ("cuda", (7, 0), torch.float16, True),          # Volta
    ("cuda", (7, 5), torch.float16, True),          # Turing (T4, Colab's free GPU)
    ("cuda", (8, 0), torch.bfloat16, False),        # Ampere A100
    ("cuda", (8, 6), torch.bfloat16, False),
    ("cuda", (9, 0), torch.bfloat16, False),        # Hopper
    ("cuda", (12, 0), torch.bfloat16, False),
])
def test_auto_precision_follows_the_capability(device, cap, dtype, scaler):
    p = choose_precision(device, cap)
    assert (p.dtype, p.use_grad_scaler) == (dtype, scaler)
    assert p.autocast_enabled == (dtype != torch.float32) and p.reason


@pytest.mark.parametrize("device, cap, requested, dtype, scaler", [
    ("cuda", (9, 0), "fp32", torch.float32, False),
    ("cuda", (9, 0), "fp16", torch.float16, True),
    ("cuda", (8, 0), "bf16", torch.bfloat16, False),
    ("cpu", None, "fp32", torch.float32, False),
])
def test_requested_precision_is_honoured_where_possible(device, cap, requested, dtype, scaler):
    p = choose_precision(device, cap, requested)
    assert (p.dtype, p.use_grad_scaler, p.name) == (dtype, scaler, requested)


@pytest.mark.parametrize("device, cap, requested, match", [
    ("cuda", (7, 5), "bf16", r"needs CUDA capability ≥ 8.0; this device has 7.5"),
    ("cpu", None, "bf16", r"'bf16' is for CUDA training; device 'cpu' trains in fp32"),
    ("cpu", None, "fp16", r"'fp16' is for CUDA training"),
    ("cuda", None, "fp16", r"capability of the device, which is unknown"),
    ("cuda", (9, 0), "fp8", r"unknown precision 'fp8'; choose one of auto, fp32, bf16, fp16"),
])
def test_impossible_requests_are_clear_errors(device, cap, requested, match):
    with pytest.raises(ConfigError, match=match):
        choose_precision(device, cap, requested)


def test_precision_for_queries_only_cuda_devices(monkeypatch):
    def no_cuda(*a, **k):
        raise AssertionError("a CPU or meta device must not query CUDA")

    monkeypatch.setattr(torch.cuda, "get_device_capability", no_cuda)
    assert precision_for("cpu").dtype == torch.float32
    assert precision_for(torch.device("meta")).dtype == torch.float32
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d: (7, 0))
    p = precision_for("cuda:1")
    assert p.dtype == torch.float16 and p.use_grad_scaler and "7.0 < 8.0" in p.reason
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d: (9, 0))
    assert precision_for("cuda").dtype == torch.bfloat16


def test_training_precision_follows_the_amp_switch(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d: (8, 0))
    assert training_precision("cuda", amp=True).dtype == torch.bfloat16
    assert training_precision("cuda", amp=False).dtype == torch.float32
    assert training_precision("cpu", amp=True).dtype == torch.float32


def test_autocast_is_a_noop_for_fp32_and_casts_otherwise():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast(choose_precision("cpu"), "cpu"):
        assert (a @ b).dtype == torch.float32
    with autocast(Precision(torch.bfloat16, False, "test"), "cpu"):
        assert (a @ b).dtype == torch.bfloat16


def _setup():
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1)
    x, y = torch.randn(16, 8), torch.randn(16, 1)
    return model, torch.optim.SGD(model.parameters(), lr=0.1), x, y


def _train(precision: Precision, steps: int):
    """The one training loop for every precision: autocast, scale, step, update."""
    model, opt, x, y = _setup()
    w0 = model.weight.detach().clone()
    scaler = grad_scaler(precision, "cpu")
    for _ in range(steps):
        with autocast(precision, "cpu"):
            loss = (model(x).float() - y).pow(2).mean()
        optimizer_step(opt, loss, scaler)
    return model, scaler, w0


def test_noop_scaler_is_the_plain_training_loop():
    m32, s32, _ = _train(choose_precision("cpu"), steps=3)
    assert isinstance(s32, NoScaler) and not s32.is_enabled()
    assert isinstance(grad_scaler(choose_precision("cuda", (9, 0)), "cuda"), NoScaler)   # bf16: no scaling
    plain, opt, x, y = _setup()
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        (plain(x) - y).pow(2).mean().backward()
        opt.step()
    assert torch.equal(m32.weight, plain.weight)


def test_fp16_trains_through_a_real_grad_scaler():
    m16, s16, w0 = _train(Precision(torch.float16, True, "test"), steps=30)
    assert isinstance(s16, torch.amp.GradScaler) and s16.is_enabled()
    assert torch.isfinite(m16.weight).all() and not torch.equal(m16.weight, w0)
