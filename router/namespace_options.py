"""`--account ACCOUNT` and `--region REGION`: the namespace a `switchboard` command that names resources acts in.

Every resource of the events API lives in one (account, region) namespace (router.namespace). Requests choose theirs
with their credentials; the commands that name buses, archives or replays (`switchboard ingest parked|redrive`,
`switchboard archive list|export|import`, `switchboard replay start|list|describe|cancel`) take it from these two
options, each defaulting to the settings' home namespace (`SWITCHBOARD_ACCOUNT_ID`, `SWITCHBOARD_REGION`), so
without them a command acts exactly where it always did. `--account 111122223333 --region us-west-1` acts on that
account's us-west-1 resources, as a client signing for us-west-1 with access key id 111122223333 would.

(Changing `SWITCHBOARD_ACCOUNT_ID`/`SWITCHBOARD_REGION` for one command instead would be wrong: they define the
*home* namespace, whose resources have bare key-layout names, router.keys; these options never change it.)
"""

from __future__ import annotations

import argparse

from router.namespace import Namespace, valid_account, valid_region
from router.settings import Settings

__all__ = ["chosen", "home", "namespace_options"]


def _account(text: str) -> str:
    if not valid_account(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an account id (12 digits, such as 111122223333)")
    return text


def _region(text: str) -> str:
    if not valid_region(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a region name (such as us-east-1 or eu-west-1)")
    return text


def namespace_options() -> argparse.ArgumentParser:
    """A parent parser (`parents=[...]`) adding `--account` and `--region` to a subcommand."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("namespace (docs/api.md, Accounts and regions)")
    group.add_argument(
        "--account",
        type=_account,
        default=None,
        metavar="ACCOUNT",
        help="act in this account's resources (12 digits; default: SWITCHBOARD_ACCOUNT_ID, the home account)",
    )
    group.add_argument(
        "--region",
        type=_region,
        default=None,
        metavar="REGION",
        help="act in this region's resources (default: SWITCHBOARD_REGION, the home region)",
    )
    return parser


def home(settings: Settings) -> Namespace:
    """The settings' home namespace."""
    return Namespace(settings.account_id, settings.region)


def chosen(args: argparse.Namespace, settings: Settings) -> Namespace:
    """The namespace `--account`/`--region` name; what either leaves out is the home namespace's."""
    base = home(settings)
    account = getattr(args, "account", None) or base.account_id
    region = getattr(args, "region", None) or base.region
    return base if (account, region) == (base.account_id, base.region) else Namespace(account, region)
