"""Accelerator figures used for MFU and for the size planner: dense bf16 peak and memory per device."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    peak_tflops: float  # dense bf16 tensor-core TFLOP/s (no sparsity), from the vendor's datasheet
    memory_gib: float  # usable device memory


DEVICES: dict[str, Device] = {
    "a100-40gb": Device(peak_tflops=312.0, memory_gib=40.0),
    "a100-80gb": Device(peak_tflops=312.0, memory_gib=80.0),
    "h100": Device(peak_tflops=989.0, memory_gib=80.0),  # SXM
    "h100-pcie": Device(peak_tflops=756.0, memory_gib=80.0),
    "h200": Device(peak_tflops=989.0, memory_gib=141.0),
    "l4": Device(peak_tflops=121.0, memory_gib=24.0),
}


def lookup(name: str) -> Device:
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; known: {sorted(DEVICES)}")
    return DEVICES[name]


def detect_peak_tflops(device_name: str) -> float:
    """Peak dense bf16 TFLOP/s for a ``torch.cuda.get_device_name()`` string; 0.0 when unknown (MFU not shown)."""
    name = device_name.upper()
    if "H200" in name or "GH200" in name:
        return DEVICES["h200"].peak_tflops
    if "H100" in name:
        return DEVICES["h100-pcie" if "PCIE" in name else "h100"].peak_tflops
    if "A100" in name:
        return DEVICES["a100-40gb"].peak_tflops
    if "L4" in name:
        return DEVICES["l4"].peak_tflops
    return 0.0
