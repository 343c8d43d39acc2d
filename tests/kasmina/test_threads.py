"""kasmina's tests run on one torch thread, as the environments do (set in the root conftest)."""

import torch

from kasmina.threads import torch_threads


def test_kasmina_tests_run_on_one_torch_thread():
    assert torch.get_num_threads() == 1


def test_torch_threads_sets_the_count_for_the_block_and_restores_it():
    with torch_threads(2):
        assert torch.get_num_threads() == 2
        with torch_threads(None):  # None leaves the setting alone
            assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1
