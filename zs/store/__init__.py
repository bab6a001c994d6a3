"""The feature store: layout, manifest, resumable writer, readers, verify/info.

See docs/store.md for the layout and how to read a store without zs.
"""

from zs.store.layout import SCHEMA_VERSION
from zs.store.reader import SplitReader
from zs.store.record import ImageRecord
from zs.store.store import Store, create_store, open_store
from zs.store.writer import SplitWriter

__all__ = [
    "SCHEMA_VERSION",
    "ImageRecord",
    "SplitReader",
    "SplitWriter",
    "Store",
    "create_store",
    "open_store",
]
