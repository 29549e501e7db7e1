"""The OpenAPI 3 description of the orders API and the Shopify webhook, served at
``/api/openapi.json`` and kept in docs/openapi.json (a test checks the two are the same:
``python -c "import json, bot.openapi as o; print(json.dumps(o.OPENAPI, indent=2))"``)."""

from __future__ import annotations

from typing import Any

_ERRORS: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Every problem, each where it is (lines[2].quantity).",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _order(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}},
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Karakana orders",
        "version": "1",
        "description": (
            "Retailers place purchase orders and follow them; the web shop (Shopify) sends its "
            "orders as webhooks. Orders arrive as drafts an admin confirms. A retailer with a "
            "callback URL is POSTed order.confirmed, order.ready and order.shipped, signed "
            "X-Karakana-Signature: sha256=<hex HMAC-SHA256 of the body with its callback "
            "secret>, with X-Karakana-Event-Id to drop repeats."
        ),
    },
    "components": {
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "kk_<id>_<secret>, from `karakana api-keys create CUSTOMER`.",
            },
            "shopifyHmac": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Shopify-Hmac-Sha256",
                "description": "Base64 HMAC-SHA256 of the raw body with SHOPIFY_WEBHOOK_SECRET.",
            },
        },
        "schemas": {
            "OrderRequest": {
                "type": "object",
                "required": ["reference", "due_date", "lines"],
                "properties": {
                    "reference": {"type": "string", "maxLength": 60},
                    "due_date": {"type": "string", "format": "date"},
                    "lines": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 200,
                        "items": {
                            "type": "object",
                            "required": ["sku", "quantity"],
                            "properties": {
                                "sku": {"type": "string", "maxLength": 40},
                                "quantity": {"type": "integer", "minimum": 1, "maximum": 100000},
                                "unit_price_kes": {
                                    "type": "string",
                                    "description": "Optional; wholesale price by default.",
                                    "example": "1200.50",
                                },
                            },
                        },
                    },
                },
            },
            "Order": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "reference": {"type": "string"},
                    "status": {
                        "type": "string",
                        "enum": [
                            "draft",
                            "confirmed",
                            "in_production",
                            "ready",
                            "shipped",
                            "cancelled",
                        ],
                    },
                    "due_date": {"type": "string", "format": "date"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "confirmed_at": {"type": "string", "format": "date-time", "nullable": True},
                    "closed_at": {"type": "string", "format": "date-time", "nullable": True},
                    "lines": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "sku": {"type": "string"},
                                "quantity": {"type": "integer"},
                            },
                        },
                    },
                },
            },
            "Error": _ERRORS,
        },
    },
    "paths": {
        "/api/orders": {
            "post": {
                "summary": "Place a purchase order (idempotent on its reference)",
                "security": [{"apiKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/OrderRequest"}
                        }
                    },
                },
                "responses": {
                    "201": _order("Taken as a draft."),
                    "200": _order("The same order was placed before: this is it."),
                    "401": _error("No API key, or a wrong or revoked one; nothing stored."),
                    "409": _error("The reference is used by a different order."),
                    "413": _error("The body is over 64 KB."),
                    "422": _error("Not taken: every problem is listed; nothing stored."),
                },
            }
        },
        "/api/orders/{reference}": {
            "get": {
                "summary": "One of your orders, and where it stands",
                "security": [{"apiKey": []}],
                "parameters": [
                    {
                        "name": "reference",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _order("The order."),
                    "401": _error("No API key, or a wrong or revoked one."),
                    "404": _error("You have no order with this reference."),
                },
            }
        },
        "/shop/shopify/orders": {
            "post": {
                "summary": "Shopify's orders/create webhook",
                "security": [{"shopifyHmac": []}],
                "parameters": [
                    {
                        "name": "X-Shopify-Webhook-Id",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "A delivery seen before changes nothing.",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": {"description": "Taken (or seen before): a draft for the admins."},
                    "400": _error("Not an order."),
                    "401": _error("Unsigned or wrongly signed; nothing stored."),
                    "413": _error("The body is over 64 KB."),
                },
            }
        },
    },
}
