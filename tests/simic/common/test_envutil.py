"""``module:id`` environment ids: the module is imported first, or one line says why not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kasmina.errors import UnknownChoiceError
from simic.common.envutil import bare_env_id, resolve_env_id
from simic.common.errors import SimicError

MODULE = """
import envs
from functools import partial
from kasmina import CNNHost
from tests.envs.test_user_tasks import load_user_data

envs.register_task(envs.TaskSpec(
    env_id="test/Grow-FromModule-v0", name="from-module", description="d",
    host_factory=partial(CNNHost, 1, 3, widths=(4, 8), spatial_dims=1),
    blueprints=("conv_light",), loader=load_user_data,
))
"""


def test_a_module_prefix_is_imported_and_the_id_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "envutil_user_mod.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        env_id = "envutil_user_mod:test/Grow-FromModule-v0"
        assert resolve_env_id(env_id) == env_id
        assert bare_env_id(env_id) == "test/Grow-FromModule-v0"
        with pytest.raises(UnknownChoiceError, match="did you mean 'test/Grow-FromModule-v0'"):
            resolve_env_id("envutil_user_mod:test/Grow-FromModul-v0")
    finally:
        import gymnasium as gym

        import envs

        envs.TASKS.pop("from-module", None)
        gym.registry.pop("test/Grow-FromModule-v0", None)
        sys.modules.pop("envutil_user_mod", None)


def test_a_module_that_does_not_import_is_one_line() -> None:
    with pytest.raises(SimicError) as info:
        resolve_env_id("no_such_user_module:simic/Grow-Mine-v0")
    message = str(info.value)
    assert "cannot import module 'no_such_user_module'" in message and "PYTHONPATH" in message
    assert "\n" not in message
