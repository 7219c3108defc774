"""Schema discovery as AWS builds it: a discoverer is a managed rule on its bus with an internal target
(`discoverers`, `target`), and a background worker infers schemas from what that target copies (`worker`,
`infer`), so discovery never slows PutEvents."""

from __future__ import annotations

from schemas.discovery.discoverers import TARGET_KIND
from schemas.discovery.target import DiscoveryTarget
from schemas.discovery.worker import DiscoveryWorker

__all__ = ["TARGET_KIND", "DiscoveryTarget", "DiscoveryWorker"]
