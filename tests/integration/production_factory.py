"""Old home of ``build_factory`` and ``place_order``, kept while bench/bench_soak.py imports
them from here; both now live in ``factory_fixtures``."""

from tests.integration.factory_fixtures import build_factory, place_order

__all__ = ["build_factory", "place_order"]
