"""Partitions of a run: ``share`` counts exactly the baselines ``owns``, for the modulo split of
``PROCESSES`` and for a shard's slice of consecutive baselines alike."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lunge.engine.config import Partition


@given(total=st.integers(0, 300), count=st.integers(1, 9), index=st.integers(0, 8),
       first=st.integers(1, 320), length=st.one_of(st.none(), st.integers(0, 320)))
def test_share_counts_what_the_partition_owns(total: int, count: int, index: int, first: int,
                                              length: int | None) -> None:
    partition = Partition(index % count, count, first, None if length is None else first + length - 1)
    owned = [seq for seq in range(1, total + 1) if partition.owns(seq)]
    assert partition.share(total) == len(owned)
    assert all(not partition.past(seq) for seq in owned)


def test_a_slice_owns_its_consecutive_baselines_only() -> None:
    shard = Partition(first_seq=101, last_seq=200)
    assert [s for s in (100, 101, 200, 201) if shard.owns(s)] == [101, 200]
    assert shard.past(201) and not shard.past(200)
