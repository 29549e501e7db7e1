"""The object store (bot/storage) against a local S3 server (moto): objects, media refs, and
matching's model versions written by one process and read by another."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from bot.channels.media import MediaDocuments, keep_image
from bot.main import Factory, object_store_config
from bot.settings import Settings
from bot.storage.media import ObjectMediaStore
from bot.storage.models import ObjectModelRegistry
from bot.storage.objects import ObjectMissing, ObjectStore
from conversations.ports import DocumentUnreadable
from domain.store import Store
from matching.models import retrain
from matching.priors import OUTCOMES
from scheduler import jobs
from tests.fakes.object_store_server import S3Server, s3_server

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
TRAINED_AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def objects(s3: S3Server) -> Iterator[ObjectStore]:
    store = ObjectStore(s3.config(s3.new_bucket()))
    yield store
    store.close()


def test_objects_are_put_read_listed_and_deleted_under_the_prefix(objects: ObjectStore) -> None:
    objects.put("media/a.jpg", b"one", "image/jpeg")
    objects.put("models/on_time/CURRENT", b"v0001\n", "text/plain")

    assert objects.get("media/a.jpg") == b"one"
    assert objects.exists("media/a.jpg")
    assert not objects.exists("media/b.jpg")
    assert [o.key for o in objects.list()] == ["media/a.jpg", "models/on_time/CURRENT"]
    assert [(o.key, o.size) for o in objects.list("media/")] == [("media/a.jpg", 3)]
    # Everything sits under the configured prefix, so one bucket can hold several factories.
    raw = objects._client.list_objects_v2(Bucket=objects.bucket)["Contents"]
    assert sorted(item["Key"] for item in raw) == [
        "karakana/media/a.jpg",
        "karakana/models/on_time/CURRENT",
    ]

    objects.delete("media/a.jpg")
    with pytest.raises(ObjectMissing):  # a FileNotFoundError, as from the local folder
        objects.get("media/a.jpg")
    with pytest.raises(ValueError, match="not a key"):
        objects.get("../elsewhere")


async def test_media_refs_saved_by_one_process_load_in_another(
    s3: S3Server, objects: ObjectStore
) -> None:
    here = ObjectMediaStore(objects)
    photo = await keep_image(here, JPEG, "image/jpeg", max_bytes=1_000_000)
    csv_ref = await here.save(b"sku,qty\nBEAD,3\n", "text/csv")

    there = ObjectMediaStore(ObjectStore(objects.config))  # another client, as another host
    assert await there.load(photo.ref) == JPEG
    assert await MediaDocuments(there).read_text(csv_ref) == "sku,qty\nBEAD,3\n"
    with pytest.raises(DocumentUnreadable):
        await MediaDocuments(there).read_text("0" * 32 + ".csv")  # never stored
    with pytest.raises(ValueError, match="not a media reference"):
        await there.load("../../etc/passwd")
    with pytest.raises(ValueError, match="only images and documents"):
        await there.save(b"#!/bin/sh", "application/x-sh")

    later = datetime.now(UTC) + timedelta(minutes=1)
    assert sorted(await there.refs_older_than(later)) == sorted([photo.ref, csv_ref])
    await there.delete(csv_ref)
    assert not await there.exists(csv_ref)


def _rows(seed: int, n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = (x[:, 0] + rng.normal(scale=0.8, size=n) > 0).astype(int)
    return x, y


def test_model_versions_are_written_whole_and_the_pointer_last(objects: ObjectStore) -> None:
    writer = ObjectModelRegistry(objects)
    reader = ObjectModelRegistry(ObjectStore(objects.config))  # another process
    x, y = _rows(1)
    for outcome in OUTCOMES:
        first = retrain(
            writer, outcome, x[:160], y[:160], x[160:], y[160:],
            trained_at=TRAINED_AT, kinds=("logistic",),
        )  # fmt: skip
        assert first.promoted
        assert first.version == "v0001"

    # A retraining that died after the model but before its metrics is no version at all.
    objects.put("models/on_time/v0002/model.joblib", b"half written")
    assert reader.versions("on_time") == ["v0001"]
    assert reader.current_version("on_time") == "v0001"

    # The next one reuses the number; noise does not beat the current model, so it is kept
    # for the audit but the pointer does not move.
    shuffled = np.random.default_rng(2).permutation(y[:160])
    second = retrain(
        writer, "on_time", x[:160], shuffled, x[160:], y[160:],
        trained_at=TRAINED_AT + timedelta(days=1), kinds=("logistic",),
    )  # fmt: skip
    assert (second.version, second.promoted) == ("v0002", False)
    assert reader.versions("on_time") == ["v0001", "v0002"]
    assert reader.current_version("on_time") == "v0001"
    assert reader.load("on_time", "v0002").info["promoted"] is False

    writer.promote("on_time", "v0002")
    stored = reader.load("on_time")
    assert stored.version == "v0002"
    assert stored.info["trained_at"] == (TRAINED_AT + timedelta(days=1)).isoformat()
    with pytest.raises(ValueError, match="no on_time model version v0009"):
        writer.promote("on_time", "v0009")


async def test_karakana_keeps_media_and_models_in_the_bucket_its_settings_name(
    s3: S3Server, store: Store
) -> None:
    bucket = s3.new_bucket()
    settings = Settings(_env_file=None, **s3.settings(bucket, "factory"))
    factory = Factory(settings=settings, store=store)

    ref = await factory.media_store().save(JPEG, "image/jpeg")
    objects = ObjectStore(s3.config(bucket, "factory"))
    assert objects.get(f"media/{ref}") == JPEG

    matchmaker = factory.matchmaker()
    assert await matchmaker.current_models() is None  # nothing trained yet: priors only
    x, y = _rows(3)
    for outcome in OUTCOMES:
        retrain(
            ObjectModelRegistry(objects), outcome, x[:160], y[:160], x[160:], y[160:],
            trained_at=TRAINED_AT, kinds=("logistic",),
        )  # fmt: skip
    models = await matchmaker.current_models()
    assert models is not None
    assert sorted(models) == sorted(OUTCOMES)


def test_object_store_settings_are_checked() -> None:
    assert object_store_config(Settings(_env_file=None)) is None  # the default: local folders
    with pytest.raises(ValidationError, match="s3://bucket/prefix"):
        Settings(_env_file=None, object_store_url="https://bucket.example.com/x")
    with pytest.raises(ValidationError, match="or neither"):
        Settings(
            _env_file=None, object_store_url="s3://b/p", object_store_access_key_id="AKIAEXAMPLE"
        )
    secret = Settings(
        _env_file=None,
        object_store_url="s3://b/p",
        object_store_access_key_id="AKIAEXAMPLE",
        object_store_secret_access_key="wJalrXUtnFEMI/K7MDENG",
    )
    assert "wJalrXUtnFEMI" not in repr(secret)


async def test_housekeeping_purges_old_unreferenced_media_from_the_bucket(
    s3: S3Server, store: Store
) -> None:
    bucket = s3.new_bucket()
    factory = Factory(settings=Settings(_env_file=None, **s3.settings(bucket)), store=store)
    stored = factory.job_settings().stored_media  # what the housekeeping job is given
    assert stored is not None
    ref = await factory.media_store().save(JPEG, "image/jpeg")

    def now() -> datetime:
        return datetime.now(UTC)

    def month_later() -> datetime:
        return now() + timedelta(days=31)

    kept = await jobs.housekeeping(
        store, clock=now, media_root=None, media_max_age=timedelta(days=30),
        outbox_max_age=timedelta(days=30), stored_media=stored,
    )  # fmt: skip
    assert kept == (0, 0)
    assert await ObjectMediaStore(ObjectStore(s3.config(bucket))).exists(ref)
    purged = await jobs.housekeeping(
        store, clock=month_later, media_root=None, media_max_age=timedelta(days=30),
        outbox_max_age=timedelta(days=30), stored_media=stored,
    )  # fmt: skip
    assert purged == (0, 1)
    assert not await ObjectMediaStore(ObjectStore(s3.config(bucket))).exists(ref)
