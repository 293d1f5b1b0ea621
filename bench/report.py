"""One row per figure, and the table `make bench` ends with."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import harness


@dataclass
class Row:
    """One line of the table. `met` is None for a figure without a goal."""

    measure: str
    clarion: str
    ceiling: str = ""
    ratio: str = ""
    goal: str = ""
    met: bool | None = None
    figures: dict[str, Any] | None = None

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


def ratio_row(measure: str, clarion: float, ceiling: float, unit: str, goal: float, **figures: Any) -> Row:
    """A Clarion figure against its ceiling; the goal is `ratio >= goal`."""
    ratio = clarion / ceiling if ceiling else 0.0
    return Row(measure, f"{clarion:,.0f} {unit}", f"{ceiling:,.0f} {unit}", f"{ratio:.2f}", f"≥ {goal:g}",
               ratio >= goal, {"clarion": clarion, "ceiling": ceiling, "ratio": round(ratio, 3), **figures})


def table(rows: list[Row], machine: dict[str, Any]) -> str:
    header = ("measure", "Clarion", "ceiling (same run)", "ratio", "goal", "")
    lines = [
        f"machine: {machine['nproc']} CPUs ({machine['cpu']}), Python {machine['python']}, Linux {machine['kernel']}; "
        f"load average at start {'/'.join(f'{v:.2f}' for v in machine['loadavg'])}"
        + (f", at end {'/'.join(f'{v:.2f}' for v in machine['loadavg_end'])}" if "loadavg_end" in machine else ""),
        f"commit {machine['commit']} (+{machine['uncommitted_source_files']} uncommitted files under "
        f"service/ plugins/ channels/), {machine['date']}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        lines.append(f"| {row.measure} | {row.clarion} | {row.ceiling} | {row.ratio} | {row.goal} | {row.verdict} |")
    return "\n".join(lines)


def dump(rows: list[Row], machine: dict[str, Any]) -> str:
    return json.dumps({"machine": machine, "rows": [asdict(row) for row in rows]}, default=str)


def run_alone(measure: Callable[[], list[Row]]) -> int:
    """One phase on its own: the machine, the table, each row's figures; 1 if a goal is missed."""
    harness.require_wrk()
    machine = harness.machine()
    rows = measure()
    machine["loadavg_end"] = os.getloadavg()
    print(table(rows, machine))
    for row in rows:
        if row.figures:
            print(json.dumps(row.figures, default=str))
    return 0 if all(row.met is not False for row in rows) else 1
