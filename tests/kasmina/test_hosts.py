import pytest
import torch

from kasmina import CNNHost, KasminaError, TransformerHost, UnknownChoiceError
from tests.kasmina.helpers import HOST_KINDS, build_host, host_input


@pytest.mark.parametrize("kind", HOST_KINDS)
def test_hosts_declare_injection_points_matching_their_features(kind):
    host = build_host(kind)
    seen = {}

    def recorder(slot_id):
        def fn(h):
            seen[slot_id] = h.shape[1] if kind.startswith("cnn") else h.shape[-1]
            return h

        return fn

    out = host(host_input(kind), {s: recorder(s) for s in host.injection_points()})
    assert out.shape == (6, 10)
    assert seen == host.injection_points()


def test_cnn_host_blueprint_kwargs_carry_dimensionality():
    assert CNNHost(1, 2, (4,), spatial_dims=1).blueprint_kwargs() == {"spatial_dims": 1}
    assert TransformerHost(1, 2, 4, dim=8, heads=2).blueprint_kwargs() == {}


def test_host_validation_errors():
    with pytest.raises(UnknownChoiceError, match="did you mean 'group'"):
        CNNHost(1, 2, (4,), norm="grup")
    with pytest.raises(KasminaError, match="widths"):
        CNNHost(1, 2, (4, 0))
    with pytest.raises(KasminaError, match="must divide"):
        TransformerHost(1, 2, 4, dim=10, heads=3)
    with pytest.raises(ValueError, match="expects input"):
        CNNHost(1, 2, (4,), spatial_dims=2)(torch.zeros(2, 1, 8))
    with pytest.raises(ValueError, match=r"\(N, 4, 1\)"):
        TransformerHost(1, 2, 4, dim=8, heads=2)(torch.zeros(2, 5, 1))


def test_transformer_host_accepts_2d_input_for_one_feature():
    host = TransformerHost(1, 3, 5, dim=8, heads=2)
    x = torch.randn(2, 5)
    assert torch.equal(host(x), host(x.unsqueeze(-1)))


@pytest.mark.parametrize("kind", HOST_KINDS)
def test_hosts_and_models_move_and_cast_like_any_module(kind):
    from kasmina import MorphogeneticModel

    model = MorphogeneticModel(build_host(kind))
    model.germinate(next(iter(model.slots)), "norm")
    model.to("cpu").double()
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert model(host_input(kind).double()).dtype == torch.float64
