"""``timing.Phases``: consecutive phases, each timed from the previous mark."""

import time

from creditplatform.timing import Phases


def test_each_phase_is_timed_from_the_previous_mark():
    phases = Phases()
    time.sleep(0.3)
    phases.mark("waiting")
    sum(i * i for i in range(20_000))
    phases.mark("working")
    assert list(phases.seconds) == ["waiting", "working"]
    waiting, working = phases.seconds["waiting"], phases.seconds["working"]
    assert waiting["wall"] >= 0.3
    assert 0 <= working["wall"] < waiting["wall"]  # the sleep is not counted again
    assert working["cpu"] >= 0 and waiting["cpu"] >= 0
