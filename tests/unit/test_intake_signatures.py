"""Signatures and keys of orders coming in: Shopify's webhook HMAC, our callback signatures,
the API key format and its stored hash, and the JSON an order request is read from."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date
from pathlib import Path

import pytest

from bot.channels.customers import sign_body
from bot.intake import shopify_signature, shopify_verified
from domain.services.api_keys import secret_digest, split_key
from domain.services.intake import (
    RequestRejected,
    kes_to_cents,
    parse_order_request,
    parse_shopify_order,
)

SECRET = "shopify-app-secret-for-tests"
PAYLOAD = Path(__file__).parents[1] / "fakes" / "shopify_payloads" / "orders_create.json"


def test_a_shopify_signature_is_the_base64_hmac_sha256_of_the_raw_body() -> None:
    body = PAYLOAD.read_bytes()
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert shopify_signature(SECRET, body) == expected
    assert shopify_verified(SECRET, body, expected)


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (SECRET, b'{"id": 2}', shopify_signature(SECRET, b'{"id": 1}')),  # body changed
        (SECRET, b'{"id": 1}', shopify_signature("another-shops-secret", b'{"id": 1}')),
        (SECRET, b'{"id": 1}', None),
        (SECRET, b'{"id": 1}', ""),
        (None, b'{"id": 1}', shopify_signature("", b'{"id": 1}')),  # no secret configured
        ("", b'{"id": 1}', shopify_signature("", b'{"id": 1}')),
    ],
)
def test_a_shopify_webhook_with_a_wrong_or_missing_signature_is_not_verified(
    secret: str | None, body: bytes, header: str | None
) -> None:
    assert not shopify_verified(secret, body, header)


def test_our_callbacks_are_signed_with_the_hex_hmac_sha256_of_the_body() -> None:
    body = b'{"event": "order.shipped"}'
    digest = hmac.new(b"retailer-secret", body, hashlib.sha256).hexdigest()
    assert sign_body("retailer-secret", body) == f"sha256={digest}"


def test_an_api_key_splits_into_its_public_id_and_its_secret_and_only_the_hash_is_kept() -> None:
    secret = "A" * 43
    assert split_key(f"kk_0123456789ab_{secret}") == ("0123456789ab", secret)
    assert secret_digest(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert len(secret_digest(secret)) == 64


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "kk_0123456789ab",
        "xx_0123456789ab_" + "A" * 43,
        "kk_0123456789AB_" + "A" * 43,
        "kk_0123456789ab_" + "A" * 42,
        "kk_0123456789ab_" + "A" * 43 + "!",
    ],
)
def test_anything_not_shaped_like_a_key_is_no_key(presented: str) -> None:
    assert split_key(presented) is None


def test_an_order_request_names_every_problem_where_it_is() -> None:
    with pytest.raises(RequestRejected) as refused:
        parse_order_request(
            {
                "reference": "PO\u202e-1",
                "due_date": "2027-02-30",
                "lines": [
                    {"sku": "A", "quantity": 0},
                    {"sku": "B", "quantity": 100_001},
                    {"sku": "A", "quantity": 2},
                    {"sku": "C", "quantity": True},
                    {"sku": "D", "quantity": 1, "unit_price_kes": "12.345"},
                    "E x 2",
                ],
            }
        )
    fields = [error.field for error in refused.value.errors]
    assert fields == [
        "due_date",
        "lines[0].quantity",
        "lines[1].quantity",
        "lines[2].sku",
        "lines[3].quantity",
        "lines[4].unit_price_kes",
        "lines[5]",
    ]


def test_an_order_requests_text_is_cleaned_and_its_prices_read_as_cents() -> None:
    wanted = parse_order_request(
        {
            "reference": " PO\u202e-7 ",
            "due_date": "2027-02-01",
            "lines": [{"sku": "NECKLACE-HORN", "quantity": 3, "unit_price_kes": "1200.50"}],
        }
    )
    assert wanted.reference == "PO-7"
    assert wanted.due_date == date(2027, 2, 1)
    assert wanted.lines == (("NECKLACE-HORN", 3),)
    assert wanted.unit_prices == {"NECKLACE-HORN": 120050}
    assert kes_to_cents("1e3") is None  # as the CSV: no exponents
    assert kes_to_cents("-5") is None
    assert kes_to_cents("nan") is None
    assert kes_to_cents(True) is None


def test_shopifys_documented_orders_create_payload_is_read() -> None:
    shop = parse_shopify_order(json.loads(PAYLOAD.read_text()))
    assert shop.order_id == "820982911946154508"
    assert shop.name == "#9999"
    assert shop.due_date == "2027-02-15"
    assert [(line.sku, line.quantity, line.price_cents) for line in shop.lines] == [
        ("NECKLACE-HORN", 2, 180000),
        ("IPOD2008PINK", 1, 70000),
    ]


def test_the_openapi_description_kept_in_docs_is_the_one_served_and_names_every_route() -> None:
    from bot.openapi import OPENAPI

    kept = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
    assert kept == OPENAPI
    assert kept["openapi"].startswith("3.")
    assert set(kept["paths"]) == {
        "/api/orders",
        "/api/orders/{reference}",
        "/shop/shopify/orders",
    }
