"""Figures of the benchmark: distributions, targets, the printed table."""

import math
from dataclasses import dataclass, field


def percentile(values: list[float], fraction: float) -> float:
    """Return the `fraction` quantile of `values`, interpolated between the two nearest ranks."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict[str, float]:
    """Return the count, min, median, p95, p99 and max of `values` (milliseconds)."""
    return {
        "n": len(values),
        "min": min(values) if values else math.nan,
        "median": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else math.nan,
    }


@dataclass
class Target:
    name: str
    wanted: str
    measured: str
    met: bool


@dataclass
class Results:
    """Everything one run measured, in the shape of `latest.json`."""

    distributions: dict[str, dict] = field(default_factory=dict)
    figures: dict[str, dict] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    def distribution(self, name: str, values_ms: list[float], *, unit: str = "ms", **extra) -> dict:
        entry = summary(values_ms) | {"unit": unit} | extra
        self.distributions[name] = entry
        return entry

    def figure(self, name: str, value: float, unit: str, **extra) -> None:
        self.figures[name] = {"value": value, "unit": unit} | extra

    def target(self, name: str, wanted: str, measured: str, met: bool) -> None:
        self.targets.append(Target(name, wanted, measured, bool(met)))

    def as_dict(self) -> dict:
        return {
            "distributions": self.distributions,
            "figures": self.figures,
            "targets": [vars(target) for target in self.targets],
            "targets_met": sum(target.met for target in self.targets),
        }


def _number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"


def table(results: Results) -> str:
    """Return the run's figures as a plain-text table."""
    lines = []
    header = f"{'distribution':<44} {'n':>5} {'min':>8} {'median':>8} {'p95':>8} {'p99':>8} {'max':>8}  unit  note"
    lines += [header, "-" * len(header)]
    for name, entry in results.distributions.items():
        cells = " ".join(f"{_number(entry[key]):>8}" for key in ("min", "median", "p95", "p99", "max"))
        note = entry.get("note", "")
        lines.append(f"{name:<44} {entry['n']:>5} {cells}  {entry['unit']:<4}  {note}")
    lines += ["", f"{'figure':<60} {'value':>10}  unit", "-" * 78]
    for name, entry in results.figures.items():
        lines.append(f"{name:<60} {_number(entry['value']):>10}  {entry['unit']}")
    lines += ["", f"{'target':<58} {'wanted':<28} {'measured':<28} result", "-" * 124]
    for target in results.targets:
        verdict = "met" if target.met else "NOT MET"
        lines.append(f"{target.name:<58} {target.wanted:<28} {target.measured:<28} {verdict}")
    met = sum(target.met for target in results.targets)
    lines.append(f"{met} of {len(results.targets)} targets met")
    return "\n".join(lines)
