"""Reading a Prometheus exposition (what `/metrics` answers) in tests."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when there are none)."""
    return sum(sample.value for sample in _samples(text, name, labels))


def series(text: str, name: str) -> list[dict[str, str]]:
    """The label sets of the samples of `name`."""
    return [sample.labels for sample in _samples(text, name, {})]


def _samples(text: str, name: str, labels: dict[str, str]) -> list:
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


async def scrape(http: httpx.AsyncClient, **headers: str) -> str:
    """The /metrics document (it must answer 200)."""
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return response.text
