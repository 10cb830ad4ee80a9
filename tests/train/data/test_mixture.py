"""MixtureSampler: ratio, determinism, disjoint ranks, exact resume."""

import itertools

import numpy as np
import pytest

from train.data.mixture import MixtureSampler


def test_ratio_over_10k_draws():
    for ratio in (0.25, 0.5):
        s = MixtureSampler(1000, 300, ratio, seed=3)
        draws = list(itertools.islice(s, 10_000))
        share = sum(src == "real" for src, _ in draws) / len(draws)
        assert abs(share - ratio) < 0.02
        assert all(0 <= i < (300 if src == "real" else 1000) for src, i in draws)


def test_only_synthetic_without_real_and_full_coverage():
    s = MixtureSampler(50, 0, 0.5, seed=1)
    draws = list(itertools.islice(s, 100))
    assert {src for src, _ in draws} == {"synthetic"}
    assert sorted(i for _, i in draws[:50]) == list(range(50))  # one pass = a permutation
    assert [i for _, i in draws[:50]] != list(range(50))
    assert {src for src, _ in itertools.islice(MixtureSampler(5, 4, 1.0, seed=1), 20)} == {"real"}


def test_deterministic_and_ranks_disjoint():
    a = list(itertools.islice(MixtureSampler(40, 10, 0.3, seed=7), 30))
    b = list(itertools.islice(MixtureSampler(40, 10, 0.3, seed=7), 30))
    assert a == b
    assert a != list(itertools.islice(MixtureSampler(40, 10, 0.3, seed=8), 30))
    r0 = MixtureSampler(40, 10, 0.3, seed=7, rank=0, world_size=2)
    r1 = MixtureSampler(40, 10, 0.3, seed=7, rank=1, world_size=2)
    interleaved = [p for pair in itertools.islice(zip(r0, r1, strict=False), 15) for p in pair]
    assert interleaved[:30] == a  # ranks split one global stream: disjoint draws
    # within one pass over the synthetic set, the two ranks never draw the same index
    r0, r1 = (MixtureSampler(40, 0, 0.0, seed=7, rank=k, world_size=2) for k in (0, 1))
    first = {i for _, i in itertools.islice(r0, 20)}
    second = {i for _, i in itertools.islice(r1, 20)}
    assert not first & second and len(first | second) == 40


def test_resume_continues_with_the_next_pair():
    s = MixtureSampler(100, 20, 0.4, seed=2, rank=1, world_size=3)
    list(itertools.islice(s, 9000))  # crosses a block boundary
    state = s.state_dict()
    assert state["position"] == 9000
    expected = list(itertools.islice(s, 50))
    t = MixtureSampler(100, 20, 0.4, seed=2, rank=1, world_size=3)
    t.load_state_dict(state)
    assert list(itertools.islice(t, 50)) == expected
    with pytest.raises(ValueError, match="not the same stream"):
        MixtureSampler(100, 21, 0.4, seed=2).load_state_dict(state)


def test_second_kind_share_is_a_weight_whatever_the_counts_and_resumes():
    """Path-traced indices 0..89, 2.5-D ones 90..99: a share of 0.5 draws each half the time,
    each kind from its own permutation (indexed by the global draw, like the real stream), and
    a resumed sampler continues exactly."""
    s = MixtureSampler(100, 0, 0.0, seed=4, n_second=10, second_share=0.5)
    draws = [i for _, i in itertools.islice(s, 10_000)]
    share = sum(i >= 90 for i in draws) / len(draws)
    assert abs(share - 0.5) < 0.02
    counts = np.bincount(draws, minlength=100)
    assert counts[90:].min() > 0.8 * 500 and counts[:90].min() > 0.6 * 5000 / 90
    state = s.state_dict()
    expected = list(itertools.islice(s, 40))
    t = MixtureSampler(100, 0, 0.0, seed=4, n_second=10, second_share=0.5)
    t.load_state_dict(state)
    assert list(itertools.islice(t, 40)) == expected
    with pytest.raises(ValueError, match="not the same stream"):
        MixtureSampler(100, 0, 0.0, seed=4, n_second=10, second_share=0.4).load_state_dict(state)
    # unset: by count, the draws of the plain sampler
    plain = list(itertools.islice(MixtureSampler(100, 0, 0.0, seed=4), 50))
    assert list(itertools.islice(MixtureSampler(100, 0, 0.0, seed=4, n_second=10), 50)) == plain
    with pytest.raises(ValueError, match="n_second"):
        MixtureSampler(5, 0, 0.0, seed=1, n_second=6)
