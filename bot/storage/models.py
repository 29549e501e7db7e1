"""Matching's model versions in the object store, for every process on every host.

The same layout as ``matching.models.ModelRegistry`` on disk, as keys::

    models/<outcome>/v0007/model.joblib
    models/<outcome>/v0007/metrics.json     <- written after model.joblib: the version is complete
    models/<outcome>/CURRENT                <- "v0007\\n", written last, only when promoted

A reader looks up ``CURRENT`` and then the files of the version it names; since the pointer is
written only after every file of its version, and an S3 PUT replaces an object whole, a reader
never sees half a version, whichever process (or host) retrained. A version without its
``metrics.json`` (a retraining that died between the two PUTs) is not listed and never current;
the next retraining reuses its number and overwrites it.

Only one process retrains at a time: the nightly job runs under the scheduler's lease
(``bot.scheduling``), so version numbers are not contended.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
from sklearn.utils.validation import check_is_fitted  # type: ignore[import-untyped]

from bot.storage.objects import ObjectMissing, ObjectStore
from matching.models import Metrics, ModelRegistry, OutcomeModel, StoredModel
from matching.priors import OUTCOMES

MODELS_PREFIX = "models/"
_VERSION = re.compile(r"^v(\d{4,})$")


class ObjectModelRegistry(ModelRegistry):
    """``ModelRegistry`` whose versions are objects; synchronous like its parent (the matchmaker
    and the retraining call it off the event loop)."""

    def __init__(self, objects: ObjectStore) -> None:
        # ``root`` only names the place in messages and logs.
        super().__init__(Path(objects.bucket) / objects.prefix / "models")
        self.objects = objects

    def _key(self, outcome: str, *parts: str) -> str:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
        return "/".join((MODELS_PREFIX + outcome, *parts))

    def versions(self, outcome: str) -> list[str]:
        base = self._key(outcome) + "/"
        complete = set()
        for item in self.objects.list(base):
            version, _, name = item.key[len(base) :].partition("/")
            if name == "metrics.json" and _VERSION.match(version):
                complete.add(version)
        return sorted(complete)

    def current_version(self, outcome: str) -> str | None:
        try:
            pointer = self.objects.get(self._key(outcome, "CURRENT")).decode().strip()
        except ObjectMissing:
            return None
        return pointer or None

    def save(
        self,
        outcome: str,
        model: OutcomeModel,
        metrics: Metrics,
        *,
        trained_at: datetime,
        promote: bool,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Write a new version (model, then metrics) and, if ``promote``, then the pointer."""
        if trained_at.tzinfo is None:
            raise ValueError("trained_at must be timezone-aware (UTC)")
        check_is_fitted(model, "estimator_")
        existing = [int(m.group(1)) for v in self.versions(outcome) if (m := _VERSION.match(v))]
        version = f"v{max(existing, default=0) + 1:04d}"
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        self.objects.put(self._key(outcome, version, "model.joblib"), buffer.getvalue())
        info = {
            "outcome": outcome,
            "version": version,
            "kind": model.kind,
            "params": model.get_params(),
            "trained_at": trained_at.isoformat(),
            "metrics": metrics.to_dict(),
            "promoted": promote,
            **(dict(extra) if extra else {}),
        }
        self.objects.put(
            self._key(outcome, version, "metrics.json"),
            json.dumps(info, indent=2, sort_keys=True).encode(),
            "application/json",
        )
        if promote:
            self.promote(outcome, version)
        return version

    def promote(self, outcome: str, version: str) -> None:
        if not self.objects.exists(self._key(outcome, version, "metrics.json")):
            raise ValueError(f"there is no {outcome} model version {version} under {self.root}")
        self.objects.put(self._key(outcome, "CURRENT"), (version + "\n").encode(), "text/plain")

    def load(self, outcome: str, version: str | None = None) -> StoredModel:
        """The given version, or the current one; raises LookupError if there is none."""
        version = version or self.current_version(outcome)
        if version is None:
            raise LookupError(f"no {outcome} model has been trained yet under {self.root}")
        if not _VERSION.match(version):
            raise LookupError(f"{version!r} is not a model version")
        try:
            info = json.loads(self.objects.get(self._key(outcome, version, "metrics.json")))
            raw = self.objects.get(self._key(outcome, version, "model.joblib"))
        except ObjectMissing as exc:
            raise LookupError(
                f"there is no {outcome} model version {version} under {self.root}"
            ) from exc
        model = joblib.load(io.BytesIO(raw))
        if not isinstance(model, OutcomeModel):
            raise LookupError(f"{outcome} {version}/model.joblib does not hold an OutcomeModel")
        return StoredModel(outcome, version, model, info)
