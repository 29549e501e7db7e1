import itertools
from enum import StrEnum

import pytest

from domain.errors import IllegalTransition
from domain.model import (
    ALLOCATION_TRANSITIONS,
    ARTISAN_TRANSITIONS,
    DELIVERY_TRANSITIONS,
    JOB_TRANSITIONS,
    MATERIAL_REQUEST_TRANSITIONS,
    OFFER_TRANSITIONS,
    ORDER_TRANSITIONS,
    PAYOUT_BATCH_TRANSITIONS,
    PAYOUT_TRANSITIONS,
    SUBMISSION_TRANSITIONS,
    OrderStatus,
)
from domain.statemachine import Transitions

ALL_TABLES = [
    ALLOCATION_TRANSITIONS,
    ARTISAN_TRANSITIONS,
    DELIVERY_TRANSITIONS,
    JOB_TRANSITIONS,
    MATERIAL_REQUEST_TRANSITIONS,
    OFFER_TRANSITIONS,
    ORDER_TRANSITIONS,
    PAYOUT_BATCH_TRANSITIONS,
    PAYOUT_TRANSITIONS,
    SUBMISSION_TRANSITIONS,
]


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.entity)
def test_every_state_of_every_entity_is_declared_in_its_table(table: Transitions[StrEnum]) -> None:
    some_state = next(iter(table.table))
    assert set(table.table) == set(type(some_state))


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.entity)
def test_every_illegal_move_raises_a_clear_error(table: Transitions[StrEnum]) -> None:
    for source, targets in table.table.items():
        for target in table.table:
            if target in targets:
                assert table.check(source, target) == target
            else:
                with pytest.raises(IllegalTransition, match=f"{table.entity} that is {source}"):
                    table.check(source, target)


def test_an_order_follows_draft_confirmed_in_production_ready_shipped() -> None:
    path = [
        OrderStatus.DRAFT,
        OrderStatus.CONFIRMED,
        OrderStatus.IN_PRODUCTION,
        OrderStatus.READY,
        OrderStatus.SHIPPED,
    ]
    for current, target in itertools.pairwise(path):
        assert ORDER_TRANSITIONS.can(current, target)
    assert ORDER_TRANSITIONS.is_final(OrderStatus.SHIPPED)


def test_a_shipped_order_cannot_be_cancelled_and_the_error_says_why() -> None:
    with pytest.raises(IllegalTransition) as err:
        ORDER_TRANSITIONS.check(OrderStatus.SHIPPED, OrderStatus.CANCELLED)
    assert "cannot become cancelled" in str(err.value)
    assert "it is final" in str(err.value)


def test_a_table_that_leads_to_an_undeclared_state_is_refused() -> None:
    with pytest.raises(ValueError, match="undeclared"):
        Transitions("order", {OrderStatus.DRAFT: frozenset({OrderStatus.CONFIRMED})})
