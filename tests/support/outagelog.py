"""What a process's log says of its dependencies' outages (fitmint.resilience's lines): each component
says once that a dependency went down and once that it came back."""

import re
from collections import Counter


def outage_lines(log: str, dependency: str) -> tuple[Counter, Counter]:
    """Per component: how many times it said `dependency` went down, and came back."""
    down = Counter(re.findall(rf"(\S+): {dependency} unavailable", log))
    back = Counter(re.findall(rf"(\S+): {dependency} available again", log))
    return down, back


def all_back(log: str, dependencies) -> bool:
    """Every component that said a dependency went down has said it came back."""
    return all(down == back for down, back in (outage_lines(log, d) for d in dependencies))


def assert_said_once(log: str, dependency: str) -> None:
    down, back = outage_lines(log, dependency)
    assert down, f"no component said {dependency} was down:\n{log[-3000:]}"
    assert all(count == 1 for count in down.values()), f"said more than once per outage: {down}"
    assert back == down, f"came back {back} != went down {down}"
