"""Print a pip constraints file pinning every dependency of pyproject.toml to its lower bound.

`make test-min` installs the project with these constraints into .venv-min and runs
the suite there, so the lower bounds in pyproject.toml are versions the suite has
passed on (pip has no "lowest" resolution of its own). Every dependency must have
a `>=` lower bound; one without is an error.
"""

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def lower_bounds(project: dict) -> dict[str, str]:
    """Distribution name -> its `>=` bound, over the dependencies and every optional group."""
    requirements = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        requirements += group
    bounds: dict[str, str] = {}
    for requirement in requirements:
        match = REQUIREMENT.match(requirement.split(";")[0])
        if match is None:
            raise SystemExit(f"cannot read the requirement {requirement!r}")
        name, _, specifiers = match.groups()
        found = re.search(r">=\s*([^,\s]+)", specifiers)
        if found is None:
            raise SystemExit(f"{requirement!r} has no lower bound (>=) in {PYPROJECT.name}")
        key = re.sub(r"[-_.]+", "-", name).lower()
        if bounds.setdefault(key, found.group(1)) != found.group(1):
            raise SystemExit(f"{name} has two lower bounds: {bounds[key]} and {found.group(1)}")
    return bounds


def main() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for name, version in sorted(lower_bounds(project).items()):
        sys.stdout.write(f"{name}=={version}\n")


if __name__ == "__main__":
    main()
