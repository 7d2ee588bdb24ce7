"""Each training's own stream of torch's global random numbers (mtlgrn_core.randomness)."""

import torch

from mtlgrn_core.randomness import RandomStream, isolated


def test_a_stream_continues_where_it_stopped_and_leaves_the_callers_state_alone():
    torch.manual_seed(123)
    caller = torch.get_rng_state()
    stream = RandomStream(7)
    with stream.active():
        first = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), caller)
    torch.rand(5)  # the caller draws in between
    with stream.active():
        second = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(torch.cat([first, second]), torch.rand(6))  # exactly the seed's sequence


def test_an_isolated_block_consumes_no_draw_of_anyone():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    with isolated():
        torch.nn.Linear(64, 64)  # random initialisation inside
    assert torch.equal(torch.rand(2), expected)
