"""Media and matching's models in an S3-compatible object store, for several machines.

With ``OBJECT_STORE_URL`` unset (the default) photos stay in ``MEDIA_DIR`` and models in
``MODELS_DIR`` on local disk, as before. Set it (``s3://bucket/prefix``) and every
``karakana run`` process, on any host, keeps and reads them in one bucket instead, so the processes
share nothing but PostgreSQL and the object store:

- ``media/<ref>``: the files ``bot.channels.media`` keeps (photos people send, the impact chart,
  statements' PDFs, admins' CSVs), through :class:`bot.storage.media.ObjectMediaStore`, which
  is the same ``MediaStore`` interface the inbound fetchers, the web chat, the outbox's senders
  and the ``/media`` links use.
- ``models/<outcome>/<version>/...`` and ``models/<outcome>/CURRENT``: matching's calibrated
  models, through :class:`bot.storage.models.ObjectModelRegistry` (the pointer object is written
  last, so a reader never sees half a version).

The client is boto3, an optional extra (``pip install 'karakana[s3]'``): botocore alone is about
33 MB of service descriptions that a one-machine workshop never needs. Setting
``OBJECT_STORE_URL`` without it installed stops ``karakana run`` at start with a message naming
the extra (:class:`ObjectStoreUnavailable`). boto3 is synchronous; every call goes through
``asyncio.to_thread`` (:mod:`bot.storage.media`). We chose it over aiobotocore because
aiobotocore pins one exact botocore release (a frequent dependency conflict) while our calls are
few and small: one PUT per photo received or chart drawn, one GET per photo sent, three small
GETs per matching round and a handful of PUTs at the nightly retraining. boto3's clients are
thread-safe and pool their connections (``max_pool_connections``), so a thread per call costs
less than the request itself.
"""

from __future__ import annotations

from bot.storage.objects import (
    ObjectMissing,
    ObjectStore,
    ObjectStoreConfig,
    ObjectStoreError,
    ObjectStoreUnavailable,
)

__all__ = [
    "ObjectMissing",
    "ObjectStore",
    "ObjectStoreConfig",
    "ObjectStoreError",
    "ObjectStoreUnavailable",
]
