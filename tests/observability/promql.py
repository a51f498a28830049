"""The metric selectors a PromQL expression uses, parsed with promql-parser (the Rust PromQL parser)."""

from __future__ import annotations

import promql_parser


def selectors(expression: str) -> list[tuple[str, set[str]]]:
    """Each vector selector's metric name with the labels it matches on and those the aggregations around it
    group by (`by`/`without`): all of them must exist on that metric. A syntax error raises."""
    tree = promql_parser.parse(expression)
    found: list[tuple[str, set[str]]] = []
    grouping: list[set[str]] = []

    def enter(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = node.matchers.matchers
            name = node.name or next((m.value for m in matchers if m.name == "__name__"), None)
            assert name, f"a selector without a metric name in {expression!r}"
            labels = {m.name for m in matchers if m.name != "__name__"}
            found.append((name, labels.union(*grouping)))
        elif isinstance(node, promql_parser.AggregateExpr):
            grouping.append(set(node.modifier.labels) if node.modifier is not None else set())

    def leave(node: object) -> None:
        if isinstance(node, promql_parser.AggregateExpr):
            grouping.pop()

    promql_parser.walk(tree, pre_visit=enter, post_visit=leave)
    return found
