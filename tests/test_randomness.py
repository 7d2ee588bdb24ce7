"""Each training's own stream of random numbers (mtlgrn_core.model.randomness, the model's StreamDropout)."""

import threading

import torch

from mtlgrn_core.model.gat import DirectedGATLayer
from mtlgrn_core.model.randomness import RandomStream, StreamDropout, current_generator, isolated


def _mask(dropped: torch.Tensor) -> torch.Tensor:
    return (dropped != 0).float()


def test_dropout_draws_the_streams_own_sequence_and_leaves_the_global_state_alone():
    torch.manual_seed(123)
    caller = torch.get_rng_state()
    stream, drop, x = RandomStream(7), StreamDropout(0.5).train(), torch.ones(200)
    with stream.installed():
        init = torch.rand(3)  # what weight initialisation draws, from torch's global generator
    assert torch.equal(torch.get_rng_state(), caller)
    with stream.active():
        first = drop(x)
    assert torch.equal(torch.get_rng_state(), caller)
    torch.rand(5)  # the caller draws in between
    caller = torch.get_rng_state()
    with stream.active():
        second = drop(x)
    assert torch.equal(torch.get_rng_state(), caller)
    torch.manual_seed(7)  # exactly the seed's sequence: the initialisation, then the masks
    assert torch.equal(init, torch.rand(3))
    assert torch.equal(torch.cat([first, second]), torch.empty(400).bernoulli_(0.5) * 2.0)


def test_stream_dropout_is_nn_dropout_on_the_same_generator_state():
    x = torch.randn(50, 8)
    torch.manual_seed(3)
    expected = torch.nn.Dropout(0.3).train()(x)
    torch.manual_seed(3)
    assert torch.equal(StreamDropout(0.3).train()(x), expected)  # outside any stream: the global generator
    stream = RandomStream(3)
    with stream.active():
        assert torch.equal(StreamDropout(0.3).train()(x), expected)


def test_nothing_draws_in_eval_mode_or_without_dropout():
    stream = RandomStream(1)
    before = stream.generator("cpu").get_state()
    x = torch.randn(6, 8)
    layer = DirectedGATLayer(8, 2, 0.5).eval()
    with stream.active():
        assert torch.equal(StreamDropout(0.5).eval()(x), x)
        assert torch.equal(StreamDropout(0.0).train()(x), x)
        layer(x, torch.tensor([[0, 1, 2], [1, 2, 3]]))
    assert torch.equal(stream.generator("cpu").get_state(), before)


def test_attention_dropout_draws_from_the_stream():
    torch.manual_seed(0)
    layer = DirectedGATLayer(8, 2, 0.0).train()  # no dropout on the layer's output: only attention's
    for conv in (layer.conv.conv_in, layer.conv.conv_out):
        assert conv.dropout == 0.0  # GATConv's own F.dropout (global generator) is off
        conv.attention_dropout.p = 0.5
    x, edges = torch.randn(6, 8), torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
    caller = torch.get_rng_state()
    outputs = []
    for _ in range(2):
        stream = RandomStream(4)
        before = stream.generator("cpu").get_state()
        with stream.active():
            outputs.append(layer(x, edges))
        assert not torch.equal(stream.generator("cpu").get_state(), before)
    assert torch.equal(torch.get_rng_state(), caller)
    assert torch.equal(outputs[0], outputs[1])
    assert not torch.equal(outputs[0], layer.eval()(x, edges))


def test_the_current_stream_belongs_to_its_thread():
    stream = RandomStream(2)
    seen = {}
    with stream.active():
        thread = threading.Thread(target=lambda: seen.update(other=current_generator(torch.device("cpu"))))
        thread.start()
        thread.join(timeout=10)
        assert current_generator(torch.device("cpu")) is stream.generator("cpu")
    assert seen == {"other": None}
    assert current_generator(torch.device("cpu")) is None


def test_two_threads_draw_from_their_streams_at_the_same_time():
    # both threads are inside their stream's block at once (the barrier needs both): no process-wide lock
    barrier, results, errors = threading.Barrier(2, timeout=10), {}, []
    x = torch.ones(300)

    def draw(seed):
        try:
            stream = RandomStream(seed)
            with stream.active():
                first = StreamDropout(0.5).train()(x)
                barrier.wait()
                results[seed] = torch.cat([first, StreamDropout(0.5).train()(x)])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=draw, args=(seed,)) for seed in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    for seed in (0, 1):
        alone = RandomStream(seed)
        with alone.active():
            expected = torch.cat([StreamDropout(0.5).train()(x) for _ in range(2)])
        assert torch.equal(results[seed], expected)


def test_an_isolated_block_consumes_no_draw_of_anyone():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    with isolated():
        torch.nn.Linear(64, 64)  # random initialisation inside
    assert torch.equal(torch.rand(2), expected)
