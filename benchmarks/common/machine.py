"""What a measurement ran on, recorded beside its numbers: the one owner for every benchmark."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch


def machine() -> dict[str, Any]:
    """Load, cores, torch, the CUDA device (or ``None``), Python and the platform, now."""
    return {
        "loadavg": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
